//! `IORING_OP_ACCEPT` with `IORING_ACCEPT_MULTISHOT`: one SQE, a CQE per connection.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

use runtime::op::{Completion, MultishotOperation};
use uring_sys::{Sqe, prep};

use crate::fd::SharedFd;
use crate::kept::Backlog;

/// Accepts connections until cancelled or ended by the kernel (then re-armed by `Incoming`).
pub(crate) struct AcceptMulti {
    pub(crate) listener: SharedFd,
    /// Where the listener keeps a connection accepted for nobody.
    pub(crate) backlog: Backlog,
}

// SAFETY: the SQE names `listener`'s fd, kept open by this op (SharedFd), and no memory.
unsafe impl MultishotOperation for AcceptMulti {
    type Item = io::Result<OwnedFd>;

    fn sqe(&mut self) -> Sqe {
        prep::prep_accept_multishot(self.listener.raw(), libc::SOCK_CLOEXEC)
    }

    fn next(&mut self, result: io::Result<u32>, _: Completion) -> Self::Item {
        // SAFETY: each successful CQE carries a new fd that nobody else owns.
        result.map(|fd| unsafe { OwnedFd::from_raw_fd(fd as i32) })
    }

    fn on_abandoned_cqe(&mut self, cqe: Completion) {
        if cqe.res() >= 0 {
            // SAFETY: the kernel created this fd for an accept nobody waits for any more: it
            // is ours, and goes to the listener's next accept.
            self.backlog
                .keep(unsafe { OwnedFd::from_raw_fd(cqe.res()) }, None);
        }
    }
}
