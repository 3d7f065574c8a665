//! `IORING_OP_UNLINKAT`: remove a file, or (with `AT_REMOVEDIR`) an empty directory.

use std::ffi::CString;
use std::io;

use runtime::op::{Completion, Operation};
use uring_sys::{Sqe, prep};

/// Removes `path` (relative to the current directory).
pub(crate) struct UnlinkAt {
    pub(crate) path: CString,
    pub(crate) flags: i32,
}

// SAFETY: the SQE points to `path`, a CString's heap bytes owned by this op until it is
// dropped after the CQE.
unsafe impl Operation for UnlinkAt {
    type Output = io::Result<()>;

    fn sqe(&mut self) -> Sqe {
        prep::prep_unlinkat(libc::AT_FDCWD, self.path.as_ptr(), self.flags)
    }

    fn complete(self, result: io::Result<u32>, _: Completion) -> Self::Output {
        result.map(drop)
    }
}
