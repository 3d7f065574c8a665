//! Registered (fixed) files: each core's ring has one fixed file table, and an op names a file
//! in it by its slot with `IOSQE_FIXED_FILE`, which spares the kernel the fd-table lookup and
//! the file reference count of every op.
//!
//! - [`register`] puts an open fd in a slot (the fd stays open and usable as well).
//! - [`reserve`] takes an empty slot for an op that creates a file straight into it (a direct
//!   open or accept: `file_index`), so the file never gets a process fd at all.
//!
//! A [`FixedFile`] empties its slot when dropped, on its own ring wherever it is dropped.
//! The table lives with the core's driver and is created on first use, [`TABLE_SIZE`] slots (fewer where `RLIMIT_NOFILE` is lower), and this module hands
//! out its slots: an op that let the kernel pick a slot (`IORING_FILE_INDEX_ALLOC`) could take
//! one this module lends, so take slots here instead.
//!
//! ```
//! use std::os::fd::AsFd;
//!
//! runtime::Runtime::new()?.block_on(async {
//!     let file = std::fs::File::open("/proc/self/stat")?;
//!     let fixed = runtime::fixed_files::register(file.as_fd())?;
//!     assert!(fixed.index() < runtime::fixed_files::TABLE_SIZE);
//!     Ok::<_, std::io::Error>(())
//! })?;
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use crate::executor::context;
use crate::op::RingHandle;

/// Slots in each core's fixed file table (at most; halved until `RLIMIT_NOFILE` allows it).
pub const TABLE_SIZE: u32 = crate::driver::file_table::TABLE_SIZE;

/// A slot of one core's fixed file table, lent by [`register`] or [`reserve`]; emptied (its
/// file reference dropped) when this is dropped.
///
/// Use [`FixedFile::index`] as the SQE's fd with `IOSQE_FIXED_FILE` (or as `file_index`),
/// and return [`FixedFile::ring`] from the op's
/// [`bound_ring`](crate::op::Operation::bound_ring): a slot number means a file only on the
/// ring that lent it, so an op naming it fails on any other ring instead of reaching
/// another file. It belongs to the core that lent it (`!Send`) and keeps that ring alive.
pub struct FixedFile {
    ring: RingHandle,
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

    /// The ring whose table has the slot.
    pub fn ring(&self) -> &RingHandle {
        &self.ring
    }
}

impl Drop for FixedFile {
    fn drop(&mut self) {
        // On the ring that lent the slot, wherever the drop happens; from inside the driver,
        // once its borrow ends. The slot is free again only once emptied.
        let index = self.index;
        self.ring
            .0
            .with_or_defer(move |d| d.release_file_slot(index));
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
    let updated = slot
        .ring
        .0
        .try_with(|d| d.register_file(slot.index, fd.as_raw_fd()))?;
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
    let driver = context::current_driver()?;
    let index = driver.try_with(|d| d.reserve_file_slot())?;
    Ok(FixedFile {
        ring: RingHandle(driver),
        index,
    })
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
