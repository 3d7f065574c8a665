//! TCP: [`TcpListener`], [`TcpStream`] and its split halves, and [`TcpSocket`] for options
//! before bind or connect.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;
use runtime::op::{Multishot, Op};
use socket2::{Domain, Protocol, SockAddr, SockRef, Socket, Type};

use crate::fd::SharedFd;
use crate::kept::Backlog;
use crate::op::{accept::Accept, accept_multi::AcceptMulti, connect::Connect};
use crate::resolve::{ToAddrs, each_addr};
use crate::stream::{StreamIo, forward_to_stream_io};

/// A TCP socket being set up: options first, then [`TcpSocket::bind`] +
/// [`TcpSocket::listen`], or [`TcpSocket::connect`].
#[derive(Debug)]
pub struct TcpSocket {
    socket: Socket,
}

impl TcpSocket {
    /// A new IPv4 socket.
    ///
    /// # Errors
    /// `socket(2)`'s errno (EMFILE when out of fds).
    pub fn new_v4() -> io::Result<TcpSocket> {
        Self::new(Domain::IPV4)
    }

    /// A new IPv6 socket.
    ///
    /// # Errors
    /// `socket(2)`'s errno.
    pub fn new_v6() -> io::Result<TcpSocket> {
        Self::new(Domain::IPV6)
    }

    fn new(domain: Domain) -> io::Result<TcpSocket> {
        Ok(TcpSocket {
            socket: Socket::new(domain, Type::STREAM.cloexec(), Some(Protocol::TCP))?,
        })
    }

    fn for_addr(addr: SocketAddr) -> io::Result<TcpSocket> {
        Self::new(Domain::for_address(addr))
    }

    /// `SO_REUSEADDR`: rebind a port in TIME_WAIT.
    ///
    /// # Errors
    /// `setsockopt(2)`'s errno.
    pub fn set_reuseaddr(&self, on: bool) -> io::Result<()> {
        self.socket.set_reuse_address(on)
    }

    /// `SO_REUSEPORT`: several sockets (one per core) bind the same port and the kernel
    /// spreads connections among them.
    ///
    /// # Errors
    /// `setsockopt(2)`'s errno.
    pub fn set_reuseport(&self, on: bool) -> io::Result<()> {
        self.socket.set_reuse_port(on)
    }

    /// `TCP_NODELAY`.
    ///
    /// # Errors
    /// `setsockopt(2)`'s errno.
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.socket.set_nodelay(on)
    }

    /// `SO_RCVBUF`.
    ///
    /// # Errors
    /// `setsockopt(2)`'s errno.
    pub fn set_recv_buffer_size(&self, size: usize) -> io::Result<()> {
        self.socket.set_recv_buffer_size(c_int_size(size))
    }

    /// `SO_SNDBUF`.
    ///
    /// # Errors
    /// `setsockopt(2)`'s errno.
    pub fn set_send_buffer_size(&self, size: usize) -> io::Result<()> {
        self.socket.set_send_buffer_size(c_int_size(size))
    }

    /// The bound address (after [`TcpSocket::bind`]; port 0 resolves to the port picked).
    ///
    /// # Errors
    /// `getsockname(2)`'s errno.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket
            .local_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::other("not an IP socket"))
    }

    /// Binds to `addr`.
    ///
    /// # Errors
    /// EADDRINUSE (the message says which address), EACCES for a privileged port, ….
    pub fn bind(&self, addr: SocketAddr) -> io::Result<()> {
        self.socket.bind(&addr.into()).map_err(|e| {
            if e.kind() == io::ErrorKind::AddrInUse {
                io::Error::new(e.kind(), format!("address {addr} is already in use (os error {}): pick another port, or set SO_REUSEPORT on every socket sharing it", libc::EADDRINUSE))
            } else {
                e
            }
        })
    }

    /// Starts listening with a queue of `backlog` pending connections.
    ///
    /// # Errors
    /// `listen(2)`'s errno.
    pub fn listen(self, backlog: u32) -> io::Result<TcpListener> {
        self.socket.listen(backlog.min(i32::MAX as u32) as i32)?;
        TcpListener::from_socket(self.socket)
    }

    /// Connects to `addr`.
    ///
    /// # Errors
    /// ECONNREFUSED, ETIMEDOUT, ENETUNREACH, ….
    pub async fn connect(self, addr: SocketAddr) -> io::Result<TcpStream> {
        connect_socket(self.socket, addr, None).await
    }
}

