//! [`HyperIo`]: hyper's `Read`/`Write` over a [`TcpStream`] or [`UnixStream`].
//!
//! Design notes are on [`HyperIo`].

use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use ::hyper::rt::ReadBufCursor;
use futures_core::Stream;
use runtime::buf::{BufPool, IoBuf, ProvidedBuf, Slice};
use runtime::op::{Op, RingHandle};

use crate::fd::SharedFd;
use crate::kept::{Kept, Sending, send_in_background};
use crate::op::{recv::Recv, send::Send, shutdown::Shutdown};
use crate::stream::{RecvStream, StreamIo, sealed};
use crate::{TcpStream, UnixStream};

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
///   the bytes are the adapter's to deliver. `poll_flush` hands the buffer to one `SEND`
///   whose SQE goes out with this loop turn's `io_uring_enter`, together with every other
///   connection's; it does not wait for the completion: the task's next read, write or
///   flush collects it, and the next write or flush reports its error. A send that went out
///   whole wakes nobody ([`Op::poll_quietly`]), so a response costs one poll of the
///   connection, not two; a short or failed one wakes the task, which resubmits the rest at
///   once. Several responses written before one flush (pipelining) go out in one send.
///   While a send is in flight, up to
///   [`WRITE_CAPACITY`] more bytes are taken; beyond that `poll_write` waits. A write of at
///   least [`DIRECT_SEND_MIN`] bytes with nothing queued before it skips the copy: one
///   non-blocking `sendmsg(2)` straight from hyper's slices (copying 16 KiB cost as much CPU
///   as the kernel's send); when the socket is full it is copied and sent on the ring.
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
                failed: None,
            },
            writer: Writer {
                io,
                pending: Vec::new(),
                sending: None,
                spare: Vec::new(),
                failed: None,
                awaited: false,
            },
            shutdown: ShutdownSide::Open,
        }
    }
}

impl<S> HyperIo<S> {
    /// The stream, for its address and options. Write to it only after
    /// [`HyperIo::into_inner`]: a send of the `HyperIo` that went out whole keeps the
    /// stream's turn to write until the `HyperIo` is next polled (its completion wakes
    /// nobody), so a write through this reference waits until then, for ever if the task
    /// waits on that write instead of polling the `HyperIo`.
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
            .field("sending", &self.writer.sending.is_some())
            .finish()
    }
}

