//! [`HyperIo`]: hyper's `Read`/`Write` over a [`TcpStream`] or [`UnixStream`].
//!
//! Design notes are on [`HyperIo`].

use std::cell::Cell;
use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, ready};

use ::hyper::rt::ReadBufCursor;
use futures_core::Stream;
use runtime::buf::{BufPool, IoBuf, ProvidedBuf};
use runtime::op::{Op, RingHandle};

use crate::kept::{Kept, Ticket, send_in_background};
use crate::op::{recv::Recv, shutdown::Shutdown};
use crate::stream::{RecvStream, StreamIo, sealed};
use crate::{SendQueue, TcpStream, UnixStream};

/// The most bytes the adapter takes from hyper beyond a send in flight (and the most one send
/// carries): 64 KiB.
pub const WRITE_CAPACITY: usize = 64 * 1024;
/// Writes of at least this many bytes with nothing queued before them go straight out with
/// one non-blocking `sendmsg(2)` from hyper's slices instead of being copied (see
/// `Writer::send_now`).
pub const DIRECT_SEND_MIN: usize = 8 * 1024;
/// The most slices one direct `sendmsg` takes (hyper's own limit is 64).
const MAX_IOVECS: usize = 64;
/// The bytes one receive takes when no buffer ring is available (kernels before 5.19).
const FALLBACK_READ_CAPACITY: usize = 16 * 1024;

/// The buffer group of the core's pool for hyper connections ("Hy").
pub const POOL_GROUP: u16 = 0x4879;
/// Buffers in that pool (a power of two).
pub const POOL_BUFS: u16 = 1024;
/// Bytes per buffer of that pool: 1024 x 16 KiB = 16 MiB per core.
pub const POOL_BUF_LEN: usize = 16 * 1024;

thread_local! {
    /// The pool of the core running on this thread, with the ring it belongs to; `None`
    /// when the kernel refused a buffer ring (tried once per ring).
    static CORE_POOL: std::cell::RefCell<Option<(RingHandle, Option<BufPool>)>> =
        const { std::cell::RefCell::new(None) };
}

/// The provided-buffer pool hyper connections on this core share (group [`POOL_GROUP`],
/// registered at first use, kept for the life of the thread or until a new runtime runs on
/// it); `None` outside a runtime or where the kernel has no buffer rings (before 5.19).
pub fn core_pool() -> Option<BufPool> {
    let ring = RingHandle::current().ok()?;
    CORE_POOL.with(|cell| {
        let mut cached = cell.borrow_mut();
        if let Some((r, pool)) = cached.as_ref()
            && *r == ring
        {
            return pool.clone();
        }
        // Drop the old pool (another runtime's) before registering the group again.
        *cached = None;
        let pool = match BufPool::new(POOL_GROUP, POOL_BUFS, POOL_BUF_LEN) {
            Ok(pool) => Some(pool),
            Err(e) => {
                tracing::info!(error = %e,
                    "no provided-buffer ring for hyper connections; one receive at a time");
                None
            }
        };
        *cached = Some((ring, pool.clone()));
        pool
    })
}

/// A stream a [`HyperIo`] can wrap: [`TcpStream`] and [`UnixStream`] (sealed).
pub trait HyperStream: sealed::Sealed {}

impl HyperStream for TcpStream {}
impl HyperStream for UnixStream {}

