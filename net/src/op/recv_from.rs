//! `IORING_OP_RECVMSG` for datagrams: the payload into an owned buffer, the sender's address
//! into an owned sockaddr.

use std::io;

use runtime::buf::{BufResult, IoBufMut};
use runtime::op::{Completion, Operation};
use socket2::SockAddr;
use uring_sys::{Sqe, prep};

use crate::fd::SharedFd;
use crate::kept::Receiving;
use crate::op::recycle::Recycled;
use crate::op::{MsgParts, zeroed_storage};

/// Receives one datagram into `buf`.
pub(crate) struct RecvFrom<B> {
    pub(crate) fd: SharedFd,
    pub(crate) buf: B,
    pub(crate) parts: Recycled<MsgParts<libc::sockaddr_storage>>,
    /// Where the socket keeps the datagram if this receive's future is dropped.
    pub(crate) receiving: Receiving,
}

impl<B: IoBufMut> RecvFrom<B> {
    pub(crate) fn new(fd: SharedFd, buf: B, receiving: Receiving) -> Self {
        RecvFrom {
            fd,
            buf,
            parts: MsgParts::new(zeroed_storage()),
            receiving,
        }
    }

    /// The sender's address, once the kernel wrote it.
    fn sender(&self) -> SockAddr {
        // SAFETY: after a successful RECVMSG the kernel filled the address storage and set
        // the msghdr's name length to the length of the address it wrote.
        unsafe { SockAddr::new(*self.parts.addr(), self.parts.name_len()) }
    }
}

// SAFETY: the SQE points to the msghdr in `parts` (boxed: stable; back to the thread's free
// list only when this op is dropped, after its CQE), whose iovec and name point
// to the iovec and the address storage (same box) and into `buf` (stable, IoBufMut); all are
// owned by this op until it is dropped after the CQE. `fd` is kept open by this op.
unsafe impl<B: IoBufMut> Operation for RecvFrom<B> {
    type Output = BufResult<(usize, SockAddr), B>;

    fn sqe(&mut self) -> Sqe {
        let msg = self
            .parts
            .prepare(self.buf.stable_mut_ptr().cast(), self.buf.bytes_total());
        prep::prep_recvmsg(self.fd.raw(), msg, 0)
    }

    fn complete(mut self, result: io::Result<u32>, _: Completion) -> Self::Output {
        let result = result.map(|n| {
            // SAFETY: the kernel wrote n bytes from the buffer's start.
            unsafe { self.buf.set_init(n as usize) };
            (n as usize, self.sender())
        });
        (result, self.buf)
    }

    fn on_abandoned_cqe(&mut self, cqe: Completion) {
        if cqe.res() >= 0 {
            // SAFETY: the kernel wrote `res` bytes from the buffer's start (at most its
            // capacity) and is done with it: this is the final CQE.
            let got = unsafe {
                std::slice::from_raw_parts(self.buf.stable_mut_ptr(), cqe.res() as usize)
            };
            self.receiving.keep(got.to_vec(), Some(self.sender()));
        } else {
            self.receiving.keep_end(cqe.res());
        }
    }
}
