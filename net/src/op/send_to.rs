//! `IORING_OP_SENDMSG` for datagrams: an owned buffer to an owned address.

use std::io;

use runtime::buf::{BufResult, IoBuf};
use runtime::op::{Completion, Operation};
use socket2::SockAddr;
use uring_sys::{Sqe, prep};

use crate::fd::SharedFd;
use crate::op::MsgParts;
use crate::op::recycle::Recycled;

/// Sends `buf` as one datagram to `addr`.
pub(crate) struct SendTo<B> {
    pub(crate) fd: SharedFd,
    pub(crate) buf: B,
    pub(crate) parts: Recycled<MsgParts<SockAddr>>,
}

impl<B: IoBuf> SendTo<B> {
    pub(crate) fn new(fd: SharedFd, buf: B, addr: SockAddr) -> Self {
        SendTo {
            fd,
            buf,
            parts: MsgParts::new(addr),
        }
    }
}

// SAFETY: the SQE points to the msghdr in `parts` (boxed: stable; back to the thread's free
// list only when this op is dropped, after its CQE), whose name and iovec point
// to the destination address and the iovec (same box) and into `buf` (stable, IoBuf); all are
// owned by this op until it is dropped after the CQE. `fd` is kept open by this op.
unsafe impl<B: IoBuf> Operation for SendTo<B> {
    type Output = BufResult<usize, B>;

    fn sqe(&mut self) -> Sqe {
        let msg = self.parts.prepare(
            self.buf.stable_ptr() as *mut libc::c_void,
            self.buf.bytes_init(),
        );
        prep::prep_sendmsg(self.fd.raw(), msg, libc::MSG_NOSIGNAL)
    }

    fn complete(self, result: io::Result<u32>, _: Completion) -> Self::Output {
        (result.map(|n| n as usize), self.buf)
    }
}
