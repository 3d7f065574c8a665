//! `IORING_OP_LINKAT`: `linkat(2)`, a hard link.

use std::ffi::CString;
use std::io;

use runtime::op::{Completion, Operation};
use uring_sys::{Sqe, prep};

/// Makes `to` a new name for the file `from` (both relative to the current directory).
pub(crate) struct LinkAt {
    pub(crate) from: CString,
    pub(crate) to: CString,
    pub(crate) flags: i32,
}

// SAFETY: the SQE points to `from` and `to`, CStrings' heap bytes owned by this op until it
// is dropped after the CQE.
unsafe impl Operation for LinkAt {
    type Output = io::Result<()>;

    fn sqe(&mut self) -> Sqe {
        prep::prep_linkat(
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
