//! `IORING_OP_FTRUNCATE`: `ftruncate(2)` (6.9+; older kernels use the blocking pool).

use std::io;

use runtime::fd::SharedFd;
use runtime::op::{Completion, Operation, RingHandle};
use uring_sys::{Sqe, prep};

/// Sets the file's length to `len`.
pub(crate) struct Ftruncate {
    pub(crate) fd: SharedFd,
    pub(crate) len: u64,
}

// SAFETY: an FTRUNCATE SQE points to no memory; `fd` keeps the file open.
unsafe impl Operation for Ftruncate {
    type Output = io::Result<()>;

    fn bound_ring(&self) -> Option<&RingHandle> {
        self.fd.ring()
    }

    fn sqe(&mut self) -> Sqe {
        let t = self.fd.target();
        prep::prep_ftruncate(t.fd, self.len).flags(t.sqe_flags)
    }

    fn complete(self, result: io::Result<u32>, _: Completion) -> Self::Output {
        result.map(drop)
    }
}
