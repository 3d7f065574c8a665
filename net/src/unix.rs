//! Unix domain sockets: [`UnixListener`], [`UnixStream`], [`UnixDatagram`]; paths and
//! abstract names (a name starting with `\0`).

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::Path;

use runtime::buf::{BufResult, IoBuf, IoBufMut};
use runtime::op::Op;
use socket2::{Domain, SockAddr, Socket, Type};

use crate::datagram::DatagramIo;
use crate::fd::SharedFd;
use crate::kept::Backlog;
use crate::op::{self, accept::Accept, peer_cred::PeerCred};
use crate::stream::{StreamIo, forward_to_stream_io};

fn unix_addr(path: &Path) -> io::Result<SockAddr> {
    SockAddr::unix(path)
}

/// A listening Unix stream socket.
///
/// # Examples
/// ```
/// use net::{UnixListener, UnixStream};
///
/// runtime::Runtime::new()?.block_on(async {
///     let path = std::env::temp_dir().join(format!("doc-{}.sock", std::process::id()));
///     let _ = std::fs::remove_file(&path);
///     let listener = UnixListener::bind(&path)?;
///     let client = UnixStream::connect(&path).await?;
///     let server = listener.accept().await?;
///     client.write_all(b"hello".to_vec()).await.0?;
///     let (n, buf) = server.read(Vec::with_capacity(8)).await;
///     assert_eq!(&buf[..n?], b"hello");
///     std::fs::remove_file(&path)?;
///     Ok::<_, std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct UnixListener {
    fd: SharedFd,
    /// Connections accepted for accepts that were dropped: the next accept's.
    backlog: Backlog,
}

impl UnixListener {
    /// Binds to `path` (or an abstract name starting with `\0`) and listens (backlog 1024).
    ///
    /// # Errors
    /// EADDRINUSE when the path exists (remove a stale socket file first), EACCES, …;
    /// [`runtime::NoRuntime`] outside a runtime, here rather than at the first accept (bind
    /// inside `block_on`).
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        runtime::NoRuntime::check()?;
        let s = Socket::new(Domain::UNIX, Type::STREAM.cloexec(), None)?;
        s.bind(&unix_addr(path.as_ref())?)?;
        s.listen(1024)?;
        Ok(UnixListener {
            fd: SharedFd::new(OwnedFd::from(s)),
            backlog: Backlog::default(),
        })
    }

    /// The bound address (std's Unix address type, as std's and tokio's `local_addr`).
    ///
    /// # Errors
    /// `getsockname(2)`'s errno.
    pub fn local_addr(&self) -> io::Result<std::os::unix::net::SocketAddr> {
        std_addr(self.fd.as_fd(), Side::Local)
    }

    /// Accepts one connection.
    ///
    /// # Errors
    /// EMFILE/ENFILE when out of fds, ….
    ///
    /// # Cancel safety
    /// Cancel safe: a connection accepted for a dropped `accept` is kept by the listener and
    /// returned first by its next `accept`.
    pub async fn accept(&self) -> io::Result<UnixStream> {
        let fd = match self.backlog.take() {
            Some((fd, _)) => fd,
            None => {
                Op::new(Accept::new(self.fd.clone(), self.backlog.clone()))
                    .await?
                    .0
            }
        };
        Ok(UnixStream {
            io: StreamIo::new(fd),
        })
    }
}

impl AsRawFd for UnixListener {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.raw()
    }
}

/// A connected Unix stream socket; the same owned-buffer I/O as [`crate::TcpStream`].
#[derive(Debug)]
pub struct UnixStream {
    pub(crate) io: StreamIo,
}