/// hyper's `Read` and `Write` over a stream of this runtime.
///
/// - **Read** comes from the socket's multishot receive on the core's provided-buffer pool
///   ([`RecvStream`]): one SQE per connection, re-armed only when the kernel ends it, so a
///   request costs no receive SQE and no syscall of its own. hyper lends its read buffer for
///   one call only, so the bytes are copied from the kernel's buffer into hyper's; a buffer
///   goes back to the pool once hyper has all of it. Without buffer rings (kernels before
///   5.19) one plain receive at a time fills an owned buffer instead.
/// - **Write** copies what hyper hands over (its headers and body slices, in one
///   `poll_write_vectored` call) into an owned buffer and returns `Ready` at once: from then on
///   the bytes are the adapter's to deliver. `poll_flush` hands the buffer to the stream's
///   [`SendQueue`](crate::SendQueue): one `SEND` whose SQE goes out with this loop turn's
///   `io_uring_enter`, together with every other connection's. Nobody waits for its
///   completion, which the ring hands to the queue: the buffer comes back for the next
///   response and the rest of a short send goes out from there, so a response costs no poll
///   of the connection of its own; a failed send is reported by the next write or flush.
///   Several responses written before one flush (pipelining) go out in one send. While a
///   send is in flight, up to [`WRITE_CAPACITY`] more bytes are taken; beyond that
///   `poll_write` waits for it, and so does `poll_flush` with bytes taken (and `poll_write`
///   after such a flush, until its bytes are handed over). A write of at least
///   [`DIRECT_SEND_MIN`] bytes with nothing queued or in flight before it skips the copy:
///   one non-blocking `sendmsg(2)` straight from hyper's slices (copying 16 KiB cost as much
///   CPU as the kernel's send); when the socket is full it is copied and sent on the ring.
/// - **Shutdown** sends everything taken, waits for it, then `SHUT_WR`.
///
/// # Cancel safety
/// hyper's I/O calls are polls: the receive and the send live in the `HyperIo`, not in a
/// caller's future, so a poll that returned `Pending` and is never repeated loses nothing.
/// Bytes are taken from hyper exactly when `poll_write*` returns `Ready(n)`, and sent once.
/// Dropping a `HyperIo` (or [`HyperIo::into_inner`]) gives the received bytes hyper did not
/// read back to the stream, and what dropped receives took keeps for its next read (see
/// `kept`); a send in flight finishes in the background, and bytes taken but not yet sent
/// are sent by a task of their own.
///
///
/// # Examples
/// hyper's client over a Unix socket pair, against hyper's server:
/// ```
/// use http_body_util::{BodyExt, Empty, Full};
/// use hyper::body::Bytes;
/// use net::UnixStream;
/// use net::hyper::HyperIo;
///
/// runtime::Runtime::new()?.block_on(async {
///     let (a, b) = UnixStream::pair()?;
///     runtime::spawn(hyper::server::conn::http1::Builder::new().serve_connection(
///         HyperIo::new(b),
///         hyper::service::service_fn(|_req| async {
///             Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(Bytes::from("hi"))))
///         }),
///     ));
///     let (mut sender, conn) = hyper::client::conn::http1::handshake(HyperIo::new(a))
///         .await
///         .map_err(std::io::Error::other)?;
///     runtime::spawn(conn);
///     let req = hyper::Request::get("/").body(Empty::<Bytes>::new()).map_err(std::io::Error::other)?;
///     let res = sender.send_request(req).await.map_err(std::io::Error::other)?;
///     let body = res.into_body().collect().await.map_err(std::io::Error::other)?;
///     assert_eq!(body.to_bytes(), "hi");
///     Ok::<_, std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct HyperIo<S> {
    stream: S,
    reader: Reader,
    writer: Writer,
    shutdown: ShutdownSide,
}

impl<S: HyperStream> HyperIo<S> {
    /// Wraps `stream`, receiving into the core's pool ([`core_pool`]; one receive at a time
    /// where there is none).
    pub fn new(stream: S) -> HyperIo<S> {
        let pool = core_pool();
        HyperIo::build(stream, pool.as_ref())
    }

    /// Wraps `stream`, receiving into `pool` (which must belong to this core's ring), or
    /// one receive at a time into an owned buffer for `None`.
    pub fn with_pool(stream: S, pool: Option<&BufPool>) -> HyperIo<S> {
        HyperIo::build(stream, pool)
    }

    fn build(stream: S, pool: Option<&BufPool>) -> HyperIo<S> {
        let io = sealed::Sealed::stream_io(&stream).0.clone();
        let source = match pool {
            Some(pool) => Source::Multishot {
                stream: io.recv_stream(pool),
                unread: None,
            },
            None => Source::Single(Single::Buffered {
                buf: Vec::new(),
                pos: 0,
            }),
        };
        HyperIo {
            stream,
            reader: Reader {
                io: io.clone(),
                source,
            },
            writer: Writer::new(io),
            shutdown: ShutdownSide::Open,
        }
    }
}

