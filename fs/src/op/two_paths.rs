//! The ops on two paths, both relative to the current directory: `IORING_OP_RENAMEAT`
//! (`renameat2(2)`) and `IORING_OP_LINKAT` (`linkat(2)`, a hard link).

use std::ffi::{CString, c_char};
use std::io;
use std::os::fd::RawFd;

use runtime::op::{Completion, Operation};
use uring_sys::{Sqe, abi, prep};

/// What a two-path op does with its paths.
///
/// # Safety
/// `prep` builds an SQE that points to no memory but the two paths it is given.
pub(crate) unsafe trait TwoPathKind: 'static {
    /// The op's opcode, for the probe.
    const OPCODE: u8;

    /// The SQE for `from` (relative to `from_dir`) and `to` (relative to `to_dir`).
    fn prep(&self, from_dir: RawFd, from: *const c_char, to_dir: RawFd, to: *const c_char) -> Sqe;
}

/// Renames `from` to `to`.
pub(crate) struct Rename {
    pub(crate) flags: u32,
}

// SAFETY: `prep_renameat` points only to the two paths given.
unsafe impl TwoPathKind for Rename {
    const OPCODE: u8 = abi::IORING_OP_RENAMEAT;

    fn prep(&self, from_dir: RawFd, from: *const c_char, to_dir: RawFd, to: *const c_char) -> Sqe {
        prep::prep_renameat(from_dir, from, to_dir, to, self.flags)
    }
}

/// Makes `to` a new name for the file `from`.
pub(crate) struct Link {
    pub(crate) flags: i32,
}

// SAFETY: `prep_linkat` points only to the two paths given.
unsafe impl TwoPathKind for Link {
    const OPCODE: u8 = abi::IORING_OP_LINKAT;

    fn prep(&self, from_dir: RawFd, from: *const c_char, to_dir: RawFd, to: *const c_char) -> Sqe {
        prep::prep_linkat(from_dir, from, to_dir, to, self.flags)
    }
}

/// The op `kind` on `from` and `to` (both relative to the current directory).
pub(crate) struct TwoPathsAt<K> {
    pub(crate) from: CString,
    pub(crate) to: CString,
    pub(crate) kind: K,
}

// SAFETY: the SQE points to `from` and `to` (`TwoPathKind`'s contract), CStrings' heap bytes
// owned by this op until it is dropped after the CQE.
unsafe impl<K: TwoPathKind> Operation for TwoPathsAt<K> {
    type Output = io::Result<()>;

    fn sqe(&mut self) -> Sqe {
        let (from, to) = (self.from.as_ptr(), self.to.as_ptr());
        self.kind.prep(libc::AT_FDCWD, from, libc::AT_FDCWD, to)
    }

    fn complete(self, result: io::Result<u32>, _: Completion) -> Self::Output {
        result.map(drop)
    }
}