async fn connect_socket(
    socket: Socket,
    addr: SocketAddr,
    timeout: Option<Duration>,
) -> io::Result<TcpStream> {
    let fd = SharedFd::new(OwnedFd::from(socket));
    let mut op = Op::new(Connect {
        fd: fd.clone(),
        addr: Box::new(SockAddr::from(addr)),
    });
    if let Some(t) = timeout {
        op = op.timeout(t);
    }
    match op.await {
        Ok(()) => Ok(TcpStream {
            io: StreamIo::from_shared(fd),
        }),
        Err(e) if timeout.is_some() && e.raw_os_error() == Some(libc::ECANCELED) => {
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("connect to {addr} timed out"),
            ))
        }
        Err(e) => Err(e),
    }
}

/// A listening TCP socket.
///
/// # Examples
/// ```
/// use net::{TcpListener, TcpStream};
///
/// runtime::Runtime::new()?.block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:0").await?;
///     let addr = listener.local_addr()?;
///     let client = runtime::spawn(async move {
///         let s = TcpStream::connect(addr).await?;
///         s.write_all(b"ping".to_vec()).await.0
///     });
///     let (server, _) = listener.accept().await?;
///     let (res, buf) = server.read(Vec::with_capacity(16)).await;
///     assert_eq!(&buf[..res?], b"ping");
///     client.await??;
///     Ok::<_, std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct TcpListener {
    fd: SharedFd,
    local: SocketAddr,
    /// Connections accepted for accepts that were dropped: the next accept's.
    backlog: Backlog,
}

impl TcpListener {
    /// Binds to the first address of `addr` that works (`SO_REUSEADDR` on, backlog 1024).
    ///
    /// # Errors
    /// The last address's error (EADDRINUSE says which address); [`runtime::NoRuntime`]
    /// outside a runtime (under another executor), here rather than at the first accept.
    pub async fn bind<A: ToAddrs>(addr: A) -> io::Result<TcpListener> {
        runtime::NoRuntime::check()?;
        each_addr(&addr, |a| async move {
            let s = TcpSocket::for_addr(a)?;
            s.set_reuseaddr(true)?;
            s.bind(a)?;
            s.listen(1024)
        })
        .await
    }

