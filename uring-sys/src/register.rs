//! `io_uring_register(2)` helpers: fixed buffers, fixed files, eventfd, restrictions, io-wq.

use std::ffi::c_void;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::ptr;

use libc::iovec;

use crate::abi::{
    self, io_uring_restriction, io_uring_rsrc_register, io_uring_rsrc_update, io_uring_rsrc_update2,
};
use crate::{Ring, syscall};

/// A fixed-resource table (fixed buffers take `iovec`s, fixed files take fds): the element its
/// registration takes, tied to its family's opcodes so that the helpers below cannot pair one
/// family's opcode with the other's element.
trait Table {
    /// Registers `nr` elements as slots 0.. (5.1).
    const REGISTER: u32;
    /// Registers from an `io_uring_rsrc_register` (5.13); used here for sparse tables.
    const REGISTER2: u32;
    /// Unregisters the whole table.
    const UNREGISTER: u32;
}

impl Table for iovec {
    const REGISTER: u32 = abi::IORING_REGISTER_BUFFERS;
    const REGISTER2: u32 = abi::IORING_REGISTER_BUFFERS2;
    const UNREGISTER: u32 = abi::IORING_UNREGISTER_BUFFERS;
}

impl Table for RawFd {
    const REGISTER: u32 = abi::IORING_REGISTER_FILES;
    const REGISTER2: u32 = abi::IORING_REGISTER_FILES2;
    const UNREGISTER: u32 = abi::IORING_UNREGISTER_FILES;
}

impl Ring {
    /// # Safety
    /// `arg` must point to `nr` entries of what `opcode` takes, valid for the call.
    unsafe fn register_raw(&self, opcode: u32, arg: *const c_void, nr: u32) -> io::Result<u32> {
        // SAFETY: forwarded caller contract.
        unsafe { syscall::register(self.as_raw_fd(), opcode, arg, nr) }
    }

    /// Passes `arg` by pointer, for opcodes that take one struct or int.
    ///
    /// # Safety
    /// `arg` must be what `opcode` takes with `nr`, and only read by it; any memory it points
    /// to must be valid for the call, and for as long as `opcode` keeps using it.
    unsafe fn register_arg<A>(&self, opcode: u32, arg: &A, nr: u32) -> io::Result<u32> {
        // SAFETY: forwarded caller contract; `arg` is a live reference for the call.
        unsafe { self.register_raw(opcode, (arg as *const A).cast(), nr) }
    }

    /// Registers `items` as the table's slots `0..`.
    ///
    /// # Safety
    /// What the items point to must stay valid until the table is unregistered or the ring
    /// is dropped.
    unsafe fn register_table<T: Table>(&self, items: &[T]) -> io::Result<()> {
        // SAFETY: `items` is a valid slice of the elements `T::REGISTER` takes, for the call;
        // the caller keeps what they point to alive.
        unsafe { self.register_raw(T::REGISTER, items.as_ptr().cast(), items.len() as u32) }
            .map(drop)
    }

    /// Reserves `nr` empty slots of the table.
    fn register_sparse<T: Table>(&self, nr: u32) -> io::Result<()> {
        let reg = io_uring_rsrc_register {
            nr,
            flags: abi::IORING_RSRC_REGISTER_SPARSE,
            ..Default::default()
        };
        // SAFETY: `T::REGISTER2` takes one io_uring_rsrc_register of the size passed; with
        // SPARSE it points to no memory.
        unsafe { self.register_arg(T::REGISTER2, &reg, size_of_val(&reg) as u32) }.map(drop)
    }

    /// Unregisters the whole table.
    fn unregister_table<T: Table>(&self) -> io::Result<()> {
        // SAFETY: takes no argument.
        unsafe { self.register_raw(T::UNREGISTER, ptr::null(), 0) }.map(drop)
    }

    /// Registers `iovecs` as fixed buffers 0.. for READ_FIXED/WRITE_FIXED (5.1).
    ///
    /// # Errors
    /// EBUSY if buffers are registered already; ENOMEM/EFAULT for bad memory.
    ///
    /// # Safety
    /// The memory each iovec describes must stay valid until it is unregistered or the ring
    /// is dropped.
    pub unsafe fn register_buffers(&self, iovecs: &[iovec]) -> io::Result<()> {
        // SAFETY: forwarded caller contract: the caller keeps the memory alive.
        unsafe { self.register_table(iovecs) }
    }

    /// Reserves `nr` empty fixed-buffer slots to fill with [`Self::register_buffers_update`]
    /// (5.19).
    ///
    /// # Errors
    /// EINVAL before 5.19.
    pub fn register_buffers_sparse(&self, nr: u32) -> io::Result<()> {
        self.register_sparse::<iovec>(nr)
    }

    /// Replaces fixed buffers from slot `offset` with `iovecs` (5.13).
    ///
    /// # Errors
    /// EINVAL for slots out of range.
    ///
    /// # Safety
    /// As [`Self::register_buffers`]; no in-flight op may use the replaced slots.
    pub unsafe fn register_buffers_update(&self, offset: u32, iovecs: &[iovec]) -> io::Result<()> {
        let update = io_uring_rsrc_update2 {
            offset,
            data: iovecs.as_ptr() as u64,
            nr: iovecs.len() as u32,
            ..Default::default()
        };
        // SAFETY: update points to iovecs, valid for the call; the caller keeps the memory alive.
        unsafe {
            self.register_arg(
                abi::IORING_REGISTER_BUFFERS_UPDATE,
                &update,
                size_of_val(&update) as u32,
            )
        }
        .map(drop)
    }

