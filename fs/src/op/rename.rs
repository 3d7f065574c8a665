//! `IORING_OP_RENAMEAT`: `renameat2(2)`.

use std::ffi::CString;
use std::io;

use runtime::op::{Completion, Operation};
use uring_sys::{Sqe, prep};

/// Renames `from` to `to` (both relative to the current directory).
pub(crate) struct RenameAt {
    pub(crate) from: CString,
    pub(crate) to: CString,
    pub(crate) flags: u32,
}

// SAFETY: the SQE points to `from` and `to`, CStrings' heap bytes owned by this op until it
// is dropped after the CQE.
unsafe impl Operation for RenameAt {
    type Output = io::Result<()>;

    fn sqe(&mut self) -> Sqe {
        prep::prep_renameat(
            libc::AT_FDCWD,
            self.from.as_ptr(),
            libc::AT_FDCWD,
            self.to.as_ptr(),
            self.flags,
        )
    }

    fn complete(self, result: io::Result<u32>, _: Completion) -> Self::Output {
        result.map(drop)
    }
}
