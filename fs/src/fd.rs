//! [`SharedFd`]: a file's handle shared by the [`File`](crate::File) and the ops in flight on
//! it, so the file stays open until every op that names it has its final CQE. The last holder
//! closes it without blocking the core.
//!
//! A handle is a process fd, a slot of the core's fixed file table, or both (an fd that was
//! [registered](crate::File::register)). Ops name the slot when there is one
//! (`IOSQE_FIXED_FILE`), else the fd.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::rc::Rc;

use runtime::files::FixedFile;
use uring_sys::abi;

/// A file handle shared by a file and its in-flight ops (one core: `Rc`).
#[derive(Clone, Debug)]
pub(crate) struct SharedFd(Rc<Handle>);

/// What an op puts in its SQE's fd field, and the SQE flag that says which kind it is.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target {
    pub(crate) fd: RawFd,
    pub(crate) sqe_flags: u8,
}

impl Target {
    /// Whether `fd` is a fixed file slot.
    pub(crate) fn is_fixed(self) -> bool {
        self.sqe_flags & abi::IOSQE_FIXED_FILE != 0
    }
}

/// The parts of a handle; `None` only after they were taken out to close them.
#[derive(Debug)]
pub(crate) struct Handle {
    pub(crate) fd: Option<OwnedFd>,
    pub(crate) fixed: std::cell::OnceCell<FixedFile>,
}

impl SharedFd {
    pub(crate) fn from_fd(fd: OwnedFd) -> SharedFd {
        SharedFd(Rc::new(Handle {
            fd: Some(fd),
            fixed: std::cell::OnceCell::new(),
        }))
    }

    pub(crate) fn from_fixed(fixed: FixedFile) -> SharedFd {
        SharedFd(Rc::new(Handle {
            fd: None,
            fixed: std::cell::OnceCell::from(fixed),
        }))
    }

    /// What SQEs name: the fixed slot if there is one, else the fd.
    pub(crate) fn target(&self) -> Target {
        match (self.0.fixed.get(), &self.0.fd) {
            (Some(fixed), _) => Target {
                fd: fixed.index() as RawFd,
                sqe_flags: abi::IOSQE_FIXED_FILE,
            },
            (None, Some(fd)) => Target {
                fd: fd.as_raw_fd(),
                sqe_flags: 0,
            },
            (None, None) => Target {
                fd: -1,
                sqe_flags: 0,
            },
        }
    }

    /// The process fd, for ops that cannot take a fixed file (statx) and for the blocking
    /// pool; `None` for a file opened straight into the fixed table.
    pub(crate) fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.0.fd.as_ref().map(AsFd::as_fd)
    }

    /// The process fd, or an error saying why there is none.
    pub(crate) fn require_fd(&self, what: &str) -> io::Result<BorrowedFd<'_>> {
        self.fd().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::Unsupported,
                format!(
                    "{what} needs a process fd, and this file was opened straight into the \
                     core's fixed file table (OpenOptions::direct_descriptor): open it \
                     without direct_descriptor for {what}"
                ),
            )
        })
    }

    /// A duplicate of the fd that another thread may use (the blocking pool): it stays valid
    /// even if this file is closed meanwhile.
    pub(crate) fn dup(&self, what: &str) -> io::Result<OwnedFd> {
        self.require_fd(what)?.try_clone_to_owned()
    }

    /// The ring whose fixed file table has the file's slot, if it has one: ops naming the
    /// slot must run there (`Operation::bound_ring`).
    pub(crate) fn ring(&self) -> Option<&runtime::op::RingHandle> {
        self.0.fixed.get().map(FixedFile::ring)
    }

    /// The fixed slot, if the file has one.
    pub(crate) fn fixed_index(&self) -> Option<u32> {
        self.0.fixed.get().map(FixedFile::index)
    }

    /// Registers the fd in the core's fixed file table (once).
    pub(crate) fn register(&self) -> io::Result<u32> {
        if let Some(i) = self.fixed_index() {
            return Ok(i);
        }
        let fd = self.require_fd("File::register")?;
        let fixed = runtime::files::register(fd)?;
        Ok(self.0.fixed.get_or_init(|| fixed).index())
    }

    /// Takes the handle's parts if no op holds it any more.
    pub(crate) fn try_unwrap(self) -> Result<(Option<OwnedFd>, Option<FixedFile>), SharedFd> {
        match Rc::try_unwrap(self.0) {
            Ok(mut handle) => Ok((handle.fd.take(), handle.fixed.take())),
            Err(rc) => Err(SharedFd(rc)),
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // Every op that named this file held this Rc and has completed. The fixed slot (a
        // field) empties itself; the fd closes on the ring, without blocking the core.
        if let Some(fd) = self.fd.take() {
            runtime::op::close_in_background(fd);
        }
    }
}
