//! `IORING_OP_URING_CMD` with `SOCKET_URING_OP_GETSOCKOPT` (6.7): reads `SO_PEERCRED`.

use std::io;

use runtime::op::{Completion, Operation};
use uring_sys::{Sqe, abi};

use crate::fd::SharedFd;

/// `SOCKET_URING_OP_GETSOCKOPT` from `include/uapi/linux/io_uring.h`.
const SOCKET_URING_OP_GETSOCKOPT: u32 = 2;

/// Reads the peer's credentials of a Unix socket.
pub(crate) struct PeerCred {
    pub(crate) fd: SharedFd,
    pub(crate) cred: Box<libc::ucred>,
}

// SAFETY: the SQE points to `cred` (boxed: stable across moves, owned by this op until it is
// dropped after the CQE) with its exact size as optlen; `fd` is kept open by this op.
unsafe impl Operation for PeerCred {
    type Output = io::Result<libc::ucred>;

    fn sqe(&mut self) -> Sqe {
        let mut sqe = Sqe::new(abi::IORING_OP_URING_CMD, self.fd.raw());
        sqe.set_cmd_op(SOCKET_URING_OP_GETSOCKOPT)
            .set_level(libc::SOL_SOCKET as u32)
            .set_optname(libc::SO_PEERCRED as u32)
            .set_optlen(size_of::<libc::ucred>() as u32)
            .set_optval(&raw mut *self.cred as u64);
        sqe
    }

    fn complete(self, result: io::Result<u32>, _: Completion) -> Self::Output {
        result.map(|_| *self.cred)
    }
}
