//! `IORING_OP_WRITE` (or `WRITE_FIXED` for a registered buffer): `pwrite` from part of an
//! owned buffer.

use std::io;

use runtime::buf::{BufResult, IoBuf};
use runtime::fd::SharedFd;
use runtime::op::{Completion, Operation, RingHandle};
use uring_sys::{Sqe, prep};

use crate::op::FileRef;

/// Writes `buf[start..start + len]` at file offset `offset`.
pub(crate) struct WriteAt<B, F = SharedFd> {
    pub(crate) fd: F,
    pub(crate) buf: B,
    /// Where in `buf` the bytes come from; `start + len <= buf.bytes_init()`.
    pub(crate) start: usize,
    pub(crate) len: u32,
    pub(crate) offset: u64,
    /// The registered buffer holding `buf` (a `FixedIoBuf`): then `WRITE_FIXED`.
    pub(crate) fixed: Option<u16>,
}

// SAFETY: the SQE points to `buf[start..start + len]`, initialized bytes of `buf` (the caller
// keeps `start + len <= bytes_init`), memory that is stable across moves (IoBuf) and owned by
// this op until it is dropped after the CQE (with `fixed`, the kernel also checks that the
// range lies inside that registered buffer); `fd` keeps the file open (a `FileRef` holds
// its `SharedFd`).
unsafe impl<B: IoBuf, F: FileRef> Operation for WriteAt<B, F> {
    type Output = BufResult<usize, B>;

    fn bound_ring(&self) -> Option<&RingHandle> {
        self.fd.ring()
    }

    fn sqe(&mut self) -> Sqe {
        debug_assert!(self.start + self.len as usize <= self.buf.bytes_init());
        let t = self.fd.target();
        let ptr = self.buf.stable_ptr().wrapping_add(self.start);
        match self.fixed {
            Some(index) => prep::prep_write_fixed(t.fd, ptr, self.len, self.offset, index),
            None => prep::prep_write(t.fd, ptr, self.len, self.offset),
        }
        .flags(t.sqe_flags)
    }

    fn complete(self, result: io::Result<u32>, _: Completion) -> Self::Output {
        (result.map(|n| n as usize), self.buf)
    }
}