impl UnixStream {
    /// Connects to `path` (or an abstract name starting with `\0`).
    ///
    /// # Errors
    /// ENOENT (no such socket), ECONNREFUSED (nobody listens), ….
    pub async fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        let s = Socket::new(Domain::UNIX, Type::STREAM.cloexec(), None)?;
        let io = StreamIo::new(s);
        op::connect(&io.fd, unix_addr(path.as_ref())?).await?;
        Ok(UnixStream { io })
    }

    /// A connected pair.
    ///
    /// # Errors
    /// `socketpair(2)`'s errno.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = Socket::pair(Domain::UNIX, Type::STREAM.cloexec(), None)?;
        let wrap = |s: Socket| UnixStream {
            io: StreamIo::new(s),
        };
        Ok((wrap(a), wrap(b)))
    }

    /// Wraps a std stream.
    pub fn from_std(stream: std::os::unix::net::UnixStream) -> UnixStream {
        UnixStream {
            io: StreamIo::new(stream),
        }
    }

    /// The peer's pid, uid and gid (`SO_PEERCRED`, read by an io_uring socket command).
    ///
    /// # Errors
    /// EOPNOTSUPP/EINVAL before Linux 6.7, which has no socket getsockopt command.
    pub async fn peer_cred(&self) -> io::Result<libc::ucred> {
        let cred = Box::new(libc::ucred {
            pid: 0,
            uid: 0,
            gid: 0,
        });
        Op::new(PeerCred {
            fd: self.io.fd.clone(),
            cred,
        })
        .await
    }

    /// The local address (std's Unix address type, as std's and tokio's `local_addr`).
    ///
    /// # Errors
    /// `getsockname(2)`'s errno.
    pub fn local_addr(&self) -> io::Result<std::os::unix::net::SocketAddr> {
        std_addr(self.io.fd.as_fd(), Side::Local)
    }

    /// The peer address (std's Unix address type).
    ///
    /// # Errors
    /// `getpeername(2)`'s errno.
    pub fn peer_addr(&self) -> io::Result<std::os::unix::net::SocketAddr> {
        std_addr(self.io.fd.as_fd(), Side::Peer)
    }
}

/// Which end [`std_addr`] asks for.
enum Side {
    Local,
    Peer,
}

/// `getsockname(2)` or `getpeername(2)` of `fd` as std's Unix address: the type std's and
/// tokio's Unix sockets return, so `local_addr` has the same shape on every socket here (std's
/// `SocketAddr` for TCP and UDP). std builds it only from a socket of its own, so a duplicate
/// of `fd` lends it one; two more syscalls, on a call that is off the I/O path.
fn std_addr(fd: BorrowedFd<'_>, side: Side) -> io::Result<std::os::unix::net::SocketAddr> {
    let lent = std::os::unix::net::UnixStream::from(fd.try_clone_to_owned()?);
    match side {
        Side::Local => lent.local_addr(),
        Side::Peer => lent.peer_addr(),
    }
}

forward_to_stream_io! {
    UnixStream => io {
        /// Reads into `buf`; `Ok(0)` at end of stream, or at once when `buf` has no capacity.
        ///
        /// # Cancel safety
        /// Cancel safe, as [`TcpStream::read`](crate::TcpStream::read).
        read;
        /// Reads until `buf`'s capacity is full (its `bytes_total()`: a `Vec`'s capacity, a
        /// boxed slice's length); `UnexpectedEof`, with what was read, if the peer closes first.
        ///
        /// # Cancel safety
        /// Cancel safe, as [`TcpStream::read_exact`](crate::TcpStream::read_exact).
        read_exact;
        /// Writes `buf` once.
        ///
        /// # Cancel safety
        /// As [`TcpStream::write`](crate::TcpStream::write): a dropped write still completes,
        /// in order.
        write;
        /// Writes all of `buf`.
        ///
        /// # Cancel safety
        /// Not cancel safe, as [`TcpStream::write_all`](crate::TcpStream::write_all).
        write_all;
        /// Writes several buffers with one op.
        ///
        /// # Cancel safety
        /// As [`TcpStream::write`](crate::TcpStream::write): a dropped `writev` still
        /// completes, in order.
        writev;
        /// As [`TcpStream::write_all_vectored`](crate::TcpStream::write_all_vectored).
        ///
        /// # Cancel safety
        /// Not cancel safe, as [`TcpStream::write_all`](crate::TcpStream::write_all).
        write_all_vectored;
        /// A [`SendQueue`](crate::SendQueue) on this stream: batches of owned buffers sent
        /// without waiting for each send (one task wake-up per echoed message instead of
        /// two), in the stream's line of writes.
        send_queue;
        /// Received data as buffers lent from `pool`.
        ///
        /// # Cancel safety
        /// As [`TcpStream::recv_stream`](crate::TcpStream::recv_stream).
        recv_stream;
        /// As [`TcpStream::forward_to`](crate::TcpStream::forward_to): sends everything this
        /// stream receives on `to`, by the ring alone, until this one's peer closes its side.
        ///
        /// # Errors
        /// As [`TcpStream::forward_to`](crate::TcpStream::forward_to).
        ///
        /// # Cancel safety
        /// As [`TcpStream::forward_to`](crate::TcpStream::forward_to): nothing received is
        /// lost.
        forward_to;
        /// Shuts down one or both directions.
        ///
        /// # Errors
        /// ENOTCONN when not connected.
        shutdown;
    }
}

