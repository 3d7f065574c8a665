//! One io_uring op per file; [`File`](crate::File) and the path functions build on them.
//!
//! Each op owns what its SQE points to (paths as `CString`, buffers, iovecs, the statx
//! buffer) and a [`SharedFd`](runtime::fd::SharedFd) for the file it names, so a dropped
//! future leaves nothing dangling: the runtime keeps the op until its final CQE.

/// The most one read or write moves (`MAX_RW_COUNT`: `INT_MAX` rounded down to a page);
/// larger transfers are split into ops of this size.
pub(crate) const MAX_RW: usize = 0x7fff_f000;
/// The most iovecs one `readv`/`writev` takes (`IOV_MAX`).
pub(crate) const IOV_MAX: usize = 1024;

pub(crate) mod close;
pub(crate) mod fadvise;
pub(crate) mod fallocate;
pub(crate) mod fsync;
pub(crate) mod ftruncate;
pub(crate) mod link;
pub(crate) mod mkdir;
pub(crate) mod open;
pub(crate) mod pipe;
pub(crate) mod read;
pub(crate) mod readv;
pub(crate) mod rename;
pub(crate) mod splice;
pub(crate) mod statx;
pub(crate) mod symlink;
pub(crate) mod unlink;
pub(crate) mod write;
pub(crate) mod writev;
