//! One io_uring op per file; [`File`](crate::File) and the path functions build on them.
//!
//! Each op owns what its SQE points to (paths as `CString`, buffers, iovecs, the statx
//! buffer) and a [`SharedFd`](runtime::fd::SharedFd) for the file it names, so a dropped
//! future leaves nothing dangling: the runtime keeps the op until its final CQE.

use runtime::fd::{SharedFd, Target};
use runtime::op::RingHandle;

/// The most one read or write moves (`MAX_RW_COUNT`: `INT_MAX` rounded down to a page);
/// larger transfers are split into ops of this size.
pub(crate) const MAX_RW: usize = 0x7fff_f000;
/// The most iovecs one `readv`/`writev` takes (`IOV_MAX`).
pub(crate) const IOV_MAX: usize = 1024;

/// How a read or write names its file: a [`SharedFd`] (its fixed slot where it has one), or
/// [`ByFd`]. Both hold the file's `SharedFd`, which keeps the file open while the op lives.
pub(crate) trait FileRef: 'static {
    /// What the SQE names.
    fn target(&self) -> Target;
    /// The ring the op must run on ([`Operation::bound_ring`](runtime::op::Operation)).
    fn ring(&self) -> Option<&RingHandle>;
}

impl FileRef for SharedFd {
    fn target(&self) -> Target {
        SharedFd::target(self)
    }

    fn ring(&self) -> Option<&RingHandle> {
        SharedFd::ring(self)
    }
}

/// A file named by its process fd even where it also has a fixed slot: for a ring without
/// the core's fixed file table (the polled ring of `iopoll::IopollRing`).
pub(crate) struct ByFd(SharedFd);

impl ByFd {
    /// `None` for a file with no process fd (opened into the fixed file table).
    pub(crate) fn new(fd: SharedFd) -> Option<ByFd> {
        fd.fd().is_some().then_some(ByFd(fd))
    }
}

impl FileRef for ByFd {
    fn target(&self) -> Target {
        Target {
            fd: self.0.raw(),
            sqe_flags: 0,
        }
    }

    fn ring(&self) -> Option<&RingHandle> {
        None
    }
}

pub(crate) mod close;
pub(crate) mod fadvise;
pub(crate) mod fallocate;
pub(crate) mod fsync;
pub(crate) mod ftruncate;
pub(crate) mod mkdir;
pub(crate) mod open;
pub(crate) mod pipe;
pub(crate) mod rw;
pub(crate) mod splice;
pub(crate) mod statx;
pub(crate) mod symlink;
pub(crate) mod two_paths;
pub(crate) mod unlink;
