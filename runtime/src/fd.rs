//! [`SharedFd`]: an fd shared by its owner (a socket, a file) and the ops in flight on it, so
//! it stays open until every op that names it has its final CQE. The last holder closes it
//! without blocking the core ([`close_in_background`]).
//!
//! This is the building block for op crates (`net`, `fs`, yours): an [`Operation`] that names
//! an fd holds a clone of its `SharedFd`, which makes "every fd in the SQE stays open as long
//! as the op" (the trait's contract) true by construction.
//!
//! A handle is a process fd, a slot of the core's fixed file table ([`FixedFile`]), or both
//! (an fd that was [registered](SharedFd::register)). Ops name the slot when there is one
//! (`IOSQE_FIXED_FILE`, see [`SharedFd::target`]), else the fd; an op naming the slot returns
//! [`SharedFd::ring`] from its [`bound_ring`](crate::op::Operation::bound_ring).
//!
//! [`Operation`]: crate::op::Operation
//! [`close_in_background`]: crate::op::close_in_background

use std::cell::OnceCell;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::rc::Rc;

use uring_sys::abi;

use crate::fixed_files::FixedFile;
use crate::op::RingHandle;

/// An fd shared by its owner and its in-flight ops (one core: `Rc`); see the module docs.
#[derive(Clone, Debug)]
pub struct SharedFd(Rc<Handle>);

/// What an op puts in its SQE's fd field, and the SQE flag that says which kind it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// The fd, or the fixed slot's index when `sqe_flags` has `IOSQE_FIXED_FILE`.
    pub fd: RawFd,
    /// `IOSQE_FIXED_FILE` for a fixed slot, else 0: add it to the SQE's flags.
    pub sqe_flags: u8,
}

impl Target {
    /// Whether `fd` is a fixed file slot.
    pub fn is_fixed(self) -> bool {
        self.sqe_flags & abi::IOSQE_FIXED_FILE != 0
    }
}

/// The parts of a handle; `None` only after they were taken out.
#[derive(Debug)]
struct Handle {
    fd: Option<OwnedFd>,
    fixed: OnceCell<FixedFile>,
}

impl SharedFd {
    /// A handle for a process fd.
    pub fn new(fd: OwnedFd) -> SharedFd {
        SharedFd(Rc::new(Handle {
            fd: Some(fd),
            fixed: OnceCell::new(),
        }))
    }

    /// A handle for a fixed file slot with no process fd (a direct descriptor: opened or
    /// accepted straight into the table).
    pub fn from_fixed(fixed: FixedFile) -> SharedFd {
        SharedFd(Rc::new(Handle {
            fd: None,
            fixed: OnceCell::from(fixed),
        }))
    }

    /// The raw process fd, for SQEs of ops that never name a fixed slot; -1 if there is none.
    pub fn raw(&self) -> RawFd {
        self.0.fd.as_ref().map_or(-1, AsRawFd::as_raw_fd)
    }

    /// What SQEs name: the fixed slot if there is one, else the fd.
    pub fn target(&self) -> Target {
        match self.0.fixed.get() {
            Some(fixed) => Target {
                fd: fixed.index() as RawFd,
                sqe_flags: abi::IOSQE_FIXED_FILE,
            },
            None => Target {
                fd: self.raw(),
                sqe_flags: 0,
            },
        }
    }

