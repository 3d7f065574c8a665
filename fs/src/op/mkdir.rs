//! `IORING_OP_MKDIRAT`: `mkdirat(2)`.

use std::ffi::CString;
use std::io;

use runtime::op::{Completion, Operation};
use uring_sys::{Sqe, prep};

/// Creates directory `path` (relative to the current directory) with `mode` (less umask).
pub(crate) struct MkdirAt {
    pub(crate) path: CString,
    pub(crate) mode: u32,
}

// SAFETY: the SQE points to `path`, a CString's heap bytes owned by this op until it is
// dropped after the CQE.
unsafe impl Operation for MkdirAt {
    type Output = io::Result<()>;

    fn sqe(&mut self) -> Sqe {
        prep::prep_mkdirat(libc::AT_FDCWD, self.path.as_ptr(), self.mode)
    }

    fn complete(self, result: io::Result<u32>, _: Completion) -> Self::Output {
        result.map(drop)
    }
}
