//! `IORING_OP_FALLOCATE`: `fallocate(2)`.

use std::io;

use runtime::fd::SharedFd;
use runtime::op::{Completion, Operation, RingHandle};
use uring_sys::{Sqe, prep};

/// Allocates (or, by `mode`, punches or zeroes) `len` bytes at `offset`.
pub(crate) struct Fallocate {
    pub(crate) fd: SharedFd,
    pub(crate) mode: i32,
    pub(crate) offset: u64,
    pub(crate) len: u64,
}

// SAFETY: a FALLOCATE SQE points to no memory (its "addr" field carries the length);
// `fd` keeps the file open.
unsafe impl Operation for Fallocate {
    type Output = io::Result<()>;

    fn bound_ring(&self) -> Option<&RingHandle> {
        self.fd.ring()
    }

    fn sqe(&mut self) -> Sqe {
        let t = self.fd.target();
        prep::prep_fallocate(t.fd, self.mode, self.offset, self.len).flags(t.sqe_flags)
    }

    fn complete(self, result: io::Result<u32>, _: Completion) -> Self::Output {
        result.map(drop)
    }
}
