//! `IORING_OP_SYMLINKAT`: `symlinkat(2)`.

use std::ffi::CString;
use std::io;

use runtime::op::{Completion, Operation};
use uring_sys::{Sqe, prep};

/// Creates a symbolic link at `link` (relative to the current directory) pointing to
/// `target` (stored as given).
pub(crate) struct SymlinkAt {
    pub(crate) target: CString,
    pub(crate) link: CString,
}

// SAFETY: the SQE points to `target` and `link`, CStrings' heap bytes owned by this op until
// it is dropped after the CQE.
unsafe impl Operation for SymlinkAt {
    type Output = io::Result<()>;

    fn sqe(&mut self) -> Sqe {
        prep::prep_symlinkat(self.target.as_ptr(), libc::AT_FDCWD, self.link.as_ptr())
    }

    fn complete(self, result: io::Result<u32>, _: Completion) -> Self::Output {
        result.map(drop)
    }
}
