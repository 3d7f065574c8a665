//! `IORING_OP_SHUTDOWN`.

use std::io;

use runtime::op::{Completion, Operation};
use uring_sys::{Sqe, prep};

use crate::fd::SharedFd;

/// Shuts down the read and/or write side of a connection.
pub(crate) struct Shutdown {
    pub(crate) fd: SharedFd,
    pub(crate) how: i32,
}

// SAFETY: the SQE names `fd` (kept open by this op) and no memory.
unsafe impl Operation for Shutdown {
    type Output = io::Result<()>;

    fn sqe(&mut self) -> Sqe {
        prep::prep_shutdown(self.fd.raw(), self.how)
    }

    fn complete(self, result: io::Result<u32>, _: Completion) -> Self::Output {
        result.map(drop)
    }
}