    fn from_socket(socket: Socket) -> io::Result<TcpListener> {
        let local = socket
            .local_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::other("not an IP socket"))?;
        Ok(TcpListener {
            fd: SharedFd::new(OwnedFd::from(socket)),
            local,
            backlog: Backlog::default(),
        })
    }

    /// Wraps a listening std socket.
    ///
    /// # Errors
    /// If its local address cannot be read.
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        Self::from_socket(Socket::from(listener))
    }

    /// The bound address (`Ok` always: it is read once, at bind). An `io::Result`, as on every
    /// socket here and on tokio's, so `listener.local_addr()?` reads the same everywhere.
    ///
    /// # Errors
    /// None; the `Result` is for the uniform signature.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }

    /// Accepts one connection.
    ///
    /// # Errors
    /// EMFILE/ENFILE when out of fds (the listener stays usable), ECONNABORTED, ….
    ///
    /// # Cancel safety
    /// Cancel safe: a connection accepted for a dropped `accept` is kept by the listener and
    /// returned first by the next `accept` or [`Incoming`] item.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        loop {
            let (fd, peer) = match self.backlog.take() {
                Some(kept) => kept,
                None => {
                    let (fd, peer) =
                        Op::new(Accept::new(self.fd.clone(), self.backlog.clone())).await?;
                    (fd, Some(peer))
                }
            };
            let stream = TcpStream {
                io: StreamIo::new(fd),
            };
            // The address the accept itself got: asking the socket fails once the peer reset.
            // A connection kept from a multishot accept has none; if its peer is gone too it
            // is skipped (as good as refused).
            match peer
                .and_then(|p| p.as_socket())
                .map_or_else(|| stream.peer_addr(), Ok)
            {
                Ok(peer) => return Ok((stream, peer)),
                Err(e) => tracing::debug!(error = %e, "accepted connection already gone; skipped"),
            }
        }
    }

    /// The stream of incoming connections, on one multishot accept (re-armed whenever the
    /// kernel ends it). Errors are yielded and the stream goes on; after EMFILE/ENFILE it
    /// waits before accepting again (1 ms, doubling to 100 ms) instead of spinning.
    pub fn incoming(&self) -> Incoming {
        Incoming {
            listener: self.fd.clone(),
            backlog: self.backlog.clone(),
            op: None,
            backoff: None,
            delay: Duration::ZERO,
        }
    }
}

impl std::os::fd::AsFd for TcpSocket {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

impl AsRawFd for TcpListener {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.raw()
    }
}

/// Incoming connections of a [`TcpListener`]; see [`TcpListener::incoming`].
pub struct Incoming {
    listener: SharedFd,
    /// Connections accepted for accepts that were dropped (a dropped `Incoming`'s too).
    backlog: Backlog,
    op: Option<Multishot<AcceptMulti>>,
    backoff: Option<runtime::time::Sleep>,
    delay: Duration,
}

impl std::fmt::Debug for Incoming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Incoming")
            .field("listener", &self.listener)
            .finish()
    }
}

impl Incoming {
    /// The next connection (never `None`).
    ///
    /// # Cancel safety
    /// Cancel safe: the multishot accept stays armed in the `Incoming`, and a dropped
    /// `Incoming` hands the connections it got to the listener's next accept.
    pub async fn next(&mut self) -> Option<io::Result<TcpStream>> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }
}

impl Stream for Incoming {
    type Item = io::Result<TcpStream>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(sleep) = &mut this.backoff {
                if Pin::new(sleep).poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.backoff = None;
            }
            if let Some((fd, _)) = this.backlog.take() {
                return Poll::Ready(Some(Ok(TcpStream {
                    io: StreamIo::new(fd),
                })));
            }
            let (listener, backlog) = (&this.listener, &this.backlog);
            let op = this.op.get_or_insert_with(|| {
                Multishot::new(AcceptMulti {
                    listener: listener.clone(),
                    backlog: backlog.clone(),
                })
            });
            match op.poll_next_item(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => this.op = None,
                Poll::Ready(Some(Ok(fd))) => {
                    this.delay = Duration::ZERO;
                    return Poll::Ready(Some(Ok(TcpStream {
                        io: StreamIo::new(fd),
                    })));
                }
                Poll::Ready(Some(Err(e))) => {
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::EMFILE | libc::ENFILE | libc::ENOMEM | libc::ENOBUFS)
                    ) {
                        this.delay = (this.delay * 2)
                            .clamp(Duration::from_millis(1), Duration::from_millis(100));
                        this.backoff = Some(runtime::time::sleep(this.delay));
                        tracing::debug!(error = %e, delay = ?this.delay, "accept out of resources; backing off");
                    }
                    if op.is_ended() {
                        this.op = None;
                    }
                    return Poll::Ready(Some(Err(e)));
                }
            }
        }
    }
}

/// A connected TCP stream. Reads and writes take owned buffers and give them back with the
/// result ([`BufResult`](runtime::buf::BufResult)). Dropping it closes the socket without
/// blocking the core.
#[derive(Debug)]
pub struct TcpStream {
    pub(crate) io: StreamIo,
}

