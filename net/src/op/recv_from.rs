//! `IORING_OP_RECVMSG` for datagrams: the payload into an owned buffer, the sender's address
//! into an owned sockaddr.

use std::io;

use runtime::buf::{BufResult, IoBufMut};
use runtime::op::{Completion, Operation};
use socket2::SockAddr;
use uring_sys::{Sqe, prep};

use crate::fd::SharedFd;

/// The msghdr, its iovec and the address buffer: boxed together so their addresses stay put.
pub(crate) struct MsgParts {
    msg: libc::msghdr,
    iov: libc::iovec,
    addr: libc::sockaddr_storage,
}

/// Receives one datagram into `buf`.
pub(crate) struct RecvFrom<B> {
    pub(crate) fd: SharedFd,
    pub(crate) buf: B,
    pub(crate) parts: Box<MsgParts>,
}

impl<B: IoBufMut> RecvFrom<B> {
    pub(crate) fn new(fd: SharedFd, buf: B) -> Self {
        let parts = Box::new(MsgParts {
            // SAFETY-free zero init: msghdr, iovec and sockaddr_storage are plain C data for
            // which all-zero is valid; filled in sqe().
            msg: zeroed_msghdr(),
            iov: libc::iovec {
                iov_base: std::ptr::null_mut(),
                iov_len: 0,
            },
            addr: zeroed_storage(),
        });
        RecvFrom { fd, buf, parts }
    }
}

fn zeroed_msghdr() -> libc::msghdr {
    libc::msghdr {
        msg_name: std::ptr::null_mut(),
        msg_namelen: 0,
        msg_iov: std::ptr::null_mut(),
        msg_iovlen: 0,
        msg_control: std::ptr::null_mut(),
        msg_controllen: 0,
        msg_flags: 0,
    }
}

fn zeroed_storage() -> libc::sockaddr_storage {
    // sockaddr_storage has private padding fields; SockAddr gives a zeroed one safely.
    let empty = SockAddr::from(std::net::SocketAddr::from(([0u8, 0, 0, 0], 0)));
    let mut storage = empty.as_storage();
    storage.ss_family = 0;
    storage
}

// SAFETY: the SQE points to `parts.msg` (boxed: stable), whose iovec and name point to
// `parts.iov` and `parts.addr` (same box) and into `buf` (stable, IoBufMut); all are owned by
// this op until it is dropped after the CQE. `fd` is kept open by this op.
unsafe impl<B: IoBufMut> Operation for RecvFrom<B> {
    type Output = BufResult<(usize, SockAddr), B>;

    fn sqe(&mut self) -> Sqe {
        let p = &mut *self.parts;
        p.iov = libc::iovec {
            iov_base: self.buf.stable_mut_ptr().cast(),
            iov_len: self.buf.bytes_total(),
        };
        p.msg.msg_name = (&raw mut p.addr).cast();
        p.msg.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        p.msg.msg_iov = &raw mut p.iov;
        p.msg.msg_iovlen = 1;
        prep::prep_recvmsg(self.fd.raw(), &raw mut p.msg, 0)
    }

    fn complete(mut self, result: io::Result<u32>, _: Completion) -> Self::Output {
        let result = result.map(|n| {
            // SAFETY: the kernel wrote n bytes from the buffer's start.
            unsafe { self.buf.set_init(n as usize) };
            // SAFETY: the kernel filled `addr` and set `msg_namelen` to its length.
            let addr = unsafe { SockAddr::new(self.parts.addr, self.parts.msg.msg_namelen) };
            (n as usize, addr)
        });
        (result, self.buf)
    }
}
