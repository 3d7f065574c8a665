//! The slots of a ring's fixed file table: which are lent, which are free. The table lives
//! with its driver, so a slot number always names a file of the ring that lent it.

use std::io;

use uring_sys::Ring;

/// Slots in each ring's fixed file table (at most; halved until `RLIMIT_NOFILE` allows it).
pub(crate) const TABLE_SIZE: u32 = 4096;

/// One ring's fixed file table, created in the kernel on first use.
#[derive(Debug, Default)]
pub(crate) struct FileTable {
    /// The registered size, once the kernel has the table.
    size: Option<u32>,
    /// Slots below `next` were lent at least once; those not lent now are in `free`.
    next: u32,
    free: Vec<u32>,
}

impl FileTable {
    /// Takes an empty slot, creating the table first if needed (`create(TABLE_SIZE)`
    /// returns the size it registered).
    pub(crate) fn reserve(
        &mut self,
        create: impl FnOnce(u32) -> io::Result<u32>,
    ) -> io::Result<u32> {
        let size = match self.size {
            Some(size) => size,
            None => {
                let size = create(TABLE_SIZE)?;
                self.size = Some(size);
                size
            }
        };
        if let Some(i) = self.free.pop() {
            return Ok(i);
        }
        if self.next < size {
            self.next += 1;
            return Ok(self.next - 1);
        }
        Err(io::Error::other(format!(
            "the core's fixed file table is full ({size} slots in use): drop FixedFiles \
             (registered or direct-opened files) that are no longer needed"
        )))
    }

    /// Empties slot `index` (dropping the kernel's file reference) and frees it. A slot the
    /// kernel would not empty stays lent, so it is never handed out holding a stale file.
    pub(crate) fn release(&mut self, index: u32, empty: impl FnOnce(u32) -> io::Result<()>) {
        match empty(index) {
            Ok(()) => self.free.push(index),
            Err(e) => tracing::debug!(index, error = %e, "could not empty a fixed file slot"),
        }
    }
}

/// Registers an empty table: sparse (5.19+), else `-1` fds (5.15); halves the size while the
/// kernel says it exceeds `RLIMIT_NOFILE` (EMFILE).
pub(crate) fn create_table(ring: &Ring) -> io::Result<u32> {
    let mut size = TABLE_SIZE;
    loop {
        let result = match ring.register_files_sparse(size) {
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                ring.register_files(&vec![-1; size as usize])
            }
            other => other,
        };
        match result {
            Ok(()) => return Ok(size),
            Err(e) if e.raw_os_error() == Some(libc::EMFILE) && size > 16 => size /= 2,
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                return Err(io::Error::new(
                    e.kind(),
                    "this core's ring already has a fixed file table registered outside \
                     runtime::fixed_files (EBUSY): take slots from runtime::fixed_files only",
                ));
            }
            Err(e) => return Err(e),
        }
    }
}