impl TcpStream {
    /// Connects to the first address of `addr` that accepts (names are resolved on the
    /// blocking pool; every resolved address is tried in turn).
    ///
    /// # Errors
    /// The last address's error: ECONNREFUSED, ENETUNREACH, ….
    pub async fn connect<A: ToAddrs>(addr: A) -> io::Result<TcpStream> {
        each_addr(&addr, |a| async move {
            connect_socket(TcpSocket::for_addr(a)?.socket, a, None).await
        })
        .await
    }

    /// Like [`TcpStream::connect`], giving up on each address after `timeout` (a linked
    /// timeout on the CONNECT op).
    ///
    /// # Errors
    /// `TimedOut` when no address answered in time, or the last address's error.
    pub async fn connect_timeout<A: ToAddrs>(addr: A, timeout: Duration) -> io::Result<TcpStream> {
        each_addr(&addr, |a| async move {
            connect_socket(TcpSocket::for_addr(a)?.socket, a, Some(timeout)).await
        })
        .await
    }

    /// Wraps a connected std stream.
    pub fn from_std(stream: std::net::TcpStream) -> TcpStream {
        TcpStream {
            io: StreamIo::new(stream),
        }
    }

    /// Unwraps into a std stream (blocking mode as it was).
    ///
    /// # Errors
    /// The stream comes back inside the error ([`IntoStdError::into_stream`]), nothing lost:
    /// - `WouldBlock` while an op (of this stream, a split half, or a dropped write
    ///   finishing in the background) still uses the socket;
    /// - while bytes that dropped reads received are kept for the next read (read them
    ///   first: the std stream would not see them);
    /// - once, a socket error a dropped read met, or the gap a dropped write left (the
    ///   error it would have given the next write); calling again then succeeds.
    ///
    /// `?` in a function returning `io::Result` turns the error into an `io::Error` (closing
    /// the stream).
    pub fn into_std(self) -> Result<std::net::TcpStream, IntoStdError> {
        let refuse = |io, error| {
            Err(IntoStdError {
                stream: TcpStream { io },
                error,
            })
        };
        let StreamIo { fd, received, sent } = self.io;
        let io = |fd| StreamIo {
            fd,
            received: received.clone(),
            sent: sent.clone(),
        };
        let fd = match fd.try_unwrap() {
            Ok(fd) => fd,
            Err(fd) => {
                let error = io::Error::new(
                    io::ErrorKind::WouldBlock,
                    "the socket is still in use by an op in flight",
                );
                return refuse(io(fd), error);
            }
        };
        if let Some(error) = received.take_unread().or_else(|| sent.take_cut()) {
            return refuse(io(SharedFd::new(fd)), error);
        }
        Ok(std::net::TcpStream::from(fd))
    }

    /// Splits into a read half and a write half, usable from two tasks of this core.
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        (
            OwnedReadHalf {
                io: self.io.clone(),
            },
            OwnedWriteHalf { io: self.io },
        )
    }

    fn sock(&self) -> SockRef<'_> {
        SockRef::from(&self.io.fd)
    }

    /// The peer's address.
    ///
    /// # Errors
    /// ENOTCONN.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.sock()
            .peer_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::other("not an IP socket"))
    }

    /// The local address.
    ///
    /// # Errors
    /// `getsockname(2)`'s errno.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock()
            .local_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::other("not an IP socket"))
    }

    /// `TCP_NODELAY`.
    ///
    /// # Errors
    /// `setsockopt(2)`'s errno.
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.sock().set_nodelay(on)
    }

    /// Whether `TCP_NODELAY` is on.
    ///
    /// # Errors
    /// `getsockopt(2)`'s errno.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.sock().nodelay()
    }

    /// `SO_KEEPALIVE` with the given idle time, or off.
    ///
    /// # Errors
    /// `setsockopt(2)`'s errno.
    pub fn set_keepalive(&self, idle: Option<Duration>) -> io::Result<()> {
        match idle {
            Some(t) => self
                .sock()
                .set_tcp_keepalive(&socket2::TcpKeepalive::new().with_time(c_int_secs(t))),
            None => self.sock().set_keepalive(false),
        }
    }

    /// `SO_LINGER`.
    ///
    /// # Errors
    /// `setsockopt(2)`'s errno.
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        self.sock().set_linger(linger.map(c_int_secs))
    }

    /// `SO_RCVBUF`.
    ///
    /// # Errors
    /// `setsockopt(2)`'s errno.
    pub fn set_recv_buffer_size(&self, size: usize) -> io::Result<()> {
        self.sock().set_recv_buffer_size(c_int_size(size))
    }

    /// `SO_SNDBUF`.
    ///
    /// # Errors
    /// `setsockopt(2)`'s errno.
    pub fn set_send_buffer_size(&self, size: usize) -> io::Result<()> {
        self.sock().set_send_buffer_size(c_int_size(size))
    }
}

