//! `IORING_OP_PIPE`: `pipe2(2)` (6.16+), for splicing between files.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

use runtime::op::{Completion, Operation};
use uring_sys::{Sqe, prep};

/// Creates a pipe; yields (read end, write end).
pub(crate) struct Pipe {
    /// Boxed so it stays put while the kernel writes the two fds.
    pub(crate) fds: Box<[i32; 2]>,
}

// SAFETY: the SQE points to `fds`, a Box's heap block owned by this op until it is dropped
// after the CQE.
unsafe impl Operation for Pipe {
    type Output = io::Result<(OwnedFd, OwnedFd)>;

    fn sqe(&mut self) -> Sqe {
        prep::prep_pipe(self.fds.as_mut_ptr(), libc::O_CLOEXEC as u32)
    }

    fn complete(self, result: io::Result<u32>, _: Completion) -> Self::Output {
        result?;
        // SAFETY: a successful PIPE wrote two new fds that nobody else owns.
        Ok(unsafe {
            (
                OwnedFd::from_raw_fd(self.fds[0]),
                OwnedFd::from_raw_fd(self.fds[1]),
            )
        })
    }

    fn on_abandoned_cqe(&mut self, cqe: Completion) {
        if cqe.res() >= 0 {
            // SAFETY: the kernel created these fds for an op nobody waits for: ours to close.
            unsafe {
                drop(OwnedFd::from_raw_fd(self.fds[0]));
                drop(OwnedFd::from_raw_fd(self.fds[1]));
            }
        }
    }
}
