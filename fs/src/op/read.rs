//! `IORING_OP_READ` (or `READ_FIXED` for a registered buffer): `pread` into part of an owned
//! buffer.

use std::io;

use runtime::buf::{BufResult, IoBufMut};
use runtime::fd::SharedFd;
use runtime::op::{Completion, Operation, RingHandle};
use uring_sys::{Sqe, prep};

use crate::op::FileRef;

/// Reads up to `len` bytes at file offset `offset` into `buf[start..]`.
pub(crate) struct ReadAt<B, F = SharedFd> {
    pub(crate) fd: F,
    pub(crate) buf: B,
    /// Where in `buf` the bytes go; `start + len <= buf.bytes_total()`.
    pub(crate) start: usize,
    pub(crate) len: u32,
    pub(crate) offset: u64,
    /// The registered buffer holding `buf` (a `FixedIoBuf`): then `READ_FIXED`.
    pub(crate) fixed: Option<u16>,
}

// SAFETY: the SQE points to `buf[start..start + len]`, inside `buf`'s capacity (the caller
// keeps `start + len <= bytes_total`), memory that is stable across moves (IoBufMut) and owned
// by this op until it is dropped after the CQE (with `fixed`, the kernel also checks that the
// range lies inside that registered buffer); `fd` keeps the file open (a `FileRef` holds
// its `SharedFd`).
unsafe impl<B: IoBufMut, F: FileRef> Operation for ReadAt<B, F> {
    type Output = BufResult<usize, B>;

    fn bound_ring(&self) -> Option<&RingHandle> {
        self.fd.ring()
    }

    fn sqe(&mut self) -> Sqe {
        debug_assert!(self.start + self.len as usize <= self.buf.bytes_total());
        let t = self.fd.target();
        let ptr = self.buf.stable_mut_ptr().wrapping_add(self.start);
        match self.fixed {
            Some(index) => prep::prep_read_fixed(t.fd, ptr, self.len, self.offset, index),
            None => prep::prep_read(t.fd, ptr, self.len, self.offset),
        }
        .flags(t.sqe_flags)
    }

    fn complete(mut self, result: io::Result<u32>, _: Completion) -> Self::Output {
        let result = result.map(|n| n as usize);
        if let Ok(n) = result {
            // SAFETY: the bytes before `start` were initialized by earlier reads (the
            // caller's contract) and the kernel wrote the n bytes after.
            unsafe { self.buf.set_init(self.start + n) };
        }
        (result, self.buf)
    }
}