forward_to_stream_io! {
    TcpStream => io {
        /// Reads into `buf` (from its start, up to its capacity); `Ok(0)` at end of stream, or
        /// at once, without an op, when `buf` has no capacity.
        ///
        /// # Cancel safety
        /// Cancel safe: bytes received for a dropped `read` are returned first by the
        /// stream's next read.
        read;
        /// Reads until `buf`'s capacity is full (its `bytes_total()`: a `Vec`'s capacity, a
        /// boxed slice's length); `UnexpectedEof`, with what was read, if the peer closes first.
        ///
        /// # Cancel safety
        /// Cancel safe, unlike tokio's `read_exact`: the bytes a dropped `read_exact` received
        /// are given back to the stream and returned first by its next read.
        read_exact;
        /// Writes `buf`'s initialized bytes once (maybe fewer: see [`TcpStream::write_all`]).
        ///
        /// # Cancel safety
        /// Cancel safe in that no byte is lost or duplicated: a dropped `write` is not
        /// cancelled but completes in the background before the stream's next write, which
        /// returns an error if it went out only in part (so count a dropped write as sent).
        write;
        /// Writes all of `buf`, resuming after short writes.
        ///
        /// # Cancel safety
        /// Not cancel safe (as in tokio): if dropped, the earlier rounds were sent, the round
        /// in flight finishes as a dropped [`write`](TcpStream::write) does, the rest is not sent.
        write_all;
        /// Writes several buffers with one op (`writev`).
        ///
        /// # Cancel safety
        /// As [`TcpStream::write`]: a dropped `writev` still completes, in order.
        writev;
        /// Writes all initialized bytes of every buffer of `bufs`, in order: one `sendmsg`
        /// per 64 KiB of whole buffers (a larger first buffer alone; at most 1024 buffers
        /// per op; a plain `send` for one), another for the rest after a short write.
        /// Allocates nothing once warm. With
        /// [`RecvStream::next_batch`](crate::RecvStream::next_batch), sends back what arrived
        /// in one op per 64 KiB: larger TCP sends cost more per byte.
        ///
        /// # Cancel safety
        /// Not cancel safe, as [`TcpStream::write_all`]: if dropped, the part in flight
        /// finishes, the parts after it are not sent, and the stream's next write returns an
        /// error that says so.
        write_all_vectored;
        /// A [`SendQueue`](crate::SendQueue) on this stream: batches of owned buffers sent
        /// without waiting for each send (one task wake-up per echoed message instead of
        /// two), in the stream's line of writes.
        send_queue;
        /// Sends `buf` without copying (`SEND_ZC`); the buffer comes back once the kernel no
        /// longer reads it. Worth it for large buffers (tens of KiB and up).
        ///
        /// # Cancel safety
        /// As [`TcpStream::write`]: a dropped `send_zc` still completes, in order.
        send_zc;
        /// Received data as buffers lent from `pool` (multishot recv; see
        /// [`RecvStream`](crate::RecvStream)).
        ///
        /// While the `RecvStream` lives, it is the socket's reader: every byte that arrives
        /// goes to it, and a `read` of the stream (or of a split half) waits until it is
        /// dropped, then returns what it had received but not handed out first.
        ///
        /// # Cancel safety
        /// `RecvStream::next` is cancel safe, and a dropped `RecvStream` hands what it received
        /// to the stream's next read.
        recv_stream;
        /// Sends everything this stream receives on `to` (the same stream for an echo, or
        /// any [`ForwardTarget`](crate::ForwardTarget): a `TcpStream`, a `UnixStream`, a
        /// write half), until this one's peer closes its side; returns the bytes sent. `to`
        /// is not shut down: call its `shutdown` after, as a proxy would.
        ///
        /// The ring does the work: a multishot receive into buffers of `pool`, and each
        /// buffer sent on `to` from the completion that delivered it, with no wake-up or
        /// poll of the task per message (it wakes only when the forward ends). Receives that
        /// arrive while a send is in flight go out together in the next one (up to 64 KiB
        /// and 64 buffers per send), each buffer going back to `pool` once sent. Allocates
        /// nothing per message. For a two-way proxy, run one forward each way (both at once,
        /// e.g. with `join`).
        ///
        /// While it runs it is this stream's only reader (reads wait for it, as for a
        /// [`RecvStream`](crate::RecvStream)) and `to`'s only writer (writes wait in line
        /// after it). What dropped reads of this stream had kept goes out first.
        ///
        /// # Errors
        /// A receive error, after everything received before it went out; a send error (the
        /// bytes received and not sent are then lost with `to`, and the error says how many;
        /// what this stream receives after that is kept for its next read); an earlier
        /// write of `to` that did not go out whole; `InvalidInput` when `pool` belongs to
        /// another core's ring.
        ///
        /// # Cancel safety
        /// Cancel safe, in that nothing received is lost: a dropped forward stops receiving
        /// (the receive is cancelled), and everything it had received goes out on `to`
        /// before any later write of `to`, as a dropped write does. If that fails, `to`'s
        /// next write says so.
        ///
        /// # Examples
        /// An echo: everything the client sends comes back.
        /// ```
        /// use net::{TcpListener, TcpStream};
        ///
        /// runtime::Runtime::new()?.block_on(async {
        ///     let pool = runtime::buf::BufPool::new(1, 64, 4096)?;
        ///     let listener = TcpListener::bind("127.0.0.1:0").await?;
        ///     let client = TcpStream::connect(listener.local_addr()?).await?;
        ///     let (conn, _) = listener.accept().await?;
        ///     let echo = runtime::spawn(async move { conn.forward_to(&conn, &pool).await });
        ///     client.write_all(b"hello".to_vec()).await.0?;
        ///     client.shutdown(std::net::Shutdown::Write).await?;
        ///     let (n, got) = client.read_exact(Vec::with_capacity(5)).await;
        ///     n?;
        ///     assert_eq!(got, b"hello");
        ///     assert_eq!(echo.await??, 5);
        ///     Ok::<_, std::io::Error>(())
        /// })?;
        /// # Ok::<(), std::io::Error>(())
        /// ```
        forward_to;
        /// Shuts down one or both directions (`IORING_OP_SHUTDOWN`).
        ///
        /// # Errors
        /// ENOTCONN when not connected.
        shutdown;
    }
}

