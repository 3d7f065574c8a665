//! `IORING_OP_READV`: `preadv` into several owned buffers.

use std::io;

use runtime::buf::{BufResult, IoBufMut};
use runtime::fd::SharedFd;
use runtime::op::{Completion, Operation, RingHandle};
use uring_sys::{Sqe, prep};

/// Reads at `offset` into `bufs` in turn, each from its start up to its capacity.
pub(crate) struct ReadvAt<B> {
    pub(crate) fd: SharedFd,
    pub(crate) bufs: Vec<B>,
    /// Built in `sqe()` from `bufs`; the kernel reads it while the op is in flight.
    pub(crate) iovecs: Vec<libc::iovec>,
    pub(crate) offset: u64,
}

// SAFETY: the SQE points to `iovecs`, a Vec this op owns (its heap block does not move and is
// not touched after `sqe()`), whose entries point into `bufs`' buffers: stable memory
// (IoBufMut) owned by this op until it is dropped after the CQE; `fd` keeps the file open.
unsafe impl<B: IoBufMut> Operation for ReadvAt<B> {
    type Output = BufResult<usize, Vec<B>>;

    fn bound_ring(&self) -> Option<&RingHandle> {
        self.fd.ring()
    }

    fn sqe(&mut self) -> Sqe {
        self.iovecs = self
            .bufs
            .iter_mut()
            .map(|b| libc::iovec {
                iov_base: b.stable_mut_ptr().cast(),
                iov_len: b.bytes_total(),
            })
            .collect();
        let t = self.fd.target();
        let nr = self.iovecs.len() as u32;
        prep::prep_readv(t.fd, self.iovecs.as_ptr(), nr, self.offset).flags(t.sqe_flags)
    }

    fn complete(mut self, result: io::Result<u32>, _: Completion) -> Self::Output {
        let result = result.map(|n| n as usize);
        if let Ok(n) = result {
            let mut left = n;
            for b in &mut self.bufs {
                let here = left.min(b.bytes_total());
                // SAFETY: the kernel filled the buffers in order: this one's first `here`
                // bytes are written.
                unsafe { b.set_init(here) };
                left -= here;
            }
        }
        (result, self.bufs)
    }
}
