//! `IORING_OP_FADVISE`: `posix_fadvise(2)`.

use std::io;

use runtime::fd::SharedFd;
use runtime::op::{Completion, Operation, RingHandle};
use uring_sys::{Sqe, prep};

/// Gives the kernel `advice` (`POSIX_FADV_*`) for `len` bytes at `offset` (0: to the end).
pub(crate) struct Fadvise {
    pub(crate) fd: SharedFd,
    pub(crate) offset: u64,
    pub(crate) len: u32,
    pub(crate) advice: i32,
}

// SAFETY: a FADVISE SQE points to no memory; `fd` keeps the file open.
unsafe impl Operation for Fadvise {
    type Output = io::Result<()>;

    fn bound_ring(&self) -> Option<&RingHandle> {
        self.fd.ring()
    }

    fn sqe(&mut self) -> Sqe {
        let t = self.fd.target();
        prep::prep_fadvise(t.fd, self.offset, self.len, self.advice).flags(t.sqe_flags)
    }

    fn complete(self, result: io::Result<u32>, _: Completion) -> Self::Output {
        result.map(drop)
    }
}
