//! [`PolledRing`]: a small ring of its own with `IORING_SETUP_IOPOLL`, which runs any
//! [`Operation`] synchronously: it submits the op's SQE, then polls for its CQE on the
//! calling thread instead of waiting for an interrupt.
//!
//! The cores' rings are not IOPOLL rings: an IOPOLL ring takes only the ops whose completions
//! the kernel can poll for (see `io_uring_setup(2)`), so a core's wake-up read, timeouts and
//! MSG_RING could not run on it. Any other op completes with the kernel's error (EOPNOTSUPP,
//! EINVAL), which the op crate may explain (the fs crate's `IopollRing` does).

use std::io;

use uring_sys::Ring;

use super::operation::Operation;
use super::submit::NO_CQE;

/// A polled ring that runs ops one at a time, synchronously; see the module docs.
#[derive(Debug)]
pub struct PolledRing {
    ring: Ring,
    /// Set when the ring failed with an op possibly in flight: it is not used again.
    broken: bool,
}

impl PolledRing {
    /// A polled ring with `entries` SQ entries.
    ///
    /// # Errors
    /// The ring setup's error (see `uring_sys::SetupError`).
    pub fn new(entries: u32) -> io::Result<PolledRing> {
        Ok(PolledRing {
            ring: Ring::builder(entries).iopoll(true).build()?,
            broken: false,
        })
    }

    /// Runs `op` on this ring: submits its SQE and polls until its CQE, blocking the calling
    /// thread (microseconds where the kernel can poll), then completes it with the result.
    ///
    /// An op bound to a core's ring ([`Operation::bound_ring`]: a fixed file slot, a buffer
    /// group, registered buffers) completes with `InvalidInput` without reaching the kernel:
    /// this ring has none of them. A full SQ, a ring that failed earlier, and a submission
    /// error before the kernel took the SQE complete it with that error too.
    ///
    /// # Errors
    /// Only when the ring failed with the op possibly in flight: the kernel may still use the
    /// op's memory, so the op (with its buffers) is leaked, never dropped, and this ring is
    /// not used again.
    pub fn run<T: Operation>(&mut self, mut op: T) -> io::Result<T::Output> {
        if self.broken {
            let e = io::Error::other(
                "this polled ring failed earlier with an op in flight; make a new one",
            );
            return Ok(op.complete(Err(e), NO_CQE));
        }
        if op.bound_ring().is_some() {
            let e = io::Error::new(
                io::ErrorKind::InvalidInput,
                "this op names a file slot, buffer group or registered buffer of a core's \
                 ring, which a polled ring does not have",
            );
            return Ok(op.complete(Err(e), NO_CQE));
        }
        let sqe = op.sqe().user_data(1);
        // SAFETY: by `Operation`'s contract the SQE points only into memory `op` owns, stable
        // across moves, and names only fds `op` keeps open; `op` stays owned by this function
        // until its CQE is reaped below, and on a ring failure with the op possibly in flight
        // it is leaked instead of dropped. Its SQE names nothing registered with a core's
        // ring (checked above). Nothing else is in this ring's SQ: each call reaps its own CQE.
        if unsafe { self.ring.sq().push(&sqe) }.is_err() {
            let e = io::Error::other("the IOPOLL ring's SQ is full");
            return Ok(op.complete(Err(e), NO_CQE));
        }
        let mut submitted = false;
        loop {
            if let Some(cqe) = self.ring.cq().pop() {
                return Ok(op.complete(cqe.result(), cqe));
            }
            match self.ring.submit_and_wait(1) {
                Ok(n) => submitted |= n > 0,
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::EINTR | libc::EAGAIN | libc::EBUSY)
                    ) => {}
                Err(e) if !submitted && self.ring.sq().len() == 1 => {
                    // Never submitted: replace the ring (the SQE goes with the old one, so it
                    // never reaches the kernel); the op's memory is free.
                    match Ring::builder(2).iopoll(true).build() {
                        Ok(fresh) => self.ring = fresh,
                        Err(_) => self.broken = true,
                    }
                    return Ok(op.complete(Err(e), NO_CQE));
                }
                Err(e) => {
                    self.broken = true;
                    std::mem::forget(op);
                    return Err(e);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Runtime;
    use crate::op::{Completion, RingHandle};

    /// A NOP, bound to a core's ring or not.
    struct Nop(Option<RingHandle>);

    // SAFETY: a NOP's SQE points to no memory and names no fd.
    unsafe impl Operation for Nop {
        type Output = io::Result<u32>;
        fn sqe(&mut self) -> uring_sys::Sqe {
            uring_sys::prep::prep_nop()
        }
        fn complete(self, result: io::Result<u32>, _: Completion) -> Self::Output {
            result
        }
        fn bound_ring(&self) -> Option<&RingHandle> {
            self.0.as_ref()
        }
    }

    #[test]
    fn runs_an_op_and_refuses_one_bound_to_a_core() {
        let mut ring = PolledRing::new(2).unwrap();
        // The kernel may complete a NOP here or refuse it (not pollable): either way it
        // completes, and the ring stays usable.
        let _ = ring.run(Nop(None)).unwrap();
        Runtime::new().unwrap().block_on(async {
            let core = RingHandle::current().unwrap();
            let e = ring.run(Nop(Some(core))).unwrap().unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
        });
        let _ = ring.run(Nop(None)).unwrap();
    }
}
