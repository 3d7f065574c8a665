//! `IORING_OP_READ_FIXED`: `pread` into a registered buffer.

use std::io;

use runtime::buf::{BufResult, IoBufMut};
use runtime::fd::SharedFd;
use runtime::op::{Completion, Operation, RingHandle};
use uring_sys::{Sqe, prep};

use crate::file::FixedIoBuf;

/// Reads at `offset` into a registered buffer, from its start up to its capacity.
pub(crate) struct ReadFixedAt<B> {
    pub(crate) fd: SharedFd,
    pub(crate) buf: B,
    pub(crate) offset: u64,
}

// SAFETY: the SQE points into `buf` (a registered buffer, stable memory per IoBufMut) owned by
// this op until it is dropped after the CQE; the kernel also checks that the range lies inside
// registered buffer `buf_index` (EFAULT otherwise). `fd` keeps the file open.
unsafe impl<B: FixedIoBuf + IoBufMut> Operation for ReadFixedAt<B> {
    type Output = BufResult<usize, B>;

    fn bound_ring(&self) -> Option<&RingHandle> {
        self.fd.ring()
    }

    fn sqe(&mut self) -> Sqe {
        let t = self.fd.target();
        let len = self.buf.bytes_total().min(crate::op::MAX_RW) as u32;
        let index = self.buf.buf_index();
        prep::prep_read_fixed(t.fd, self.buf.stable_mut_ptr(), len, self.offset, index)
            .flags(t.sqe_flags)
    }

    fn complete(mut self, result: io::Result<u32>, _: Completion) -> Self::Output {
        let result = result.map(|n| n as usize);
        if let Ok(n) = result {
            // SAFETY: the kernel wrote n bytes from the buffer's start.
            unsafe { self.buf.set_init(n) };
        }
        (result, self.buf)
    }
}
