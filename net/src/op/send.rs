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
use crate::kept::{Sending, StreamWriteOp};

/// Sends the initialized bytes of `buf` (`MSG_NOSIGNAL`: a closed peer is an EPIPE error, not
/// a signal), copied into the kernel or, if `zero_copy`, not. Not cancelled when dropped: a
/// send happens whole or is reported.
///
/// On a stream it also asks for `MSG_WAITALL`, which io_uring (Linux 5.18 on) honours for
/// sends: where the socket takes only part of the bytes, the kernel waits for room and sends
/// the rest before it completes the op, so a dropped write goes out whole and `write_all`
/// takes one op. Older kernels ignore it and may complete short, which callers handle.
pub(crate) struct Send<B> {
    pub(crate) fd: SharedFd,
    pub(crate) buf: B,
    /// On a stream, where a dropped send reports a partial result (`None`: a datagram).
    pub(crate) sending: Option<Sending>,
    /// `SEND_ZC` instead of `SEND`.
    pub(crate) zero_copy: bool,
}

impl<B: IoBuf> Send<B> {
    /// The bytes one send takes: the kernel's length is a `u32`.
    fn len(&self) -> usize {
        self.buf.bytes_init().min(u32::MAX as usize)
    }
}

impl<B: IoBuf> StreamWriteOp for Send<B> {
    type Buf = B;

    fn start(&mut self, sending: Sending) {
        self.sending = Some(sending);
    }

    fn len(&self) -> usize {
        Send::len(self)
    }

    fn into_buf(self) -> B {
        self.buf
    }
}

// SAFETY: the SQE points into `buf`, stable across moves (IoBuf) and owned by this op until it
// is dropped after its final CQE (for a zero-copy send, the notification); `fd` is kept open
// by this op.
unsafe impl<B: IoBuf> Operation for Send<B> {
    type Output = BufResult<usize, B>;

    fn sqe(&mut self) -> Sqe {
        let fd = self.fd.raw();
        let ptr = self.buf.stable_ptr();
        let len = self.len() as u32;
        let flags = match self.sending {
            Some(_) => libc::MSG_NOSIGNAL | libc::MSG_WAITALL,
            None => libc::MSG_NOSIGNAL,
        };
        if self.zero_copy {
            prep::prep_send_zc(fd, ptr, len, flags, 0)
        } else {
            prep::prep_send(fd, ptr, len, flags)
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
            sending.keep_result(cqe.res(), self.len());
        }
    }

    fn finish_when_dropped(&self) -> bool {
        true
    }
}
