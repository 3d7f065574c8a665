//! `IORING_OP_RECVMSG` for datagrams: the payload into an owned buffer, the sender's address
//! into an owned sockaddr.

use std::io;

use runtime::buf::{BufResult, IoBufMut};
use runtime::op::{Completion, Operation};
use socket2::SockAddr;
use uring_sys::{Sqe, prep};

use crate::fd::SharedFd;
use crate::op::MsgParts;

/// Receives one datagram into `buf`.
pub(crate) struct RecvFrom<B> {
    pub(crate) fd: SharedFd,
    pub(crate) buf: B,
    pub(crate) parts: Box<MsgParts<libc::sockaddr_storage>>,
}

impl<B: IoBufMut> RecvFrom<B> {
    pub(crate) fn new(fd: SharedFd, buf: B) -> Self {
        RecvFrom {
            fd,
            buf,
            parts: MsgParts::new(zeroed_storage()),
        }
    }
}

fn zeroed_storage() -> libc::sockaddr_storage {
    // sockaddr_storage has private padding fields; SockAddr gives a zeroed one safely.
    let empty = SockAddr::from(std::net::SocketAddr::from(([0u8, 0, 0, 0], 0)));
    let mut storage = empty.as_storage();
    storage.ss_family = 0;
    storage
}

// SAFETY: the SQE points to the msghdr in `parts` (boxed: stable), whose iovec and name point
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
            // SAFETY: the kernel filled the address storage and set the msghdr's name length
            // to the length of the address it wrote.
            let addr = unsafe { SockAddr::new(*self.parts.addr(), self.parts.name_len()) };
            (n as usize, addr)
        });
        (result, self.buf)
    }
}