impl AsRawFd for TcpStream {
    fn as_raw_fd(&self) -> RawFd {
        self.io.fd.raw()
    }
}

/// The read half of a [`TcpStream`] (see [`TcpStream::into_split`]).
#[derive(Debug)]
pub struct OwnedReadHalf {
    pub(crate) io: StreamIo,
}

forward_to_stream_io! {
    OwnedReadHalf => io {
        /// As [`TcpStream::read`].
        ///
        /// # Cancel safety
        /// Cancel safe, as [`TcpStream::read`]; the halves share what dropped reads kept.
        read;
        /// As [`TcpStream::read_exact`].
        ///
        /// # Cancel safety
        /// Cancel safe, as [`TcpStream::read_exact`].
        read_exact;
        /// As [`TcpStream::recv_stream`].
        ///
        /// # Cancel safety
        /// As [`TcpStream::recv_stream`].
        recv_stream;
        /// As [`TcpStream::forward_to`]: what this half receives, sent on `to` by the ring.
        ///
        /// # Errors
        /// As [`TcpStream::forward_to`].
        ///
        /// # Cancel safety
        /// As [`TcpStream::forward_to`]: nothing received is lost.
        forward_to;
    }
}

/// The write half of a [`TcpStream`] (see [`TcpStream::into_split`]).
#[derive(Debug)]
pub struct OwnedWriteHalf {
    pub(crate) io: StreamIo,
}

