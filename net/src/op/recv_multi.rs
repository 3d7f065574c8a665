//! `IORING_OP_RECV` with `IORING_RECV_MULTISHOT` on the core's provided-buffer pool: one SQE,
//! a CQE per arrival, each naming the buffer the kernel filled.

use std::io;

use runtime::buf::{BufPool, ProvidedBuf};
use runtime::op::{Completion, MultishotOperation, RingHandle};
use uring_sys::{Sqe, prep};

use crate::fd::SharedFd;
use crate::kept::Receiving;

/// Receives into buffers of `pool` until the peer closes, an error, or ENOBUFS (the ring ran
/// dry: the stream re-arms once a buffer goes into it, `BufPool::poll_refilled`).
pub(crate) struct RecvMulti {
    pub(crate) fd: SharedFd,
    pub(crate) pool: BufPool,
    /// Where the socket keeps what arrives after the stream is dropped.
    pub(crate) receiving: Receiving,
}

// SAFETY: the SQE names `fd` (kept open by this op) and buffer group `pool.group()`, whose
// memory this op keeps alive by holding `pool` until its final CQE; it points to no other
// memory. It selects buffers only on the pool's own ring (`bound_ring`).
unsafe impl MultishotOperation for RecvMulti {
    /// A filled buffer, or `None` at end of stream (the peer closed its side).
    type Item = io::Result<Option<ProvidedBuf>>;

    fn sqe(&mut self) -> Sqe {
        prep::prep_recv_multishot(self.fd.raw(), self.pool.group(), 0)
    }

    // SAFETY (of the take/recycle calls below): each `bid` comes from a CQE of this op, which
    // selects from `pool`'s group on `pool`'s own ring, and each CQE is seen once, by exactly
    // one of `next` and `on_abandoned_cqe`: the kernel handed the buffer over once.
    fn next(&mut self, result: io::Result<u32>, cqe: Completion) -> Self::Item {
        let bid = cqe.buffer_id();
        match (result, bid) {
            (Ok(0), Some(bid)) => {
                // SAFETY: see above.
                unsafe { self.pool.recycle(bid) };
                Ok(None)
            }
            // SAFETY: see above.
            (Ok(n), Some(bid)) => Ok(Some(unsafe { self.pool.take(bid, n as usize) })),
            // End of stream: no buffer was used.
            (Ok(_), None) => Ok(None),
            (Err(e), bid) => {
                if let Some(bid) = bid {
                    // SAFETY: see above.
                    unsafe { self.pool.recycle(bid) };
                }
                Err(e)
            }
        }
    }

    fn on_abandoned_cqe(&mut self, cqe: Completion) {
        match cqe.buffer_id() {
            Some(bid) if cqe.res() > 0 => {
                // SAFETY: see above.
                let buf = unsafe { self.pool.take(bid, cqe.res() as usize) };
                // The bytes go to the socket's next receive; the buffer back to the ring.
                self.receiving.keep(buf.to_vec(), None);
            }
            Some(bid) => {
                // SAFETY: see above.
                unsafe { self.pool.recycle(bid) };
                self.receiving.keep_end(cqe.res());
            }
            None => self.receiving.keep_end(cqe.res()),
        }
    }

    fn bound_ring(&self) -> Option<&RingHandle> {
        Some(self.pool.ring())
    }
}
