//! `IORING_OP_SENDMSG` for datagrams: an owned buffer to an owned address.

use std::io;

use runtime::buf::{BufResult, IoBuf};
use runtime::op::{Completion, Operation};
use socket2::SockAddr;
use uring_sys::{Sqe, prep};

use crate::fd::SharedFd;

/// The msghdr, its iovec and the destination: boxed together so their addresses stay put.
pub(crate) struct MsgParts {
    msg: libc::msghdr,
    iov: libc::iovec,
    addr: SockAddr,
}

/// Sends `buf` as one datagram to `addr`.
pub(crate) struct SendTo<B> {
    pub(crate) fd: SharedFd,
    pub(crate) buf: B,
    pub(crate) parts: Box<MsgParts>,
}

impl<B: IoBuf> SendTo<B> {
    pub(crate) fn new(fd: SharedFd, buf: B, addr: SockAddr) -> Self {
        let msg = libc::msghdr {
            msg_name: std::ptr::null_mut(),
            msg_namelen: 0,
            msg_iov: std::ptr::null_mut(),
            msg_iovlen: 0,
            msg_control: std::ptr::null_mut(),
            msg_controllen: 0,
            msg_flags: 0,
        };
        let iov = libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        };
        SendTo {
            fd,
            buf,
            parts: Box::new(MsgParts { msg, iov, addr }),
        }
    }
}

// SAFETY: the SQE points to `parts.msg` (boxed: stable), whose name and iovec point to
// `parts.addr` and `parts.iov` (same box) and into `buf` (stable, IoBuf); all are owned by this
// op until it is dropped after the CQE. `fd` is kept open by this op.
unsafe impl<B: IoBuf> Operation for SendTo<B> {
    type Output = BufResult<usize, B>;

    fn sqe(&mut self) -> Sqe {
        let p = &mut *self.parts;
        p.iov = libc::iovec {
            iov_base: self.buf.stable_ptr() as *mut libc::c_void,
            iov_len: self.buf.bytes_init(),
        };
        p.msg.msg_name = p.addr.as_ptr() as *mut libc::c_void;
        p.msg.msg_namelen = p.addr.len();
        p.msg.msg_iov = &raw mut p.iov;
        p.msg.msg_iovlen = 1;
        prep::prep_sendmsg(self.fd.raw(), &raw const p.msg, libc::MSG_NOSIGNAL)
    }

    fn complete(self, result: io::Result<u32>, _: Completion) -> Self::Output {
        (result.map(|n| n as usize), self.buf)
    }
}
