//! `IORING_OP_STATX`: `statx(2)` on a path or on an open fd (`AT_EMPTY_PATH`).

use std::ffi::CString;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::AsRawFd;

use runtime::fd::SharedFd;
use runtime::op::{Completion, Operation};
use uring_sys::{Sqe, prep};

use crate::metadata::Metadata;

/// Stats `path`, relative to `dir`'s fd (an empty path with `AT_EMPTY_PATH` stats the fd
/// itself) or to the current directory when `dir` is `None`.
pub(crate) struct Statx {
    pub(crate) dir: Option<SharedFd>,
    pub(crate) path: CString,
    pub(crate) flags: i32,
    pub(crate) mask: u32,
    /// Boxed so it stays put while the kernel writes it.
    pub(crate) buf: Box<MaybeUninit<libc::statx>>,
}

impl Statx {
    /// Stats an open file.
    pub(crate) fn fd(fd: SharedFd, mask: u32) -> Statx {
        Statx {
            dir: Some(fd),
            path: CString::default(),
            flags: libc::AT_EMPTY_PATH,
            mask,
            buf: Box::new(MaybeUninit::uninit()),
        }
    }

    /// Stats a path (`AT_SYMLINK_NOFOLLOW` in `flags` stats a link itself).
    pub(crate) fn path(path: CString, flags: i32, mask: u32) -> Statx {
        Statx {
            dir: None,
            path,
            flags,
            mask,
            buf: Box::new(MaybeUninit::uninit()),
        }
    }
}

// SAFETY: the SQE points to `path` (a CString's heap bytes) and `buf` (a Box's heap block),
// both owned by this op and untouched until it is dropped after the CQE; `dir` keeps the fd
// it names open.
unsafe impl Operation for Statx {
    type Output = io::Result<Metadata>;

    fn sqe(&mut self) -> Sqe {
        let dirfd = match &self.dir {
            // STATX takes no fixed file: a process fd (a file opened straight into the
            // fixed table was turned away before building this op).
            Some(fd) => fd.fd().map_or(-1, |fd| fd.as_raw_fd()),
            None => libc::AT_FDCWD,
        };
        prep::prep_statx(
            dirfd,
            self.path.as_ptr(),
            self.flags,
            self.mask,
            self.buf.as_mut_ptr(),
        )
    }

    fn complete(self, result: io::Result<u32>, _: Completion) -> Self::Output {
        result?;
        // SAFETY: a successful statx wrote the whole struct (the kernel copies a complete,
        // zero-filled `struct statx` out, whatever the mask).
        let stx = unsafe { self.buf.assume_init_ref() };
        Ok(Metadata::from_statx(stx))
    }
}