    /// Unregisters all fixed buffers.
    ///
    /// # Errors
    /// ENXIO when none are registered.
    pub fn unregister_buffers(&self) -> io::Result<()> {
        self.unregister_table::<iovec>()
    }

    /// Registers `fds` as fixed files 0.. (`-1` leaves a slot empty) (5.1).
    ///
    /// # Errors
    /// EBUSY if files are registered already; EBADF for a bad fd.
    pub fn register_files(&self, fds: &[RawFd]) -> io::Result<()> {
        // SAFETY: fds point to no memory; the kernel takes its own references to the files.
        unsafe { self.register_table(fds) }
    }

    /// Reserves `nr` empty fixed-file slots (5.19), for direct opens and accepts.
    ///
    /// # Errors
    /// EINVAL before 5.19.
    pub fn register_files_sparse(&self, nr: u32) -> io::Result<()> {
        self.register_sparse::<RawFd>(nr)
    }

    /// Replaces fixed files from slot `offset` with `fds` (`-1` clears a slot); returns how
    /// many were updated (5.5).
    ///
    /// # Errors
    /// EBADF for a bad fd; EINVAL for slots out of range.
    pub fn register_files_update(&self, offset: u32, fds: &[RawFd]) -> io::Result<u32> {
        let update = io_uring_rsrc_update {
            offset,
            resv: 0,
            data: fds.as_ptr() as u64,
        };
        // SAFETY: update points to fds, valid for the call.
        unsafe { self.register_arg(abi::IORING_REGISTER_FILES_UPDATE, &update, fds.len() as u32) }
    }

    /// Unregisters all fixed files.
    ///
    /// # Errors
    /// ENXIO when none are registered.
    pub fn unregister_files(&self) -> io::Result<()> {
        self.unregister_table::<RawFd>()
    }

    /// Limits the slots the kernel picks for `IORING_FILE_INDEX_ALLOC` to `offset..offset+len`
    /// (6.0).
    ///
    /// # Errors
    /// EINVAL before 6.0 or for a range outside the table.
    pub fn register_file_alloc_range(&self, offset: u32, len: u32) -> io::Result<()> {
        let range = abi::io_uring_file_index_range {
            off: offset,
            len,
            resv: 0,
        };
        // SAFETY: range is valid for the call.
        unsafe { self.register_arg(abi::IORING_REGISTER_FILE_ALLOC_RANGE, &range, 0) }.map(drop)
    }

    /// Signals `eventfd` on every CQE (5.2).
    ///
    /// # Errors
    /// EBUSY if one is registered already.
    pub fn register_eventfd(&self, eventfd: RawFd) -> io::Result<()> {
        // SAFETY: the argument is one int, valid for the call.
        unsafe { self.register_arg(abi::IORING_REGISTER_EVENTFD, &eventfd, 1) }.map(drop)
    }

    /// Signals `eventfd` only for completions that happened asynchronously (5.6).
    ///
    /// # Errors
    /// EBUSY if one is registered already.
    pub fn register_eventfd_async(&self, eventfd: RawFd) -> io::Result<()> {
        // SAFETY: the argument is one int, valid for the call.
        unsafe { self.register_arg(abi::IORING_REGISTER_EVENTFD_ASYNC, &eventfd, 1) }.map(drop)
    }

    /// Unregisters the eventfd.
    ///
    /// # Errors
    /// ENXIO when none is registered.
    pub fn unregister_eventfd(&self) -> io::Result<()> {
        // SAFETY: takes no argument.
        unsafe { self.register_raw(abi::IORING_UNREGISTER_EVENTFD, ptr::null(), 0) }.map(drop)
    }

    /// Limits which opcodes and SQE flags the ring accepts; the ring must have been built
    /// [`disabled`](crate::RingBuilder::disabled) and is enabled afterwards with
    /// [`Ring::enable`] (5.10).
    ///
    /// # Errors
    /// EBADFD if the ring is enabled already; EBUSY if restrictions were set.
    pub fn register_restrictions(&self, restrictions: &[io_uring_restriction]) -> io::Result<()> {
        // SAFETY: restrictions is a valid slice for the call.
        unsafe {
            self.register_raw(
                abi::IORING_REGISTER_RESTRICTIONS,
                restrictions.as_ptr().cast(),
                restrictions.len() as u32,
            )
        }
        .map(drop)
    }

    /// Sets the io-wq worker limits `[bounded, unbounded]` (0 keeps a value); returns the old
    /// ones in `limits` (5.15).
    ///
    /// # Errors
    /// EINVAL before 5.15.
    pub fn register_iowq_max_workers(&self, limits: &mut [u32; 2]) -> io::Result<()> {
        // SAFETY: limits is two u32s, valid and writable for the call.
        unsafe {
            self.register_raw(
                abi::IORING_REGISTER_IOWQ_MAX_WORKERS,
                limits.as_mut_ptr().cast(),
                2,
            )
        }
        .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparse_tables_take_updates_and_unregister() {
        let ring = Ring::new(4).expect("ring");
        let mut buf = [0u8; 64];
        let iov = iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        ring.register_buffers_sparse(4).expect("sparse buffers");
        // SAFETY: `buf` outlives its registration: the table is unregistered below.
        unsafe { ring.register_buffers_update(2, &[iov]) }.expect("buffers update");
        ring.unregister_buffers().expect("unregister buffers");

        let fd = std::io::stdin().as_raw_fd();
        ring.register_files_sparse(4).expect("sparse files");
        assert_eq!(
            ring.register_files_update(1, &[fd, -1])
                .expect("files update"),
            2
        );
        ring.unregister_files().expect("unregister files");
        assert_eq!(
            ring.unregister_files().map_err(|e| e.raw_os_error()),
            Err(Some(libc::ENXIO))
        );
    }
}
