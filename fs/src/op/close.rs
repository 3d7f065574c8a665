//! `IORING_OP_CLOSE`: close a file and report the close's error.

use std::io;
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd};

use runtime::fixed_files::FixedFile;
use runtime::op::{Completion, Operation, RingHandle};
use uring_sys::{Sqe, prep};

/// What to close: a process fd, or a fixed file slot.
pub(crate) enum Closing {
    Fd(OwnedFd),
    Fixed(FixedFile),
}

/// Closes one fd or fixed slot.
pub(crate) struct Close {
    pub(crate) target: Option<Closing>,
}

/// close(2), with its error: for an fd CLOSE would refuse (an io_uring instance; see
/// [`runtime::fd::is_anon_inode`]).
pub(crate) fn close_now(fd: OwnedFd) -> io::Result<()> {
    // SAFETY: `fd` is ours and given up here: closed exactly once.
    match unsafe { libc::close(fd.into_raw_fd()) } {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

impl Close {
    /// The kernel has the fd now (it closed it, successfully or not): forget it unclosed.
    fn release(&mut self) {
        if let Some(Closing::Fd(fd)) = self.target.take() {
            let _ = fd.into_raw_fd();
        }
    }
}

// SAFETY: a CLOSE SQE points to no memory; the fd it names is owned by `target` until the
// CQE (then released without a second close), and the fixed slot is held by `target`.
unsafe impl Operation for Close {
    type Output = io::Result<()>;

    fn bound_ring(&self) -> Option<&RingHandle> {
        match &self.target {
            Some(Closing::Fixed(slot)) => Some(slot.ring()),
            _ => None,
        }
    }

    fn sqe(&mut self) -> Sqe {
        match &self.target {
            Some(Closing::Fd(fd)) => prep::prep_close(fd.as_raw_fd()),
            Some(Closing::Fixed(slot)) => prep::prep_close_direct(slot.index()),
            None => unreachable!("a close is submitted once, with its target"),
        }
    }

    fn complete(mut self, result: io::Result<u32>, cqe: Completion) -> Self::Output {
        if cqe.res() == -libc::ECANCELED {
            // Cancelled before it ran: the fd is still open and ours; close it off the core.
            if let Some(Closing::Fd(fd)) = self.target.take() {
                runtime::op::close_in_background(fd);
            }
            return result.map(drop);
        }
        if result.is_err() && cqe.res() == 0 {
            // Never submitted (no CQE): the fd is still ours; close it off the core.
            if let Some(Closing::Fd(fd)) = self.target.take() {
                runtime::op::close_in_background(fd);
            }
            return result.map(drop);
        }
        // close(2) releases the fd even when it reports an error.
        self.release();
        result.map(drop)
    }

    fn on_abandoned_cqe(&mut self, cqe: Completion) {
        if cqe.res() == -libc::ECANCELED {
            // Never ran: `target` drops with the op and closes the fd with close(2).
            return;
        }
        self.release();
    }

    // A dropped close still closes (once): cancelling it could only leave the fd open.
    fn finish_when_dropped(&self) -> bool {
        true
    }
}
