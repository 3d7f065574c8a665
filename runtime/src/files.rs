//! Registered (fixed) files: each core's ring has one fixed file table, and an op names a file
//! in it by its slot with `IOSQE_FIXED_FILE`, which spares the kernel the fd-table lookup and
//! the file reference count of every op.
//!
//! - [`register`] puts an open fd in a slot (the fd stays open and usable as well).
//! - [`reserve`] takes an empty slot for an op that creates a file straight into it (a direct
//!   open or accept: `file_index`), so the file never gets a process fd at all.
//!
//! A [`FixedFile`] empties its slot when dropped. The table is created on the core's first
//! use, [`TABLE_SIZE`] slots (fewer where `RLIMIT_NOFILE` is lower), and this module hands
//! out its slots: an op that let the kernel pick a slot (`IORING_FILE_INDEX_ALLOC`) could take
//! one this module lends, so take slots here instead.
//!
//! ```
//! use std::os::fd::AsFd;
//!
//! runtime::Runtime::new()?.block_on(async {
//!     let file = std::fs::File::open("/proc/self/stat")?;
//!     let fixed = runtime::files::register(file.as_fd())?;
//!     assert!(fixed.index() < runtime::files::TABLE_SIZE);
//!     Ok::<_, std::io::Error>(())
//! })?;
//! # Ok::<(), std::io::Error>(())
//! ```

use std::cell::{Cell, RefCell};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::rc::{Rc, Weak};

use crate::executor::context;
use crate::executor::core::Core;

/// Slots in each core's fixed file table (at most; halved until `RLIMIT_NOFILE` allows it).
pub const TABLE_SIZE: u32 = 4096;

/// One core's table: which slots this module lent.
struct Table {
    /// The core whose ring has the table; its ring (and table) is gone when this is dead.
    core: Weak<Core>,
    size: u32,
    /// Slots below `next` were lent at least once; those not lent now are in `free`.
    next: Cell<u32>,
    free: RefCell<Vec<u32>>,
    /// Free slots that may still hold a file in the kernel: emptied when the driver could
    /// not be reached (a slot dropped from inside the driver, with an abandoned op).
    stale: RefCell<Vec<u32>>,
}

thread_local! {
    /// The tables of the cores this thread ran (normally one).
    static TABLES: RefCell<Vec<Rc<Table>>> = const { RefCell::new(Vec::new()) };
}

/// A slot of the current core's fixed file table, lent by [`register`] or [`reserve`];
/// emptied (its file reference dropped) when this is dropped.
///
/// Use [`FixedFile::index`] as the SQE's fd with `IOSQE_FIXED_FILE` (or as `file_index`).
/// It belongs to the core that lent it (`!Send`); keep it alive while ops use its slot.
pub struct FixedFile {
    table: Rc<Table>,
    index: u32,
}

impl std::fmt::Debug for FixedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FixedFile")
            .field("index", &self.index)
            .finish()
    }
}

impl FixedFile {
    /// The slot in the fixed file table.
    pub fn index(&self) -> u32 {
        self.index
    }
}

impl Drop for FixedFile {
    fn drop(&mut self) {
        self.table.release(self.index);
    }
}

/// Registers `fd` in the current core's fixed file table (the kernel takes its own file
/// reference: closing `fd` later leaves the slot usable).
///
/// # Errors
/// Outside a runtime; when all [`TABLE_SIZE`] slots are lent; the
/// `io_uring_register(2)` errno (EBADF for a bad fd, EBUSY when this core's table was
/// registered by someone else than this module).
pub fn register(fd: BorrowedFd<'_>) -> io::Result<FixedFile> {
    let slot = reserve()?;
    let updated = context::with_driver(|d| {
        d.ring()
            .register_files_update(slot.index, &[fd.as_raw_fd()])
    })??;
    if updated != 1 {
        return Err(io::Error::other(format!(
            "IORING_REGISTER_FILES_UPDATE updated {updated} slots instead of 1"
        )));
    }
    Ok(slot)
}