impl AsRawFd for UnixStream {
    fn as_raw_fd(&self) -> RawFd {
        self.io.fd.raw()
    }
}

/// A Unix datagram socket.
#[derive(Debug)]
pub struct UnixDatagram {
    io: DatagramIo,
}

impl UnixDatagram {
    fn socket() -> io::Result<Socket> {
        Socket::new(Domain::UNIX, Type::DGRAM.cloexec(), None)
    }

    /// Binds to `path` (or an abstract name).
    ///
    /// # Errors
    /// EADDRINUSE when the path exists, ….
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixDatagram> {
        let s = Self::socket()?;
        s.bind(&unix_addr(path.as_ref())?)?;
        Ok(UnixDatagram {
            io: DatagramIo::new(s),
        })
    }

    /// The bound address (std's Unix address type, as std's and tokio's `local_addr`).
    ///
    /// # Errors
    /// `getsockname(2)`'s errno.
    pub fn local_addr(&self) -> io::Result<std::os::unix::net::SocketAddr> {
        std_addr(self.io.fd.as_fd(), Side::Local)
    }

    /// An unbound socket (for sending, or after `connect`).
    ///
    /// # Errors
    /// `socket(2)`'s errno.
    pub fn unbound() -> io::Result<UnixDatagram> {
        Ok(UnixDatagram {
            io: DatagramIo::new(Self::socket()?),
        })
    }

    /// A connected pair.
    ///
    /// # Errors
    /// `socketpair(2)`'s errno.
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = Socket::pair(Domain::UNIX, Type::DGRAM.cloexec(), None)?;
        Ok((
            UnixDatagram {
                io: DatagramIo::new(a),
            },
            UnixDatagram {
                io: DatagramIo::new(b),
            },
        ))
    }

    /// Sets the default destination.
    ///
    /// # Errors
    /// ENOENT, ECONNREFUSED, ….
    pub async fn connect(&self, path: impl AsRef<Path>) -> io::Result<()> {
        self.io.connect(unix_addr(path.as_ref())?).await
    }

    /// Sends one datagram to the connected peer.
    ///
    /// # Cancel safety
    /// Cancel safe: a dropped `send` is not cancelled, and the datagram goes out whole.
    pub async fn send<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
        self.io.send(buf).await
    }

    /// Receives one datagram.
    ///
    /// # Cancel safety
    /// Cancel safe: a datagram received for a dropped receive is returned first by the next
    /// `recv` or `recv_from`.
    pub async fn recv<B: IoBufMut>(&self, buf: B) -> BufResult<usize, B> {
        self.io.recv(buf).await
    }

    /// Sends one datagram to `path`.
    ///
    /// # Cancel safety
    /// Cancel safe: a dropped `send_to` is cancelled, and the datagram goes out whole or not
    /// at all.
    pub async fn send_to<B: IoBuf>(&self, buf: B, path: impl AsRef<Path>) -> BufResult<usize, B> {
        match unix_addr(path.as_ref()) {
            Ok(addr) => self.io.send_to(buf, addr).await,
            Err(e) => (Err(e), buf),
        }
    }

    /// Receives one datagram and its sender's address.
    ///
    /// # Cancel safety
    /// Cancel safe: a datagram received for a dropped receive is returned first, with its
    /// sender, by the next `recv` or `recv_from`.
    pub async fn recv_from<B: IoBufMut>(&self, buf: B) -> BufResult<(usize, SockAddr), B> {
        self.io.recv_from(buf).await
    }
}

impl AsRawFd for UnixDatagram {
    fn as_raw_fd(&self) -> RawFd {
        self.io.fd.raw()
    }
}
