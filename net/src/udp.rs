//! UDP: [`UdpSocket`].

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};

use runtime::buf::{BufResult, IoBuf, IoBufMut};
use socket2::{Domain, Protocol, SockAddr, SockRef, Socket, Type};

use crate::datagram::DatagramIo;
use crate::resolve::{ToAddrs, each_addr};

/// A UDP socket. Datagram I/O takes owned buffers and gives them back with the result.
///
/// # Examples
/// ```
/// use net::UdpSocket;
///
/// runtime::Runtime::new()?.block_on(async {
///     let a = UdpSocket::bind("127.0.0.1:0").await?;
///     let b = UdpSocket::bind("127.0.0.1:0").await?;
///     a.send_to(b"hi".to_vec(), b.local_addr()?).await.0?;
///     let (res, buf) = b.recv_from(Vec::with_capacity(64)).await;
///     let (n, from) = res?;
///     assert_eq!((&buf[..n], from), (&b"hi"[..], a.local_addr()?));
///     Ok::<_, std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct UdpSocket {
    io: DatagramIo,
}

impl UdpSocket {
    /// Binds to the first address of `addr` that works.
    ///
    /// # Errors
    /// The last address's error (EADDRINUSE, EACCES, …); [`runtime::NoRuntime`] outside a
    /// runtime (under another executor), here rather than at the first receive.
    pub async fn bind<A: ToAddrs>(addr: A) -> io::Result<UdpSocket> {
        runtime::NoRuntime::check()?;
        each_addr(&addr, |a| async move {
            let s = Socket::new(
                Domain::for_address(a),
                Type::DGRAM.cloexec(),
                Some(Protocol::UDP),
            )?;
            s.bind(&a.into())?;
            Ok(UdpSocket {
                io: DatagramIo::new(s),
            })
        })
        .await
    }

    /// Wraps a std socket.
    pub fn from_std(socket: std::net::UdpSocket) -> UdpSocket {
        UdpSocket {
            io: DatagramIo::new(socket),
        }
    }

    /// Sets the default destination, so [`UdpSocket::send`] and [`UdpSocket::recv`] work.
    ///
    /// # Errors
    /// `connect(2)`'s errno.
    pub async fn connect(&self, addr: SocketAddr) -> io::Result<()> {
        self.io.connect(SockAddr::from(addr)).await
    }

    /// Sends `buf` to the connected peer.
    ///
    /// # Cancel safety
    /// Cancel safe: a dropped `send` is not cancelled, and the datagram goes out whole.
    pub async fn send<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
        self.io.send(buf).await
    }

    /// Receives one datagram from the connected peer.
    ///
    /// # Cancel safety
    /// Cancel safe: a datagram received for a dropped receive is returned first by the next
    /// `recv` or `recv_from`.
    pub async fn recv<B: IoBufMut>(&self, buf: B) -> BufResult<usize, B> {
        self.io.recv(buf).await
    }

    /// Sends `buf` as one datagram to `target`.
    ///
    /// # Cancel safety
    /// Cancel safe: a dropped `send_to` is cancelled, and the datagram goes out whole or not
    /// at all.
    pub async fn send_to<B: IoBuf>(&self, buf: B, target: SocketAddr) -> BufResult<usize, B> {
        self.io.send_to(buf, SockAddr::from(target)).await
    }

    /// Receives one datagram and its sender's address.
    ///
    /// # Cancel safety
    /// Cancel safe: a datagram received for a dropped receive is returned first, with its
    /// sender, by the next `recv` or `recv_from`.
    pub async fn recv_from<B: IoBufMut>(&self, buf: B) -> BufResult<(usize, SocketAddr), B> {
        let (res, buf) = self.io.recv_from(buf).await;
        let res = res.and_then(|(n, addr)| {
            Ok((
                n,
                addr.as_socket()
                    .ok_or_else(|| io::Error::other("datagram from a non-IP address"))?,
            ))
        });
        (res, buf)
    }

    fn sock(&self) -> SockRef<'_> {
        self.io.sock()
    }

    /// The bound address.
    ///
    /// # Errors
    /// `getsockname(2)`'s errno.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock()
            .local_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::other("not an IP socket"))
    }

    /// `SO_BROADCAST`.
    ///
    /// # Errors
    /// `setsockopt(2)`'s errno.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.sock().set_broadcast(on)
    }

    /// Joins an IPv4 multicast group on `interface` (0.0.0.0: the default one).
    ///
    /// # Errors
    /// `setsockopt(2)`'s errno.
    pub fn join_multicast_v4(
        &self,
        group: std::net::Ipv4Addr,
        interface: std::net::Ipv4Addr,
    ) -> io::Result<()> {
        self.sock().join_multicast_v4(&group, &interface)
    }

    /// Leaves an IPv4 multicast group.
    ///
    /// # Errors
    /// `setsockopt(2)`'s errno.
    pub fn leave_multicast_v4(
        &self,
        group: std::net::Ipv4Addr,
        interface: std::net::Ipv4Addr,
    ) -> io::Result<()> {
        self.sock().leave_multicast_v4(&group, &interface)
    }

    /// Joins an IPv6 multicast group on interface index `interface`.
    ///
    /// # Errors
    /// `setsockopt(2)`'s errno.
    pub fn join_multicast_v6(&self, group: std::net::Ipv6Addr, interface: u32) -> io::Result<()> {
        self.sock().join_multicast_v6(&group, interface)
    }

    /// `IP_MULTICAST_LOOP`.
    ///
    /// # Errors
    /// `setsockopt(2)`'s errno.
    pub fn set_multicast_loop_v4(&self, on: bool) -> io::Result<()> {
        self.sock().set_multicast_loop_v4(on)
    }

    /// `IP_MULTICAST_TTL` (0 to 255).
    ///
    /// # Errors
    /// `setsockopt(2)`'s errno: EINVAL past 255.
    pub fn set_multicast_ttl_v4(&self, ttl: u32) -> io::Result<()> {
        // Saturated: socket2 passes a C `int`, and `u32::MAX` would become -1, which the
        // kernel reads as "the default TTL" instead of refusing it.
        self.sock().set_multicast_ttl_v4(ttl.min(i32::MAX as u32))
    }
}

impl AsRawFd for UdpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.io.fd.raw()
    }
}