/// The read side: where received bytes come from, and those hyper has not read yet.
struct Reader {
    io: StreamIo,
    source: Source,
    /// A receive error that came after bytes hyper had not read yet: for the next read.
    failed: Option<io::Error>,
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
    /// Copies received bytes into `dst`, receiving first if none are waiting; more than one
    /// buffer's worth if more are ready and `dst` has room. Ready with nothing copied at end
    /// of stream.
    fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        dst: &mut ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        if dst.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        match &mut self.source {
            Source::Multishot { stream, unread } => {
                let mut copied = false;
                loop {
                    if let Some((buf, pos)) = unread {
                        let n = (buf.len() - *pos).min(dst.remaining());
                        dst.put_slice(&buf[*pos..*pos + n]);
                        *pos += n;
                        copied |= n > 0;
                        if *pos < buf.len() {
                            return Poll::Ready(Ok(()));
                        }
                        // All of it read: the buffer goes back to the ring now.
                        *unread = None;
                        if dst.remaining() == 0 {
                            return Poll::Ready(Ok(()));
                        }
                    }
                    if let Some(e) = self.failed.take() {
                        return match copied {
                            false => Poll::Ready(Err(e)),
                            // Bytes first; the error with the next read.
                            true => {
                                self.failed = Some(e);
                                Poll::Ready(Ok(()))
                            }
                        };
                    }
                    match Stream::poll_next(Pin::new(&mut *stream), cx) {
                        Poll::Ready(Some(Ok(buf))) => *unread = Some((buf, 0)),
                        // End of stream: nothing copied reads as such; else next time.
                        Poll::Ready(None) => return Poll::Ready(Ok(())),
                        Poll::Ready(Some(Err(e))) => self.failed = Some(e),
                        Poll::Pending if copied => return Poll::Ready(Ok(())),
                        Poll::Pending => return Poll::Pending,
                    }
                }
            }
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
        if let Some(e) = self.failed.take() {
            return Poll::Ready(Err(e));
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

/// The write side: bytes taken from hyper, and the send in flight.
struct Writer {
    io: StreamIo,
    /// Taken from hyper, not yet handed to a send.
    pending: Vec<u8>,
    /// The send in flight: the slice's range of its buffer is being sent (the bytes before
    /// it went out already).
    sending: Option<InFlight>,
    /// An empty buffer for the next `pending` (the last finished send's): two buffers take
    /// turns, so the steady state allocates nothing.
    spare: Vec<u8>,
    /// A send's error met by a read's [`Writer::reap`], for the next write or flush.
    failed: Option<io::Error>,
    /// A call waits for the send in flight ([`Wait::Loud`] returned Pending): until no send
    /// is in flight, every poll of it is loud, or a quiet one (a read's reap in the same task
    /// poll) would silence the wake that call waits for.
    awaited: bool,
}

/// A send in flight and the result that says it sent everything.
struct InFlight {
    op: Op<Send<Slice<Vec<u8>>>>,
    whole: Option<u32>,
}

impl InFlight {
    fn new(buf: Slice<Vec<u8>>, sending: Sending, fd: &SharedFd) -> InFlight {
        let whole = u32::try_from(buf.end() - buf.begin()).ok();
        InFlight {
            op: Op::new(Send {
                fd: fd.clone(),
                buf,
                sending: Some(sending),
                zero_copy: false,
            }),
            whole,
        }
    }
}

/// How [`Writer::poll_sent`] polls the send in flight.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// The caller waits for the send: its completion wakes the task.
    Loud,
    /// The caller only collects a finished send: a send that went out whole wakes nobody
    /// (the task's next read, write or flush collects it), one that ended short or failed
    /// wakes the task, whose next call then sends the rest at once (the peer may wait for
    /// it before it sends what would make hyper call again).
    Quiet,
}

impl Writer {
    /// Waits until no send is in flight, resubmitting the rest of a short send; reports a
    /// failed send's error (its unsent bytes are dropped: the stream is broken).
    fn poll_sent(&mut self, cx: &mut Context<'_>, wait: Wait) -> Poll<io::Result<()>> {
        loop {
            let Some(InFlight { op, whole }) = self.sending.as_mut() else {
                self.awaited = false;
                return Poll::Ready(Ok(()));
            };
            let polled = match (wait, *whole) {
                (Wait::Quiet, Some(whole)) if !self.awaited => op.poll_quietly(cx, whole),
                _ => Pin::new(op).poll(cx),
            };
            let Poll::Ready((res, slice)) = polled else {
                self.awaited |= wait == Wait::Loud;
                return Poll::Pending;
            };
            let (begin, end) = (slice.begin(), slice.end());
            let mut buf = slice.into_inner();
            let rest = match res {
                Ok(n) if begin + n >= end => None,
                Ok(0) => Some(Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "the socket accepted no bytes",
                ))),
                Ok(n) => Some(Ok(begin + n)),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => Some(Ok(begin)),
                Err(e) => Some(Err(e)),
            };
            match rest {
                Some(Ok(from)) => {
                    let sending = self.io.sent.resume();
                    self.sending = Some(InFlight::new(buf.slice(from..end), sending, &self.io.fd));
                }
                done => {
                    self.sending = None;
                    buf.clear();
                    if buf.capacity() > self.spare.capacity() {
                        self.spare = buf;
                    }
                    if let Some(Err(e)) = done {
                        return Poll::Ready(Err(e));
                    }
                }
            }
        }
    }

    /// As [`Writer::poll_sent`], without waiting: collects a finished send (resubmitting the
    /// rest of a short one), or pushes the SQE of one not yet submitted. A send that goes out
    /// whole wakes nobody: the task's next read, write or flush collects it. One that ends
    /// short or fails wakes this task, whose next call reaps it: the rest of a short send
    /// must not wait for hyper's next call, which may only come after the peer answers.
    fn reap(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        match self.poll_sent(cx, Wait::Quiet) {
            Poll::Ready(res) => res,
            Poll::Pending => Ok(()),
        }
    }

