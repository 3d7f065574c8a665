//! `IORING_OP_ACCEPT`: one connection.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

use runtime::op::{Completion, Operation};
use uring_sys::{Sqe, prep};

use crate::fd::SharedFd;
use crate::kept::Backlog;

/// Accepts one connection on a listening socket; the peer address is read later, on demand.
pub(crate) struct Accept {
    pub(crate) listener: SharedFd,
    /// Where the listener keeps a connection accepted for nobody.
    pub(crate) backlog: Backlog,
}

// SAFETY: the SQE names `listener`'s fd, which this op keeps open (SharedFd); the address
// pointers are null, so it points to no memory.
unsafe impl Operation for Accept {
    type Output = io::Result<OwnedFd>;

    fn sqe(&mut self) -> Sqe {
        prep::prep_accept(
            self.listener.raw(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            libc::SOCK_CLOEXEC,
        )
    }

    fn complete(self, result: io::Result<u32>, _: Completion) -> Self::Output {
        // SAFETY: a successful ACCEPT returns a new fd that nobody else owns.
        result.map(|fd| unsafe { OwnedFd::from_raw_fd(fd as i32) })
    }

    fn on_abandoned_cqe(&mut self, cqe: Completion) {
        if cqe.res() >= 0 {
            // SAFETY: the kernel created this fd for an accept nobody waits for any more: it
            // is ours, and goes to the listener's next accept.
            self.backlog
                .keep(unsafe { OwnedFd::from_raw_fd(cqe.res()) });
        }
    }
}
