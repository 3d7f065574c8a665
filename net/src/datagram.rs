//! I/O shared by every datagram socket (UDP and Unix): connect, send and receive, to and from
//! the connected peer or a given address.

use std::io;
use std::os::fd::OwnedFd;

use runtime::buf::{BufResult, IoBuf, IoBufMut};
use runtime::op::Op;
use socket2::{SockAddr, SockRef};

use crate::fd::SharedFd;
use crate::op::{self, recv_from::RecvFrom, send_to::SendTo};

/// The I/O of a datagram socket.
#[derive(Debug)]
pub(crate) struct DatagramIo {
    pub(crate) fd: SharedFd,
}

impl DatagramIo {
    pub(crate) fn new(fd: impl Into<OwnedFd>) -> DatagramIo {
        DatagramIo {
            fd: SharedFd::new(fd.into()),
        }
    }

    pub(crate) fn sock(&self) -> SockRef<'_> {
        SockRef::from(&self.fd)
    }

    /// Sets the default destination.
    pub(crate) async fn connect(&self, addr: SockAddr) -> io::Result<()> {
        op::connect(&self.fd, addr).await
    }

    /// Sends one datagram to the connected peer.
    pub(crate) async fn send<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
        op::send(&self.fd, buf).await
    }

    /// Receives one datagram.
    pub(crate) async fn recv<B: IoBufMut>(&self, buf: B) -> BufResult<usize, B> {
        op::recv(&self.fd, buf).await
    }

    /// Sends one datagram to `addr`.
    pub(crate) async fn send_to<B: IoBuf>(&self, buf: B, addr: SockAddr) -> BufResult<usize, B> {
        Op::new(SendTo::new(self.fd.clone(), buf, addr)).await
    }

    /// Receives one datagram and its sender's address.
    pub(crate) async fn recv_from<B: IoBufMut>(&self, buf: B) -> BufResult<(usize, SockAddr), B> {
        Op::new(RecvFrom::new(self.fd.clone(), buf)).await
    }
}
