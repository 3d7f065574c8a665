//! `IORING_OP_SEND_ZC`: zero-copy send. The kernel posts the result (with `F_MORE`), then a
//! notification (`F_NOTIF`) once it no longer reads the buffer; the op ends, and the buffer
//! comes back, only with the notification.

use std::io;

use runtime::buf::{BufResult, IoBuf};
use runtime::op::{Completion, Operation};
use uring_sys::{Sqe, prep};

use crate::fd::SharedFd;
use crate::kept::Sending;

/// Sends `buf` without copying it into the kernel. Not cancelled when dropped, as
/// [`Send`](super::send::Send).
pub(crate) struct SendZc<B> {
    pub(crate) fd: SharedFd,
    pub(crate) buf: B,
    pub(crate) sending: Sending,
}

// SAFETY: the SQE points into `buf`, stable across moves (IoBuf) and owned by this op until it
// is dropped after its final CQE, the notification; `fd` is kept open by this op.
unsafe impl<B: IoBuf> Operation for SendZc<B> {
    type Output = BufResult<usize, B>;

    fn sqe(&mut self) -> Sqe {
        let len = self.buf.bytes_init().min(u32::MAX as usize) as u32;
        prep::prep_send_zc(
            self.fd.raw(),
            self.buf.stable_ptr(),
            len,
            libc::MSG_NOSIGNAL,
            0,
        )
    }

    fn complete(self, result: io::Result<u32>, _: Completion) -> Self::Output {
        (result.map(|n| n as usize), self.buf)
    }

    fn on_abandoned_cqe(&mut self, cqe: Completion) {
        // The first CQE has the result; the notification (F_NOTIF) after it has none.
        if cqe.flags & uring_sys::abi::IORING_CQE_F_NOTIF == 0 {
            self.sending.keep_result(cqe.res, self.buf.bytes_init());
        }
    }

    fn finish_when_dropped(&self) -> bool {
        true
    }
}
