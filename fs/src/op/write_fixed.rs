//! `IORING_OP_WRITE_FIXED`: `pwrite` from a registered buffer.

use std::io;

use runtime::buf::BufResult;
use runtime::fd::SharedFd;
use runtime::op::{Completion, Operation, RingHandle};
use uring_sys::{Sqe, prep};

use crate::file::FixedIoBuf;

/// Writes the initialized bytes of a registered buffer at `offset`.
pub(crate) struct WriteFixedAt<B> {
    pub(crate) fd: SharedFd,
    pub(crate) buf: B,
    pub(crate) offset: u64,
}

// SAFETY: the SQE points to initialized bytes of `buf` (a registered buffer, stable memory
// per IoBuf) owned by this op until it is dropped after the CQE; the kernel also checks the
// range against registered buffer `buf_index`. `fd` keeps the file open.
unsafe impl<B: FixedIoBuf> Operation for WriteFixedAt<B> {
    type Output = BufResult<usize, B>;

    fn bound_ring(&self) -> Option<&RingHandle> {
        self.fd.ring()
    }

    fn sqe(&mut self) -> Sqe {
        let t = self.fd.target();
        let len = self.buf.bytes_init().min(crate::op::MAX_RW) as u32;
        let index = self.buf.buf_index();
        prep::prep_write_fixed(t.fd, self.buf.stable_ptr(), len, self.offset, index)
            .flags(t.sqe_flags)
    }

    fn complete(self, result: io::Result<u32>, _: Completion) -> Self::Output {
        (result.map(|n| n as usize), self.buf)
    }
}
