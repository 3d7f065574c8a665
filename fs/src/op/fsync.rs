//! `IORING_OP_FSYNC`: `fsync`, or `fdatasync` with `IORING_FSYNC_DATASYNC`.

use std::io;

use runtime::fd::SharedFd;
use runtime::op::{Completion, Operation, RingHandle};
use uring_sys::{Sqe, prep};

/// Flushes the file's data (and metadata unless `flags` has `IORING_FSYNC_DATASYNC`).
pub(crate) struct Fsync {
    pub(crate) fd: SharedFd,
    pub(crate) flags: u32,
}

// SAFETY: an FSYNC SQE points to no memory; `fd` keeps the file open.
unsafe impl Operation for Fsync {
    type Output = io::Result<()>;

    fn bound_ring(&self) -> Option<&RingHandle> {
        self.fd.ring()
    }

    fn sqe(&mut self) -> Sqe {
        let t = self.fd.target();
        prep::prep_fsync(t.fd, self.flags).flags(t.sqe_flags)
    }

    fn complete(self, result: io::Result<u32>, _: Completion) -> Self::Output {
        result.map(drop)
    }
}