forward_to_stream_io! {
    OwnedWriteHalf => io {
        /// As [`TcpStream::write`].
        ///
        /// # Cancel safety
        /// As [`TcpStream::write`]: a dropped write still completes, in order.
        write;
        /// As [`TcpStream::write_all`].
        ///
        /// # Cancel safety
        /// Not cancel safe, as [`TcpStream::write_all`].
        write_all;
        /// As [`TcpStream::writev`].
        ///
        /// # Cancel safety
        /// As [`TcpStream::write`]: a dropped `writev` still completes, in order.
        writev;
        /// Writes all initialized bytes of every buffer of `bufs`, in order: one `sendmsg`
        /// per 64 KiB of whole buffers (a larger first buffer alone; at most 1024 buffers
        /// per op; a plain `send` for one), another for the rest after a short write.
        /// Allocates nothing once warm. With
        /// [`RecvStream::next_batch`](crate::RecvStream::next_batch), sends back what arrived
        /// in one op per 64 KiB: larger TCP sends cost more per byte.
        ///
        /// # Cancel safety
        /// Not cancel safe, as [`TcpStream::write_all`]: if dropped, the part in flight
        /// finishes, the parts after it are not sent, and the stream's next write returns an
        /// error that says so.
        write_all_vectored;
        /// A [`SendQueue`](crate::SendQueue) on this stream: batches of owned buffers sent
        /// without waiting for each send (one task wake-up per echoed message instead of
        /// two), in the stream's line of writes.
        send_queue;
        /// As [`TcpStream::shutdown`].
        shutdown;
    }
}

/// A socket option's size saturated at `i32::MAX`: socket2 passes it as a C `int` with `as`,
/// so 2^32 bytes would become 0; the kernel clamps the saturated value to its own limit.
fn c_int_size(size: usize) -> usize {
    size.min(i32::MAX as usize)
}

/// A socket option's time saturated at `i32::MAX` seconds: socket2 passes the seconds as a
/// C `int` with `as`, so a linger of 2^32 s would become 0 (a reset on close); the kernel
/// clamps the saturated value or refuses it (EINVAL).
fn c_int_secs(t: Duration) -> Duration {
    t.min(Duration::from_secs(i32::MAX as u64))
}

/// [`TcpStream::into_std`] refused: the stream, back, and why.
pub struct IntoStdError {
    stream: TcpStream,
    error: io::Error,
}

impl IntoStdError {
    /// The stream, as it was.
    pub fn into_stream(self) -> TcpStream {
        self.stream
    }

    /// Why the stream could not leave the runtime.
    pub fn error(&self) -> &io::Error {
        &self.error
    }
}

impl std::fmt::Debug for IntoStdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntoStdError")
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Display for IntoStdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "into_std: {}", self.error)
    }
}

impl std::error::Error for IntoStdError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl From<IntoStdError> for io::Error {
    /// The reason, with the stream dropped (closed once no op uses it).
    fn from(e: IntoStdError) -> io::Error {
        e.error
    }
}
