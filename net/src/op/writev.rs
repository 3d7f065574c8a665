//! `IORING_OP_SENDMSG` of several owned buffers (a vectored write on a socket; `MSG_NOSIGNAL`,
//! so a closed peer is an EPIPE error, not a SIGPIPE as with `WRITEV`).

use std::io;

use runtime::buf::{BufResult, IoBuf};
use runtime::op::{Completion, Operation};
use uring_sys::{Sqe, prep};

use crate::fd::SharedFd;
use crate::kept::{Sending, StreamWriteOp};

/// Writes the initialized bytes of every buffer, in order, from byte `skip` of them all on
/// (the rest of a short write), at most `IOV_MAX` buffers per op. Not cancelled when dropped,
/// as [`Send`](super::send::Send).
pub(crate) struct Writev<B> {
    pub(crate) fd: SharedFd,
    pub(crate) bufs: Vec<B>,
    pub(crate) iovecs: Vec<libc::iovec>,
    /// Names `iovecs`; boxed, so its address holds while the op moves.
    msg: Box<libc::msghdr>,
    /// Its turn among the stream's writes; set before it is submitted.
    pub(crate) sending: Option<Sending>,
}

/// The iovecs of `bufs`' initialized bytes from byte `skip` of them all on: the first one
/// that is not skipped whole starts inside it; at most `IOV_MAX`.
fn iovecs<B: IoBuf>(bufs: &[B], mut skip: usize) -> Vec<libc::iovec> {
    bufs.iter()
        .filter_map(|b| {
            let len = b.bytes_init();
            if skip >= len {
                skip -= len;
                return None;
            }
            let from = std::mem::take(&mut skip);
            Some(libc::iovec {
                // Inside `b`'s initialized bytes: `from < len`.
                iov_base: b.stable_ptr().wrapping_add(from) as *mut libc::c_void,
                iov_len: len - from,
            })
        })
        .take(IOV_MAX)
        .collect()
}

/// The most iovecs one `sendmsg` takes (`UIO_MAXIOV`); more is EMSGSIZE.
const IOV_MAX: usize = 1024;

impl<B: IoBuf> Writev<B> {
    pub(crate) fn new(fd: SharedFd, bufs: Vec<B>, skip: usize) -> Self {
        let mut iovecs = iovecs(&bufs, skip);
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
            sending: None,
        }
    }
}

// SAFETY: the SQE points to `msg` (boxed), which points to `iovecs` (a Vec's heap block,
// never resized after `new`), whose entries point into `bufs`' stable memory (IoBuf), each
// within one buffer's initialized bytes (its whole, or the part after `skip`); all are owned
// by this op until it is dropped after the CQE. `fd` is kept open by this op.
unsafe impl<B: IoBuf> Operation for Writev<B> {
    type Output = BufResult<usize, Vec<B>>;

    fn sqe(&mut self) -> Sqe {
        // MSG_WAITALL: the whole write or an error, as for `Send` on a stream.
        prep::prep_sendmsg(
            self.fd.raw(),
            &*self.msg,
            libc::MSG_NOSIGNAL | libc::MSG_WAITALL,
        )
    }

    fn complete(self, result: io::Result<u32>, _: Completion) -> Self::Output {
        (result.map(|n| n as usize), self.bufs)
    }

    fn on_abandoned_cqe(&mut self, cqe: Completion) {
        if let Some(sending) = &self.sending {
            sending.keep_result(cqe.res(), StreamWriteOp::len(self));
        }
    }

    fn finish_when_dropped(&self) -> bool {
        true
    }
}

impl<B: IoBuf> StreamWriteOp for Writev<B> {
    type Buf = Vec<B>;

    fn start(&mut self, sending: Sending) {
        self.sending = Some(sending);
    }

    fn len(&self) -> usize {
        self.iovecs.iter().map(|v| v.iov_len).sum()
    }

    fn into_buf(self) -> Vec<B> {
        self.bufs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (offset into the buffer, length) of each iovec.
    fn spans(bufs: &[Vec<u8>], skip: usize) -> Vec<(usize, usize)> {
        iovecs(bufs, skip)
            .iter()
            .map(|v| {
                let b = bufs
                    .iter()
                    .find(|b| {
                        let start = b.as_ptr() as usize;
                        (start..start + b.len()).contains(&(v.iov_base as usize))
                    })
                    .expect("every iovec points into one of the buffers");
                (v.iov_base as usize - b.as_ptr() as usize, v.iov_len)
            })
            .collect()
    }

    #[test]
    fn iovecs_resume_inside_the_buffer_where_a_short_write_stopped() {
        let bufs = vec![vec![1u8; 3], vec![2u8; 5], vec![3u8; 2]];
        assert_eq!(spans(&bufs, 0), [(0, 3), (0, 5), (0, 2)]);
        assert_eq!(spans(&bufs, 3), [(0, 5), (0, 2)]);
        assert_eq!(spans(&bufs, 4), [(1, 4), (0, 2)]);
        assert_eq!(spans(&bufs, 9), [(1, 1)]);
        assert!(spans(&bufs, 10).is_empty());
    }

    #[test]
    fn iovecs_stop_at_iov_max() {
        let bufs = vec![vec![0u8; 1]; IOV_MAX + 5];
        assert_eq!(iovecs(&bufs, 2).len(), IOV_MAX);
    }
}
