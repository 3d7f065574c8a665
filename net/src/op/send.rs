//! `IORING_OP_SEND` and `IORING_OP_SEND_ZC` from an owned buffer.
//!
//! A zero-copy send: the kernel posts the result (with `F_MORE`), then a notification
//! (`F_NOTIF`) once it no longer reads the buffer; the op ends, and the buffer comes back, only
//! with the notification.

use std::io;

use runtime::buf::{BufResult, IoBuf};
use runtime::op::{Completion, Operation};
use uring_sys::{Sqe, prep};

use crate::fd::SharedFd;
use crate::kept::Sending;

/// Sends the initialized bytes of `buf` (`MSG_NOSIGNAL`: a closed peer is an EPIPE error, not
/// a signal), copied into the kernel or, if `zero_copy`, not. Not cancelled when dropped: a
/// send happens whole or is reported.
pub(crate) struct Send<B> {
    pub(crate) fd: SharedFd,
    pub(crate) buf: B,
    /// On a stream, where a dropped send reports a partial result (`None`: a datagram).
    pub(crate) sending: Option<Sending>,
    /// `SEND_ZC` instead of `SEND`.
    pub(crate) zero_copy: bool,
}

// SAFETY: the SQE points into `buf`, stable across moves (IoBuf) and owned by this op until it
// is dropped after its final CQE (for a zero-copy send, the notification); `fd` is kept open
// by this op.
unsafe impl<B: IoBuf> Operation for Send<B> {
    type Output = BufResult<usize, B>;

    fn sqe(&mut self) -> Sqe {
        let fd = self.fd.raw();
        let ptr = self.buf.stable_ptr();
        let len = self.buf.bytes_init().min(u32::MAX as usize) as u32;
        if self.zero_copy {
            prep::prep_send_zc(fd, ptr, len, libc::MSG_NOSIGNAL, 0)
        } else {
            prep::prep_send(fd, ptr, len, libc::MSG_NOSIGNAL)
        }
    }

    fn complete(self, result: io::Result<u32>, _: Completion) -> Self::Output {
        (result.map(|n| n as usize), self.buf)
    }

    fn on_abandoned_cqe(&mut self, cqe: Completion) {
        // The first CQE has the result; a zero-copy send's notification (F_NOTIF) after it has
        // none (a plain send posts no notification).
        if cqe.notif() {
            return;
        }
        if let Some(sending) = &self.sending {
            sending.keep_result(cqe.res(), self.buf.bytes_init());
        }
    }

    fn finish_when_dropped(&self) -> bool {
        true
    }
}
