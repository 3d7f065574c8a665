//! `IORING_OP_OPENAT`: open a path, as a process fd or straight into a fixed file slot.

use std::ffi::CString;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

use runtime::fixed_files::FixedFile;
use runtime::op::{Completion, Operation, RingHandle};
use uring_sys::{Sqe, prep};

/// Opens `path` (relative to the current directory) with `flags` and `mode`; into `slot`
/// when one is given (a direct descriptor, 5.15+), else as a new fd.
pub(crate) struct OpenAt {
    pub(crate) path: CString,
    pub(crate) flags: i32,
    pub(crate) mode: u32,
    pub(crate) slot: Option<FixedFile>,
}

/// What an open gives: a process fd, or the fixed slot now holding the file.
pub(crate) enum Opened {
    Fd(OwnedFd),
    Fixed(FixedFile),
}

// SAFETY: the SQE points to `path`, a CString whose heap bytes this op owns and never
// mutates until it is dropped after the CQE; AT_FDCWD needs nothing open, and the fixed slot
// (if any) is held by `slot`.
unsafe impl Operation for OpenAt {
    type Output = io::Result<Opened>;

    fn bound_ring(&self) -> Option<&RingHandle> {
        self.slot.as_ref().map(FixedFile::ring)
    }

    fn sqe(&mut self) -> Sqe {
        match &self.slot {
            Some(slot) => prep::prep_openat_direct(
                libc::AT_FDCWD,
                self.path.as_ptr(),
                self.flags,
                self.mode,
                slot.index(),
            ),
            None => prep::prep_openat(libc::AT_FDCWD, self.path.as_ptr(), self.flags, self.mode),
        }
    }

    fn complete(self, result: io::Result<u32>, _: Completion) -> Self::Output {
        let res = result?;
        Ok(match self.slot {
            Some(slot) => Opened::Fixed(slot),
            // SAFETY: a successful OPENAT without file_index returns a new fd that nobody
            // else owns.
            None => Opened::Fd(unsafe { OwnedFd::from_raw_fd(res as i32) }),
        })
    }

    fn on_abandoned_cqe(&mut self, cqe: Completion) {
        if cqe.res() >= 0 && self.slot.is_none() {
            // SAFETY: the kernel opened this fd for an op nobody waits for: ours to close.
            drop(unsafe { OwnedFd::from_raw_fd(cqe.res()) });
        }
        // A direct open filled `slot`, which empties itself when this op is dropped.
    }
}
