//! `IORING_OP_WRITEV`: `pwritev` from several owned buffers.

use std::io;

use runtime::buf::{BufResult, IoBuf};
use runtime::fd::SharedFd;
use runtime::op::{Completion, Operation, RingHandle};
use uring_sys::{Sqe, prep};

/// Writes the initialized bytes of `bufs`, in turn, at `offset`.
pub(crate) struct WritevAt<B> {
    pub(crate) fd: SharedFd,
    pub(crate) bufs: Vec<B>,
    /// Built in `sqe()` from `bufs`; the kernel reads it while the op is in flight.
    pub(crate) iovecs: Vec<libc::iovec>,
    pub(crate) offset: u64,
}

// SAFETY: the SQE points to `iovecs`, a Vec this op owns (its heap block does not move and is
// not touched after `sqe()`), whose entries point to initialized bytes of `bufs`' buffers:
// stable memory (IoBuf) owned by this op until it is dropped after the CQE; `fd` keeps the
// file open.
unsafe impl<B: IoBuf> Operation for WritevAt<B> {
    type Output = BufResult<usize, Vec<B>>;

    fn bound_ring(&self) -> Option<&RingHandle> {
        self.fd.ring()
    }

    fn sqe(&mut self) -> Sqe {
        self.iovecs = self
            .bufs
            .iter()
            .map(|b| libc::iovec {
                iov_base: b.stable_ptr().cast_mut().cast(),
                iov_len: b.bytes_init(),
            })
            .collect();
        let t = self.fd.target();
        let nr = self.iovecs.len() as u32;
        prep::prep_writev(t.fd, self.iovecs.as_ptr(), nr, self.offset).flags(t.sqe_flags)
    }

    fn complete(self, result: io::Result<u32>, _: Completion) -> Self::Output {
        (result.map(|n| n as usize), self.bufs)
    }
}
