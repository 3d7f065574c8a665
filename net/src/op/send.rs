//! `IORING_OP_SEND` from an owned buffer.

use std::io;

use runtime::buf::{BufResult, IoBuf};
use runtime::op::{Completion, Operation};
use uring_sys::{Sqe, prep};

use crate::fd::SharedFd;
use crate::kept::Sending;

/// Sends the initialized bytes of `buf` (`MSG_NOSIGNAL`: a closed peer is an EPIPE error, not
/// a signal). Not cancelled when dropped: a send happens whole or is reported.
pub(crate) struct Send<B> {
    pub(crate) fd: SharedFd,
    pub(crate) buf: B,
    /// On a stream, where a dropped send reports a partial result (`None`: a datagram).
    pub(crate) sending: Option<Sending>,
}

// SAFETY: the SQE points into `buf`, stable across moves (IoBuf) and owned by this op until it
// is dropped after the CQE; `fd` is kept open by this op.
unsafe impl<B: IoBuf> Operation for Send<B> {
    type Output = BufResult<usize, B>;

    fn sqe(&mut self) -> Sqe {
        let len = self.buf.bytes_init().min(u32::MAX as usize) as u32;
        prep::prep_send(
            self.fd.raw(),
            self.buf.stable_ptr(),
            len,
            libc::MSG_NOSIGNAL,
        )
    }

    fn complete(self, result: io::Result<u32>, _: Completion) -> Self::Output {
        (result.map(|n| n as usize), self.buf)
    }

    fn on_abandoned_cqe(&mut self, cqe: Completion) {
        if let Some(sending) = &self.sending {
            sending.keep_result(cqe.res, self.buf.bytes_init());
        }
    }

    fn finish_when_dropped(&self) -> bool {
        true
    }
}
