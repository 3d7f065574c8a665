//! `IORING_OP_SPLICE`: `splice(2)` between a file and a pipe, without a user-space copy.

use std::io;

use runtime::fd::SharedFd;
use runtime::op::{Completion, Operation, RingHandle};
use uring_sys::{Sqe, abi, prep};

/// Moves up to `len` bytes from `fd_in` (at `off_in`, or its position when -1) to `fd_out`
/// (at `off_out`, or -1); one of the two must be a pipe.
pub(crate) struct Splice {
    pub(crate) fd_in: SharedFd,
    pub(crate) off_in: i64,
    pub(crate) fd_out: SharedFd,
    pub(crate) off_out: i64,
    pub(crate) len: u32,
}

// SAFETY: a SPLICE SQE points to no memory; `fd_in` and `fd_out` keep both files open.
unsafe impl Operation for Splice {
    type Output = io::Result<usize>;

    // One end is always a pipe of ours (a plain fd): at most one side names a fixed slot.
    fn bound_ring(&self) -> Option<&RingHandle> {
        self.fd_out.ring().or_else(|| self.fd_in.ring())
    }

    fn sqe(&mut self) -> Sqe {
        let (i, o) = (self.fd_in.target(), self.fd_out.target());
        // A fixed fd_in is flagged in splice_flags; a fixed fd_out by IOSQE_FIXED_FILE.
        let flags = if i.is_fixed() {
            abi::SPLICE_F_FD_IN_FIXED
        } else {
            0
        };
        prep::prep_splice(i.fd, self.off_in, o.fd, self.off_out, self.len, flags).flags(o.sqe_flags)
    }

    fn complete(self, result: io::Result<u32>, _: Completion) -> Self::Output {
        result.map(|n| n as usize)
    }
}