impl<S> HyperIo<S> {
    /// The stream, for its address and options. Write to it only after
    /// [`HyperIo::into_inner`]: bytes the `HyperIo` took from hyper and has not handed to a
    /// send yet would go out after such a write.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// The stream back: received bytes hyper did not read go back to it (its next read
    /// returns them), and bytes taken but not sent are sent in the background, in order
    /// before any later write of the stream.
    pub fn into_inner(self) -> S {
        self.stream
    }
}

impl<S> std::fmt::Debug for HyperIo<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HyperIo")
            .field("io", &self.writer.io)
            .field("pending", &self.writer.pending.len())
            .field("queue", &self.writer.queue)
            .finish()
    }
}

/// The read side: where received bytes come from, and those hyper has not read yet.
struct Reader {
    io: StreamIo,
    source: Source,
}

enum Source {
    /// The multishot receive, and the buffer hyper is reading (with how much it read).
    Multishot {
        stream: RecvStream,
        unread: Option<(ProvidedBuf, usize)>,
    },
    /// One receive at a time into an owned buffer (no buffer ring).
    Single(Single),
}

enum Single {
    /// `buf[pos..]` was received and not yet read.
    Buffered { buf: Vec<u8>, pos: usize },
    /// A receive into the (cleared) buffer is in flight.
    Receiving(Op<Recv<Vec<u8>>>),
}

impl Reader {
    /// Copies received bytes into `dst`, receiving first if none are waiting; at most one
    /// buffer's worth. Ready with nothing copied at end of stream.
    fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        dst: &mut ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        if dst.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        match &mut self.source {
            Source::Multishot { stream, unread } => loop {
                if let Some((buf, pos)) = unread {
                    let n = (buf.len() - *pos).min(dst.remaining());
                    dst.put_slice(&buf[*pos..*pos + n]);
                    *pos += n;
                    if *pos == buf.len() {
                        // All of it read: the buffer goes back to the ring now.
                        *unread = None;
                    }
                    // One buffer per call: hyper asks again when it needs more, and a poll
                    // of the receive that finds nothing costs as much as one that does.
                    return Poll::Ready(Ok(()));
                }
                match ready!(Stream::poll_next(Pin::new(&mut *stream), cx)) {
                    Some(Ok(buf)) => *unread = Some((buf, 0)),
                    // End of stream: nothing copied reads as such.
                    None => return Poll::Ready(Ok(())),
                    Some(Err(e)) => return Poll::Ready(Err(e)),
                }
            },
            Source::Single(single) => {
                ready!(poll_fill_single(single, &self.io, cx))?;
                if let Single::Buffered { buf, pos } = single {
                    let n = (buf.len() - *pos).min(dst.remaining());
                    dst.put_slice(&buf[*pos..*pos + n]);
                    *pos += n;
                }
                Poll::Ready(Ok(()))
            }
        }
    }

    /// Ready once received bytes wait unread ([`Reader::unread`]), or with none at the end
    /// of the stream; receives once if none wait. Reads nothing.
    #[cfg(feature = "hyper-http2")]
    fn poll_unread(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.unread().is_empty() {
            return Poll::Ready(Ok(()));
        }
        self.poll_receive(cx)
    }

    /// With nothing unread: receives once (bytes that then wait unread, or nothing at the end
    /// of the stream).
    #[cfg(feature = "hyper-http2")]
    fn poll_receive(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.source {
            Source::Multishot { stream, unread } => {
                match ready!(Stream::poll_next(Pin::new(&mut *stream), cx)) {
                    Some(Ok(buf)) => *unread = Some((buf, 0)),
                    None => {}
                    Some(Err(e)) => return Poll::Ready(Err(e)),
                }
                Poll::Ready(Ok(()))
            }
            Source::Single(single) => poll_fill_single(single, &self.io, cx),
        }
    }

    /// The received bytes hyper has not read.
    fn unread(&self) -> &[u8] {
        match &self.source {
            Source::Multishot {
                unread: Some((buf, pos)),
                ..
            } => &buf[*pos..],
            Source::Single(Single::Buffered { buf, pos }) => &buf[(*pos).min(buf.len())..],
            _ => &[],
        }
    }
}