    /// [`Writer::reap`] from the read side: a send's error waits for the next write.
    fn reap_for_read(&mut self, cx: &mut Context<'_>) {
        if self.sending.is_some()
            && let Err(e) = self.reap(cx)
        {
            self.failed = Some(e);
        }
    }

    /// Hands `pending` to a send; no send may be in flight. Its SQE is pushed now, to go out
    /// with this loop turn's enter.
    fn poll_submit(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        debug_assert!(self.sending.is_none(), "a send is in flight already");
        if self.pending.is_empty() {
            return Poll::Ready(Ok(()));
        }
        // After writes of the stream dropped before this adapter took it over.
        let sending = ready!(self.io.sent.poll_start(cx))?;
        let buf = std::mem::replace(&mut self.pending, std::mem::take(&mut self.spare));
        let len = buf.len();
        self.sending = Some(InFlight::new(buf.slice(0..len), sending, &self.io.fd));
        Poll::Ready(self.reap(cx))
    }

    /// Takes up to the room left of `bufs`, first handing what is pending to a send when
    /// full.
    fn poll_take(&mut self, cx: &mut Context<'_>, bufs: &[IoSlice<'_>]) -> Poll<io::Result<usize>> {
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if total == 0 {
            return Poll::Ready(Ok(0));
        }
        self.reap(cx)?;
        if total >= DIRECT_SEND_MIN && self.pending.is_empty() && self.sending.is_none() {
            // After writes of the stream dropped before this adapter took it over.
            drop(ready!(self.io.sent.poll_start(cx))?);
            if let Some(sent) = self.send_now(bufs)? {
                return Poll::Ready(Ok(sent));
            }
        }
        if self.pending.len() >= WRITE_CAPACITY {
            ready!(self.poll_sent(cx, Wait::Loud))?;
            ready!(self.poll_submit(cx))?;
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

    /// Hands what is pending to a send (after the one in flight), without waiting for it.
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.reap(cx)?;
        if self.pending.is_empty() {
            return Poll::Ready(Ok(()));
        }
        ready!(self.poll_sent(cx, Wait::Loud))?;
        self.poll_submit(cx)
    }

    /// Sends everything taken and waits until it went out.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            ready!(self.poll_sent(cx, Wait::Loud))?;
            if self.pending.is_empty() {
                return Poll::Ready(Ok(()));
            }
            ready!(self.poll_submit(cx))?;
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // A send in flight with nothing after it finishes in the background (sends are not
        // cancelled; a dropped op that ends short leaves the stream's next write an error).
        if self.pending.is_empty() {
            return;
        }
        // Bytes taken from hyper and not yet sent: they take their place in the stream's
        // line of writes now, behind the send in flight (which holds the stream's turn),
        // before any later write. A task of their own finishes the send in flight, then
        // sends them, all of it (a short send goes on from where it stopped, as in
        // `poll_sent`), or the next write of the stream reports what could not be sent.
        let pending = std::mem::take(&mut self.pending);
        let len = pending.len();
        let ticket = self.io.sent.ticket();
        let writer = |io: StreamIo, sending| Writer {
            io,
            pending: Vec::new(),
            sending,
            spare: Vec::new(),
            failed: None,
            awaited: false,
        };
        let mut in_flight = writer(self.io.clone(), self.sending.take());
        let before =
            async move { std::future::poll_fn(|cx| in_flight.poll_sent(cx, Wait::Loud)).await };
        let io = self.io.clone();
        send_in_background(ticket, len, before, move |sending| async move {
            let first = InFlight::new(pending.slice(0..len), sending, &io.fd);
            let mut rest = writer(io, Some(first));
            std::future::poll_fn(|cx| rest.poll_sent(cx, Wait::Loud))
                .await
                .map(|()| len)
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
        this.writer.reap_for_read(cx);
        this.reader.poll_read(cx, &mut buf)
    }
}

impl<S: Unpin> HyperIo<S> {
    /// Ready with received bytes hyper has not read (receiving if none wait; none at the end
    /// of the stream); reads none of them, so hyper's reads still see every byte. How
    /// [`Server`](super::Server) tells HTTP/2 from HTTP/1.1 by a connection's first bytes.
    #[cfg(feature = "hyper-http2")]
    pub(crate) fn poll_unread(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        self.writer.reap_for_read(cx);
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
