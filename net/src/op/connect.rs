//! `IORING_OP_CONNECT`.

use std::io;

use runtime::op::{Completion, Operation};
use socket2::SockAddr;
use uring_sys::{Sqe, prep};

use crate::fd::SharedFd;

/// Connects a socket to `addr`.
pub(crate) struct Connect {
    pub(crate) fd: SharedFd,
    pub(crate) addr: Box<SockAddr>,
}

// SAFETY: the SQE points to `addr`, boxed so it does not move with the op, and names `fd`,
// kept open by this op; both live until the op is dropped after its CQE.
unsafe impl Operation for Connect {
    type Output = io::Result<()>;

    fn sqe(&mut self) -> Sqe {
        prep::prep_connect(self.fd.raw(), self.addr.as_ptr(), self.addr.len())
    }

    fn complete(self, result: io::Result<u32>, _: Completion) -> Self::Output {
        result.map(drop)
    }
}
