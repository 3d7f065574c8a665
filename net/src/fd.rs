//! [`SharedFd`]: a socket fd shared by its owner and the ops in flight on it, so the fd stays
//! open until every op that names it has its final CQE. The last holder closes it without
//! blocking the core: an `IORING_OP_CLOSE` on the ring, or `close(2)` outside a runtime.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::rc::Rc;

/// An fd shared by a socket and its in-flight ops (single core: `Rc`).
#[derive(Clone, Debug)]
pub(crate) struct SharedFd(Rc<Closer>);

#[derive(Debug)]
struct Closer(Option<OwnedFd>);

impl SharedFd {
    pub(crate) fn new(fd: OwnedFd) -> SharedFd {
        SharedFd(Rc::new(Closer(Some(fd))))
    }

    /// The raw fd, for SQEs.
    pub(crate) fn raw(&self) -> RawFd {
        self.0.0.as_ref().map_or(-1, AsRawFd::as_raw_fd)
    }

    /// Takes the fd back if no op holds it any more.
    pub(crate) fn try_unwrap(self) -> Result<OwnedFd, SharedFd> {
        match Rc::try_unwrap(self.0) {
            Ok(mut closer) => Ok(closer.0.take().expect("fd present until dropped")),
            Err(rc) => Err(SharedFd(rc)),
        }
    }
}

impl Drop for Closer {
    fn drop(&mut self) {
        if let Some(fd) = self.0.take() {
            // Every op that named this fd held this Rc and has completed: close it now,
            // without blocking the core.
            runtime::op::close_in_background(fd);
        }
    }
}

impl std::os::fd::AsFd for SharedFd {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.0.0.as_ref().expect("fd present until dropped").as_fd()
    }
}

impl AsRawFd for SharedFd {
    fn as_raw_fd(&self) -> RawFd {
        self.raw()
    }
}
