//! `IORING_OP_RECV` into an owned buffer.

use std::io;

use runtime::buf::{BufResult, IoBufMut};
use runtime::op::{Completion, Operation};
use uring_sys::{Sqe, prep};

use crate::fd::SharedFd;
use crate::kept::Receiving;

/// Receives into `buf` (from its start, up to its capacity).
pub(crate) struct Recv<B> {
    pub(crate) fd: SharedFd,
    pub(crate) buf: B,
    /// Where the socket keeps what this receive got if its future is dropped.
    pub(crate) receiving: Receiving,
    /// `MSG_*` flags: `MSG_WAITALL` to fill the whole buffer in one receive.
    pub(crate) flags: i32,
}

// SAFETY: the SQE points into `buf`, whose memory is stable across moves (IoBufMut) and owned
// by this op until it is dropped after the CQE; `fd` is kept open by this op.
unsafe impl<B: IoBufMut> Operation for Recv<B> {
    type Output = BufResult<usize, B>;

    fn sqe(&mut self) -> Sqe {
        let len = self.buf.bytes_total().min(u32::MAX as usize) as u32;
        prep::prep_recv(self.fd.raw(), self.buf.stable_mut_ptr(), len, self.flags)
    }

    fn complete(mut self, result: io::Result<u32>, _: Completion) -> Self::Output {
        let result = result.map(|n| n as usize);
        if let Ok(n) = result {
            // SAFETY: the kernel wrote n bytes from the buffer's start.
            unsafe { self.buf.set_init(n) };
        }
        (result, self.buf)
    }

    fn on_abandoned_cqe(&mut self, cqe: Completion) {
        if cqe.res() > 0 {
            // SAFETY: the kernel wrote `res` bytes from the buffer's start (at most its
            // capacity) and is done with it: this is the final CQE.
            let got = unsafe {
                std::slice::from_raw_parts(self.buf.stable_mut_ptr(), cqe.res() as usize)
            };
            self.receiving.keep(got.to_vec(), None);
        } else {
            self.receiving.keep_end(cqe.res());
        }
    }
}