/// Takes an empty slot of the current core's fixed file table, for an op that creates a
/// file into it (`file_index` of a direct open or accept).
///
/// # Errors
/// Outside a runtime; when all slots are lent; the `io_uring_register(2)` errno when
/// the table cannot be created (EBUSY when this core's table was registered by someone else
/// than this module).
pub fn reserve() -> io::Result<FixedFile> {
    let table = current_table()?;
    table.flush_stale();
    let reused = table.free.borrow_mut().pop();
    let index = match reused {
        Some(i) => i,
        None if table.next.get() < table.size => {
            let i = table.next.get();
            table.next.set(i + 1);
            i
        }
        None => {
            return Err(io::Error::other(format!(
                "the core's fixed file table is full ({} slots in use): drop FixedFiles \
                 (registered or direct-opened files) that are no longer needed",
                table.size
            )));
        }
    };
    Ok(FixedFile { table, index })
}

impl Table {
    /// Whether `self` is the table of the core running on this thread.
    fn is_current(&self) -> bool {
        match (self.core.upgrade(), context::current()) {
            (Some(mine), Ok(current)) => Rc::ptr_eq(&mine, &current),
            _ => false,
        }
    }

    fn release(&self, index: u32) {
        // The slot may hold a file: empty it now if this core's driver is reachable, or later
        // (before anything is registered again). A dead core took its table with its ring.
        if self.core.strong_count() > 0 {
            let emptied = self.is_current()
                && matches!(
                    context::with_driver(|d| d.ring().register_files_update(index, &[-1])),
                    Ok(Ok(_))
                );
            if !emptied {
                self.stale.borrow_mut().push(index);
            }
        }
        self.free.borrow_mut().push(index);
    }

    /// Empties the stale slots that are still free (a slot lent again since then holds a
    /// new file that must stay).
    fn flush_stale(&self) {
        let stale = std::mem::take(&mut *self.stale.borrow_mut());
        if stale.is_empty() {
            return;
        }
        let free = self.free.borrow();
        let mut left = Vec::new();
        for index in stale {
            if !free.contains(&index) {
                continue;
            }
            let emptied = context::with_driver(|d| d.ring().register_files_update(index, &[-1]));
            if !matches!(emptied, Ok(Ok(_))) {
                left.push(index);
            }
        }
        drop(free);
        self.stale.borrow_mut().extend(left);
    }
}

/// The current core's table, created (in the kernel too) on first use.
fn current_table() -> io::Result<Rc<Table>> {
    let core = context::current()?;
    let existing = TABLES.with(|t| {
        let mut tables = t.borrow_mut();
        tables.retain(|table| table.core.strong_count() > 0);
        tables
            .iter()
            .find(|table| table.core.upgrade().is_some_and(|c| Rc::ptr_eq(&c, &core)))
            .cloned()
    });
    if let Some(table) = existing {
        return Ok(table);
    }
    let size = context::with_driver(|d| create_table(d.ring()))??;
    let table = Rc::new(Table {
        core: Rc::downgrade(&core),
        size,
        next: Cell::new(0),
        free: RefCell::new(Vec::new()),
        stale: RefCell::new(Vec::new()),
    });
    TABLES.with(|t| t.borrow_mut().push(table.clone()));
    Ok(table)
}

/// Registers an empty table: sparse (5.19+), else `-1` fds (5.15); halves the size while the
/// kernel says it exceeds `RLIMIT_NOFILE` (EMFILE).
fn create_table(ring: &uring_sys::Ring) -> io::Result<u32> {
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
                     runtime::files (EBUSY): take slots from runtime::files only",
                ));
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Runtime;

    #[test]
    fn slots_are_reused_after_drop() {
        Runtime::new().unwrap().block_on(async {
            let f = std::fs::File::open("/proc/self/stat").unwrap();
            let a = register(std::os::fd::AsFd::as_fd(&f)).unwrap();
            let b = reserve().unwrap();
            assert_ne!(a.index(), b.index());
            let freed = b.index();
            drop(b);
            assert_eq!(reserve().unwrap().index(), freed);
        });
    }

    #[test]
    fn outside_a_runtime_is_an_error() {
        assert!(reserve().is_err());
    }
}
