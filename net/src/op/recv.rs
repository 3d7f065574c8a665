//! `IORING_OP_RECV` into an owned buffer.

use std::io;

use runtime::buf::{BufResult, IoBufMut};
use runtime::op::{Completion, Operation};
use uring_sys::{Sqe, prep};

use crate::fd::SharedFd;

/// Receives into `buf` (from its start, up to its capacity).
pub(crate) struct Recv<B> {
    pub(crate) fd: SharedFd,
    pub(crate) buf: B,
}

// SAFETY: the SQE points into `buf`, whose memory is stable across moves (IoBufMut) and owned
// by this op until it is dropped after the CQE; `fd` is kept open by this op.
unsafe impl<B: IoBufMut> Operation for Recv<B> {
    type Output = BufResult<usize, B>;

    fn sqe(&mut self) -> Sqe {
        let len = self.buf.bytes_total().min(u32::MAX as usize) as u32;
        prep::prep_recv(self.fd.raw(), self.buf.stable_mut_ptr(), len, 0)
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