/// Ready once `single` holds received bytes not yet read, or nothing at the end of the
/// stream; receives first if it holds none.
fn poll_fill_single(
    single: &mut Single,
    io: &StreamIo,
    cx: &mut Context<'_>,
) -> Poll<io::Result<()>> {
    loop {
        match single {
            Single::Buffered { buf, pos } if *pos < buf.len() => return Poll::Ready(Ok(())),
            Single::Buffered { buf, pos } => {
                *pos = 0;
                buf.clear();
                // Allocates once (reserve on an empty Vec asks for exactly this much).
                buf.reserve(FALLBACK_READ_CAPACITY);
                // What dropped reads of the stream kept comes first.
                let receiving = match ready!(io.received.poll_take_stream(cx, buf)) {
                    // A kept end of stream (it stays kept for later reads).
                    Kept::Some(Ok(0)) => return Poll::Ready(Ok(())),
                    Kept::Some(Ok(_)) => continue,
                    Kept::Some(Err(e)) => {
                        buf.clear();
                        return Poll::Ready(Err(e));
                    }
                    Kept::None(receiving) => receiving,
                };
                *single = Single::Receiving(Op::new(Recv {
                    fd: io.fd.clone(),
                    buf: std::mem::take(buf),
                    receiving,
                    flags: 0,
                }));
            }
            Single::Receiving(op) => {
                let (res, mut buf) = ready!(Pin::new(op).poll(cx));
                if res.is_err() {
                    buf.clear();
                }
                let eof = matches!(res, Ok(0));
                // Recv set the length to the bytes received.
                *single = Single::Buffered { buf, pos: 0 };
                match res {
                    Err(e) => return Poll::Ready(Err(e)),
                    Ok(_) if eof => return Poll::Ready(Ok(())),
                    Ok(_) => {}
                }
            }
        }
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        // Before anything a receive still in flight keeps (those bytes came later).
        self.io.received.give_back(self.unread());
    }
}

/// The write side: bytes taken from hyper, and the queue that sends them.
struct Writer {
    io: StreamIo,
    /// Sends what hyper wrote without the task: a send's completion gives its buffer back
    /// (to `spare`) and sends the rest of a short send from the reap, so a response costs
    /// no poll of its own; the task wakes only when it waits for the send before.
    queue: SendQueue<Reused>,
    /// Taken from hyper, not yet handed to the queue.
    pending: Vec<u8>,
    /// Handed to the queue and waiting for the stream's turn (the send before it to finish);
    /// empty once the queue took it (the `Vec` a sent batch left).
    batch: Vec<Reused>,
    /// That batch's place in the stream's line, from the first poll that waited for it.
    ticket: Option<Ticket>,
    /// Where a sent buffer comes back, emptied, to be the next `pending`: two buffers take
    /// turns, so the steady state allocates nothing.
    spare: Rc<Cell<Vec<u8>>>,
}

/// A buffer handed to the queue; once the queue is done with it (sent, or dropped unsent),
/// it goes back to its writer's `spare`.
struct Reused {
    buf: Vec<u8>,
    home: Rc<Cell<Vec<u8>>>,
}

// SAFETY: the bytes are those of `buf`'s heap block, which does not move when a `Reused`
// moves; nothing changes, moves or frees them until the `Reused` drops (the field is
// private to this module and read here only, and `Drop` is the one place that takes it).
unsafe impl IoBuf for Reused {
    fn stable_ptr(&self) -> *const u8 {
        self.buf.as_ptr()
    }

    fn bytes_init(&self) -> usize {
        self.buf.len()
    }

    fn bytes_total(&self) -> usize {
        self.buf.capacity()
    }
}

