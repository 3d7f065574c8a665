//! `IORING_OP_SENDMSG` of several owned buffers (a vectored write on a socket; `MSG_NOSIGNAL`,
//! so a closed peer is an EPIPE error, not a SIGPIPE as with `WRITEV`).

use std::io;

use runtime::buf::{BufResult, IoBuf};
use runtime::op::{Completion, Operation};
use uring_sys::{Sqe, prep};

use crate::fd::SharedFd;
use crate::kept::Sending;

/// Writes the initialized bytes of every buffer, in order. Not cancelled when dropped, as
/// [`Send`](super::send::Send).
pub(crate) struct Writev<B> {
    pub(crate) fd: SharedFd,
    pub(crate) bufs: Vec<B>,
    pub(crate) iovecs: Vec<libc::iovec>,
    /// Names `iovecs`; boxed, so its address holds while the op moves.
    msg: Box<libc::msghdr>,
    pub(crate) sending: Sending,
}

impl<B: IoBuf> Writev<B> {
    pub(crate) fn new(fd: SharedFd, bufs: Vec<B>, sending: Sending) -> Self {
        let mut iovecs: Vec<libc::iovec> = bufs
            .iter()
            .map(|b| libc::iovec {
                iov_base: b.stable_ptr() as *mut libc::c_void,
                iov_len: b.bytes_init(),
            })
            .collect();
        let msg = Box::new(libc::msghdr {
            msg_name: std::ptr::null_mut(),
            msg_namelen: 0,
            msg_iov: iovecs.as_mut_ptr(),
            msg_iovlen: iovecs.len(),
            msg_control: std::ptr::null_mut(),
            msg_controllen: 0,
            msg_flags: 0,
        });
        Writev {
            fd,
            bufs,
            iovecs,
            msg,
            sending,
        }
    }
}

// SAFETY: the SQE points to `msg` (boxed), which points to `iovecs` (a Vec's heap block,
// never resized after `new`), whose entries point into `bufs`' stable memory (IoBuf); all
// are owned by this op until it is dropped after the CQE. `fd` is kept open by this op.
unsafe impl<B: IoBuf> Operation for Writev<B> {
    type Output = BufResult<usize, Vec<B>>;

    fn sqe(&mut self) -> Sqe {
        prep::prep_sendmsg(self.fd.raw(), &*self.msg, libc::MSG_NOSIGNAL)
    }

    fn complete(self, result: io::Result<u32>, _: Completion) -> Self::Output {
        (result.map(|n| n as usize), self.bufs)
    }

    fn on_abandoned_cqe(&mut self, cqe: Completion) {
        let len = self.iovecs.iter().map(|v| v.iov_len).sum();
        self.sending.keep_result(cqe.res(), len);
    }

    fn finish_when_dropped(&self) -> bool {
        true
    }
}
