//! `IORING_OP_ACCEPT`: one connection.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

use runtime::op::{Completion, Operation};
use socket2::SockAddr;
use uring_sys::{Sqe, prep};

use crate::fd::SharedFd;
use crate::kept::Backlog;
use crate::op::zeroed_storage;

/// Accepts one connection on a listening socket, with the peer's address as the kernel saw
/// it at accept time (asking the socket later fails once the peer reset).
pub(crate) struct Accept {
    pub(crate) listener: SharedFd,
    /// Where the listener keeps a connection accepted for nobody.
    pub(crate) backlog: Backlog,
    /// Room for the peer's address; boxed, so its address holds while the op moves.
    peer: Box<(libc::sockaddr_storage, libc::socklen_t)>,
}

impl Accept {
    pub(crate) fn new(listener: SharedFd, backlog: Backlog) -> Accept {
        let storage = zeroed_storage();
        Accept {
            listener,
            backlog,
            peer: Box::new((
                storage,
                size_of::<libc::sockaddr_storage>() as libc::socklen_t,
            )),
        }
    }

    /// The new connection and its peer, from a successful CQE's fd.
    fn accepted(&self, fd: i32) -> (OwnedFd, SockAddr) {
        // SAFETY: a successful ACCEPT returns a new fd that nobody else owns, and filled the
        // address storage, setting the length to that of the address it wrote.
        unsafe {
            (
                OwnedFd::from_raw_fd(fd),
                SockAddr::new(self.peer.0, self.peer.1),
            )
        }
    }
}

// SAFETY: the SQE names `listener`'s fd, which this op keeps open (SharedFd), and the address
// storage and its length in `peer` (one box, owned by this op until its CQE).
unsafe impl Operation for Accept {
    type Output = io::Result<(OwnedFd, SockAddr)>;

    fn sqe(&mut self) -> Sqe {
        let (storage, len) = &mut *self.peer;
        prep::prep_accept(
            self.listener.raw(),
            std::ptr::from_mut(storage).cast(),
            len,
            libc::SOCK_CLOEXEC,
        )
    }

    fn complete(self, result: io::Result<u32>, _: Completion) -> Self::Output {
        result.map(|fd| self.accepted(fd as i32))
    }

    fn on_abandoned_cqe(&mut self, cqe: Completion) {
        if cqe.res() >= 0 {
            // The connection goes to the listener's next accept.
            let (fd, peer) = self.accepted(cqe.res());
            self.backlog.keep(fd, Some(peer));
        }
    }
}