impl Drop for Reused {
    fn drop(&mut self) {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let kept = self.home.take();
        // The larger of the two stays.
        self.home.set(if kept.capacity() >= buf.capacity() {
            kept
        } else {
            buf
        });
    }
}

impl Writer {
    fn new(io: StreamIo) -> Writer {
        Writer {
            queue: SendQueue::new(&io),
            io,
            pending: Vec::new(),
            batch: Vec::new(),
            ticket: None,
            spare: Rc::default(),
        }
    }

    /// Hands the batch waiting for its turn, then what is pending, to the queue; Ready once
    /// both are on the ring, which waits for the send before each. Reports how an earlier
    /// send failed, or why the batch could not go now (polled outside its runtime, the ring
    /// refused it): the queue took nothing then, and the bytes stay (with the batch's place
    /// in line) for the next call, or for `Drop`, which sends them or leaves the stream's
    /// next write an error.
    fn poll_submit(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            if self.batch.is_empty() {
                if self.pending.is_empty() {
                    return Poll::Ready(Ok(()));
                }
                let buf = std::mem::take(&mut self.pending);
                let home = self.spare.clone();
                self.batch.push(Reused { buf, home });
            }
            ready!(self.queue.poll_send(cx, &mut self.batch, &mut self.ticket))?;
        }
    }

    /// Takes up to the room left of `bufs`, first handing what is pending to the queue when
    /// full.
    fn poll_take(&mut self, cx: &mut Context<'_>, bufs: &[IoSlice<'_>]) -> Poll<io::Result<usize>> {
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if total == 0 {
            return Poll::Ready(Ok(0));
        }
        if let Some(e) = self.queue.take_failure() {
            return Poll::Ready(Err(e));
        }
        // The stream's turn is free only with no send in flight or in line (and no gap of
        // a dropped write to report first).
        if total >= DIRECT_SEND_MIN
            && self.pending.is_empty()
            && self.batch.is_empty()
            && let Some(turn) = self.io.sent.start_if_free()
        {
            let sent = self.send_now(bufs);
            drop(turn);
            if let Some(n) = sent? {
                return Poll::Ready(Ok(n));
            }
        }
        if !self.batch.is_empty() || self.pending.len() >= WRITE_CAPACITY {
            ready!(self.poll_submit(cx))?;
        }
        if self.pending.capacity() == 0 {
            self.pending = self.spare.take();
        }
        let want = total.min(WRITE_CAPACITY - self.pending.len());
        self.pending.reserve(want);
        let mut left = want;
        for b in bufs {
            let n = b.len().min(left);
            self.pending.extend_from_slice(&b[..n]);
            left -= n;
            if left == 0 {
                break;
            }
        }
        Poll::Ready(Ok(want))
    }

    /// A large write with nothing queued before it: one non-blocking `sendmsg(2)` straight
    /// from hyper's slices, which costs less than copying them (a 16 KiB body's copy cost as
    /// much CPU as the kernel's own). `None` when the socket buffer is full (`EAGAIN`): the
    /// caller copies instead, and a send on the ring waits for room.
    fn send_now(&self, bufs: &[IoSlice<'_>]) -> io::Result<Option<usize>> {
        let bufs = &bufs[..bufs.len().min(MAX_IOVECS)];
        // SAFETY: an all-zero msghdr is valid (no name, no control data).
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        // IoSlice is ABI-compatible with iovec (std documents it), and the kernel only reads
        // through msg_iov, during this call, while `bufs` is borrowed.
        msg.msg_iov = bufs.as_ptr() as *mut libc::iovec;
        msg.msg_iovlen = bufs.len();
        // SAFETY: `msg` points to `bufs.len()` valid iovecs of borrowed, initialized memory;
        // the call is synchronous, so nothing outlives the borrow; the fd is kept open by `io`.
        let n = unsafe {
            libc::sendmsg(
                self.io.fd.raw(),
                &msg,
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            )
        };
        if n >= 0 {
            return Ok(Some(n as usize));
        }
        let e = io::Error::last_os_error();
        match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(None),
            _ => Err(e),
        }
    }

    /// Hands what is pending to the queue (behind the send in flight), without waiting for
    /// it to go out.
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(e) = self.queue.take_failure() {
            return Poll::Ready(Err(e));
        }
        self.poll_submit(cx)
    }

    /// Sends everything taken and waits until it went out.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_submit(cx))?;
        self.queue.poll_flush(cx)
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // A send in flight finishes on its own (the ring holds the queue's state), and a
        // failure of it is reported by the stream's next write.
        if self.pending.is_empty() && self.batch.is_empty() {
            return;
        }
        // Bytes taken from hyper and not yet sent: they take their place in the stream's
        // line now (the batch's own place if it had one), behind the send in flight, before
        // any later write. A task of their own sends them, all of it, or the next write of
        // the stream reports what could not be sent.
        let mut bufs = std::mem::take(&mut self.batch);
        if !self.pending.is_empty() {
            let buf = std::mem::take(&mut self.pending);
            let home = self.spare.clone();
            bufs.push(Reused { buf, home });
        }
        let len = bufs.iter().map(IoBuf::bytes_init).sum();
        let ticket = self.ticket.take().unwrap_or_else(|| self.io.sent.ticket());
        let io = self.io.clone();
        let nothing_before = std::future::ready(Ok(()));
        send_in_background(ticket, len, nothing_before, move |turn| async move {
            let (res, _bufs) = io.write_all_vectored_in(bufs, Some(turn)).await;
            res.map(|()| len)
        });
    }
}