    /// The process fd, for ops that cannot take a fixed file (statx) and for the blocking
    /// pool; `None` for a direct descriptor.
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.0.fd.as_ref().map(AsFd::as_fd)
    }

    /// The process fd, or an `Unsupported` error saying that `what` needs one.
    ///
    /// # Errors
    /// For a direct descriptor.
    pub fn require_fd(&self, what: &str) -> io::Result<BorrowedFd<'_>> {
        self.fd().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::Unsupported,
                format!(
                    "{what} needs a process fd, and this one was opened straight into the \
                     core's fixed file table (a direct descriptor): open it without the \
                     direct descriptor option for {what}"
                ),
            )
        })
    }

    /// A duplicate of the process fd that another thread may use (the blocking pool): it
    /// stays valid even if this handle is closed meanwhile.
    ///
    /// # Errors
    /// As [`SharedFd::require_fd`]; `dup(2)`'s errno.
    pub fn dup(&self, what: &str) -> io::Result<OwnedFd> {
        self.require_fd(what)?.try_clone_to_owned()
    }

    /// The ring whose fixed file table has the slot, if there is one: ops naming the slot
    /// must run there ([`bound_ring`](crate::op::Operation::bound_ring)).
    pub fn ring(&self) -> Option<&RingHandle> {
        self.0.fixed.get().map(FixedFile::ring)
    }

    /// The fixed slot, if there is one.
    pub fn fixed_index(&self) -> Option<u32> {
        self.0.fixed.get().map(FixedFile::index)
    }

    /// Registers the fd in the current core's fixed file table, once; returns the slot.
    ///
    /// # Errors
    /// As [`crate::fixed_files::register`].
    pub fn register(&self) -> io::Result<u32> {
        if let Some(i) = self.fixed_index() {
            return Ok(i);
        }
        let fd = self.require_fd("register")?;
        let fixed = crate::fixed_files::register(fd)?;
        Ok(self.0.fixed.get_or_init(|| fixed).index())
    }

    /// Takes the process fd back if no op holds the handle any more (a fixed slot it also
    /// has is emptied); `Err(self)` while another holder remains, or for a direct descriptor.
    pub fn try_unwrap(self) -> Result<OwnedFd, SharedFd> {
        if self.0.fd.is_none() {
            return Err(self);
        }
        self.try_into_parts()
            .map(|(fd, _fixed)| fd.expect("checked above"))
    }

    /// Takes both parts (process fd, fixed slot) if no op holds the handle any more: to close
    /// them and learn the result.
    pub fn try_into_parts(self) -> Result<(Option<OwnedFd>, Option<FixedFile>), SharedFd> {
        match Rc::try_unwrap(self.0) {
            Ok(mut handle) => Ok((handle.fd.take(), handle.fixed.take())),
            Err(rc) => Err(SharedFd(rc)),
        }
    }
}

/// Whether `fd` is an anonymous inode (no file type in its mode): an io_uring instance, an
/// eventfd, an epoll set, a timerfd, a signalfd, a pidfd. `IORING_OP_CLOSE` refuses io_uring
/// fds (EBADF, leaving them open), and closing any of these never blocks, so closers use
/// close(2) for them. One `fstat(2)`; `false` if it fails.
pub fn is_anon_inode(fd: BorrowedFd<'_>) -> bool {
    // SAFETY: stat is plain data, all zeroes valid; fstat fills it for an fd we borrow.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: a valid stat buffer and a borrowed, open fd.
    unsafe { libc::fstat(fd.as_raw_fd(), &mut st) == 0 && st.st_mode & libc::S_IFMT == 0 }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // Every op that named this fd held this Rc and has completed. The fixed slot (a
        // field) empties itself; the fd closes on the ring, without blocking the core.
        if let Some(fd) = self.fd.take() {
            crate::op::close_in_background(fd);
        }
    }
}

/// # Panics
/// For a direct descriptor (no process fd); see [`SharedFd::fd`].
impl AsFd for SharedFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd()
            .expect("a SharedFd without a process fd (a direct descriptor)")
    }
}

impl AsRawFd for SharedFd {
    fn as_raw_fd(&self) -> RawFd {
        self.raw()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Runtime;

    #[test]
    fn a_registered_fd_is_named_by_its_slot_and_unwraps_to_its_fd() {
        let file = OwnedFd::from(std::fs::File::open("/proc/self/stat").unwrap());
        Runtime::new().unwrap().block_on(async move {
            let fd = SharedFd::new(file);
            let raw = fd.raw();
            assert_eq!(
                fd.target(),
                Target {
                    fd: raw,
                    sqe_flags: 0
                }
            );
            let slot = fd.register().unwrap();
            assert_eq!(fd.register().unwrap(), slot, "registered once");
            assert!(fd.target().is_fixed());
            assert_eq!(fd.target().fd, slot as RawFd);
            assert!(fd.ring().is_some_and(RingHandle::is_current));
            let held = fd.clone();
            let fd = fd.try_unwrap().unwrap_err();
            drop(held);
            assert_eq!(fd.try_unwrap().unwrap().as_raw_fd(), raw);
        });
    }

    #[test]
    fn a_direct_descriptor_has_no_fd() {
        Runtime::new().unwrap().block_on(async {
            let fd = SharedFd::from_fixed(crate::fixed_files::reserve().unwrap());
            assert_eq!(fd.raw(), -1);
            assert!(fd.target().is_fixed());
            let e = fd.dup("a test").unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::Unsupported);
            assert!(e.to_string().contains("fixed file table"), "{e}");
            let fd = fd.try_unwrap().unwrap_err();
            let (none, fixed) = fd.try_into_parts().unwrap();
            assert!(none.is_none() && fixed.is_some());
        });
    }
}
