//! I/O shared by every datagram socket (UDP and Unix): connect, send and receive, to and from
//! the connected peer or a given address.

use std::io;
use std::os::fd::OwnedFd;

use runtime::buf::{BufResult, IoBuf, IoBufMut};
use runtime::op::Op;
use socket2::{SockAddr, SockRef};

use crate::fd::SharedFd;
use crate::kept::{Kept, Received};
use crate::op::{self, recv_from::RecvFrom, send_to::SendTo};

/// The I/O of a datagram socket.
pub(crate) struct DatagramIo {
    pub(crate) fd: SharedFd,
    /// Datagrams that dropped receives took from the socket (see [`crate::kept`]).
    received: Received,
}

impl std::fmt::Debug for DatagramIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatagramIo").field("fd", &self.fd).finish()
    }
}

impl DatagramIo {
    pub(crate) fn new(fd: impl Into<OwnedFd>) -> DatagramIo {
        DatagramIo {
            fd: SharedFd::new(fd.into()),
            received: Received::datagrams(),
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
        op::datagram_send(&self.fd, buf).await
    }

    /// Receives one datagram.
    pub(crate) async fn recv<B: IoBufMut>(&self, buf: B) -> BufResult<usize, B> {
        op::recv(&self.fd, buf, &self.received, true, 0).await
    }

    /// Sends one datagram to `addr`.
    pub(crate) async fn send_to<B: IoBuf>(&self, buf: B, addr: SockAddr) -> BufResult<usize, B> {
        Op::new(SendTo::new(self.fd.clone(), buf, addr)).await
    }

    /// Receives one datagram and its sender's address.
    pub(crate) async fn recv_from<B: IoBufMut>(
        &self,
        mut buf: B,
    ) -> BufResult<(usize, SockAddr), B> {
        let taken = std::future::poll_fn(|cx| self.received.poll_take_datagram(cx, &mut buf)).await;
        let receiving = match taken {
            // A datagram kept by a dropped `recv`, which has no sender's address: on a
            // connected socket (where `recv` is used) it is the peer.
            Kept::Some(Ok((n, from))) => {
                let from = match from {
                    Some(from) => Ok(from),
                    None => self.sock().peer_addr(),
                };
                return (from.map(|from| (n, from)), buf);
            }
            Kept::Some(Err(e)) => return (Err(e), buf),
            Kept::None(receiving) => receiving,
        };
        Op::new(RecvFrom::new(self.fd.clone(), buf, receiving)).await
    }
}