enum ShutdownSide {
    Open,
    /// `SHUT_WR` in flight, after every write in the stream's line (dropped writes of the
    /// stream included), with the error one of those left (reported after the shutdown).
    ShuttingDown(Op<Shutdown>, Option<io::Error>),
    Done,
}

impl<S: Unpin> ::hyper::rt::Read for HyperIo<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.reader.poll_read(cx, &mut buf)
    }
}

impl<S: Unpin> HyperIo<S> {
    /// Ready with received bytes hyper has not read (receiving if none wait; none at the end
    /// of the stream); reads none of them, so hyper's reads still see every byte. How
    /// [`Server`](super::Server) tells HTTP/2 from HTTP/1.1 by a connection's first bytes.
    #[cfg(feature = "hyper-http2")]
    pub(crate) fn poll_unread(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        ready!(self.reader.poll_unread(cx))?;
        Poll::Ready(Ok(self.reader.unread()))
    }

    fn write_open(&self) -> io::Result<()> {
        match self.shutdown {
            ShutdownSide::Open => Ok(()),
            _ => Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "write after shutdown",
            )),
        }
    }
}

impl<S: Unpin> ::hyper::rt::Write for HyperIo<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.write_open()?;
        this.writer.poll_take(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.write_open()?;
        this.writer.poll_take(cx, bufs)
    }

    /// `true`: hyper then hands headers and body slices over in one call (instead of copying
    /// them into a buffer of its own first), and they go out in one send.
    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().writer.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            match &mut this.shutdown {
                ShutdownSide::Done => return Poll::Ready(Ok(())),
                ShutdownSide::Open => {
                    ready!(this.writer.poll_drain(cx))?;
                    let earlier = ready!(this.writer.io.sent.poll_start(cx)).err();
                    this.shutdown = ShutdownSide::ShuttingDown(
                        Op::new(Shutdown {
                            fd: this.writer.io.fd.clone(),
                            how: libc::SHUT_WR,
                        }),
                        earlier,
                    );
                }
                ShutdownSide::ShuttingDown(op, earlier) => {
                    let res = match ready!(Pin::new(op).poll(cx)) {
                        // The peer reset the connection: there is nothing left to shut down
                        // (what we sent before went out, or its error came first), as
                        // tokio's `TcpStream` answers too.
                        Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => Ok(()),
                        res => res,
                    };
                    let earlier = earlier.take();
                    this.shutdown = match res {
                        Ok(()) => ShutdownSide::Done,
                        Err(_) => ShutdownSide::Open,
                    };
                    return Poll::Ready(res.and(earlier.map_or(Ok(()), Err)));
                }
            }
        }
    }
}
