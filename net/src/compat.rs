//! Poll-based I/O for ecosystem crates: [`Compat`] gives a [`TcpStream`] or [`UnixStream`]
//! the `AsyncRead`/`AsyncBufRead`/`AsyncWrite` traits of `futures-io` (feature
//! `futures-io`) and of tokio (feature `tokio`; the traits only, no tokio runtime), so
//! crates such as hyper run on this runtime.
//!
//! # How it maps a completion API onto poll-based traits
//! The kernel must own the buffer of an op until its completion, while a poll-based read
//! lends the caller's buffer only for the duration of one call. So `Compat` owns one read
//! buffer and one write buffer, reused from op to op (no allocation per call on the steady
//! path), and copies:
//! - **read**: `poll_read` hands out what the last receive left in the read buffer; when it
//!   is empty it submits a receive into it and keeps that op *inside `Compat`*. A poll that
//!   returns `Pending` leaves the op in flight, so dropping the caller's future (a timeout, a
//!   `select!` that took another branch) loses nothing: the next `poll_read` takes up the
//!   same op and its data.
//! - **write**: `poll_write` copies the caller's bytes into the write buffer, submits one
//!   send and returns `Ready(n)` at once: from then on the bytes are `Compat`'s to deliver
//!   (resubmitting the rest after a short send). The next `poll_write`, `poll_flush` or
//!   `poll_shutdown`/`poll_close` first waits for that send, and reports its error if it
//!   failed. Returning `Pending` until the send completed would be ambiguous instead: a
//!   caller who drops its write future after `Pending` believes nothing was written while
//!   the kernel sends the copy anyway.
//! - **shutdown/close**: flushes, then `IORING_OP_SHUTDOWN` of the write side.
//!
//! Dropping a `Compat` loses nothing it received: a receive in flight keeps its bytes for
//! the stream, and unread buffered bytes go back to it. A send in flight finishes in the
//! background; bytes still in the write buffer that no send has taken are not sent, so
//! flush or shut down first, as with any buffered writer.
//!
//! # Examples
//! ```
//! # #[cfg(feature = "tokio")]
//! # fn main() -> std::io::Result<()> {
//! use std::pin::Pin;
//! use net::compat::Compat;
//! use net::UnixStream;
//! use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
//!
//! runtime::Runtime::new()?.block_on(async {
//!     let (a, b) = UnixStream::pair()?;
//!     let (mut a, mut b) = (Compat::new(a), Compat::new(b));
//!     std::future::poll_fn(|cx| Pin::new(&mut a).poll_write(cx, b"hi")).await?;
//!     std::future::poll_fn(|cx| Pin::new(&mut a).poll_flush(cx)).await?;
//!     let mut buf = [0u8; 8];
//!     let mut read = ReadBuf::new(&mut buf);
//!     std::future::poll_fn(|cx| Pin::new(&mut b).poll_read(cx, &mut read)).await?;
//!     assert_eq!(read.filled(), b"hi");
//!     Ok(())
//! })
//! # }
//! # #[cfg(not(feature = "tokio"))]
//! # fn main() {}
//! ```

use std::future::Future;
use std::io;
use std::io::IoSlice;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use runtime::buf::{IoBuf, Slice};
use runtime::op::Op;

use crate::kept::{Kept, Received};
use crate::op::{recv::Recv, send::Send, shutdown::Shutdown};
use crate::stream::{StreamIo, sealed};
use crate::{TcpStream, UnixStream};

/// The read buffer's default capacity: the most one receive takes from the socket.
pub const DEFAULT_READ_CAPACITY: usize = 16 * 1024;
/// The write buffer's default capacity: the most one `poll_write` takes from the caller.
pub const DEFAULT_WRITE_CAPACITY: usize = 64 * 1024;

/// A stream with poll-based `AsyncRead`/`AsyncBufRead`/`AsyncWrite` (see the [module
/// docs](self)); made by [`Compat::new`] from a [`TcpStream`] or a [`UnixStream`].
///
/// # Cancel safety
/// Reads are cancel safe: the receive lives in the `Compat`, so a dropped read future loses
/// nothing, and a dropped (or unwrapped) `Compat` gives its unread bytes back to the stream.
/// Writes take bytes only when `poll_write` returns `Ready`; flush before dropping a
/// `Compat`: a send in flight still finishes, but the rest of a short send is not sent.
pub struct Compat<S> {
    inner: S,
    io: StreamIo,
    read: ReadSide,
    read_capacity: usize,
    write: WriteSide,
    write_capacity: usize,
    shutdown: ShutdownSide,
}

/// The read buffer, or the receive that has it.
enum ReadSide {
    /// `buf[pos..]` was received and not yet handed out.
    Buffered(Unread),
    /// A receive into the (cleared) buffer is in flight.
    Receiving(Op<Recv<Vec<u8>>>),
}

/// Received bytes not yet handed out. Dropped (with the `Compat`), it gives them back to the
/// stream, whose next read returns them: a dropped `Compat` loses nothing it received.
struct Unread {
    buf: Vec<u8>,
    pos: usize,
    received: Received,
}

impl Drop for Unread {
    fn drop(&mut self) {
        self.received
            .give_back(&self.buf[self.pos.min(self.buf.len())..]);
    }
}

/// The write buffer, or the send that has it.
enum WriteSide {
    /// Nothing in flight; the buffer is empty.
    Idle(Vec<u8>),
    /// A send of the slice's range of the buffer is in flight; the bytes before the range
    /// were sent already, the ones after it are still to send.
    Sending(Op<Send<Slice<Vec<u8>>>>),
}

enum ShutdownSide {
    Open,
    /// `SHUT_WR` in flight, after every write in the stream's line (dropped writes of the
    /// stream included), with the error one of those left (reported after the shutdown).
    ShuttingDown(Op<Shutdown>, Option<io::Error>),
    Done,
}

/// A stream [`Compat`] can wrap: [`TcpStream`], [`UnixStream`] and TCP's split halves
/// ([`OwnedReadHalf`](crate::OwnedReadHalf), [`OwnedWriteHalf`](crate::OwnedWriteHalf)) (sealed).
pub trait CompatStream: sealed::Sealed {}

impl CompatStream for TcpStream {}
impl CompatStream for UnixStream {}

/// The halves of [`TcpStream::into_split`]: `Compat::new(read_half)` reads for one task while
/// `Compat::new(write_half)` writes for another. Each `Compat` has both sets of traits (both
/// halves share the socket, and what dropped reads and writes left behind); use each in its
/// own half's direction.
impl CompatStream for crate::OwnedReadHalf {}
impl CompatStream for crate::OwnedWriteHalf {}

impl<S: CompatStream> Compat<S> {
    /// Wraps a stream, with the default buffer capacities.
    pub fn new(stream: S) -> Compat<S> {
        let io = sealed::Sealed::stream_io(&stream).0.clone();
        let received = io.received.clone();
        Compat {
            inner: stream,
            io,
            read: ReadSide::Buffered(Unread {
                buf: Vec::new(),
                pos: 0,
                received,
            }),
            read_capacity: DEFAULT_READ_CAPACITY,
            write: WriteSide::Idle(Vec::new()),
            write_capacity: DEFAULT_WRITE_CAPACITY,
            shutdown: ShutdownSide::Open,
        }
    }
}

impl<S> Compat<S> {
    /// Sets the buffer capacities: `read` bounds one receive, `write` one `poll_write`.
    /// Both buffers are allocated at first use and then reused. Each is clamped to 1 byte
    /// ..= 64 MiB (0 would make no progress, and a huge one is an allocation that aborts).
    pub fn with_capacity(mut self, read: usize, write: usize) -> Compat<S> {
        const MAX: usize = 64 << 20;
        self.read_capacity = read.clamp(1, MAX);
        self.write_capacity = write.clamp(1, MAX);
        self
    }

    /// The stream.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The stream back. Received bytes not yet read go back to the stream (its next read
    /// returns them); a send in flight finishes in the background; bytes not yet handed to
    /// a send (a short send's rest) are not sent, so flush first.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// The received bytes not yet consumed; when there are none, receives more (keeping the
    /// receive in flight across `Pending`). An empty slice means end of stream.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        ready!(self.poll_receive(cx))?;
        match &self.read {
            ReadSide::Buffered(Unread { buf, pos, .. }) => Poll::Ready(Ok(&buf[*pos..])),
            ReadSide::Receiving(_) => {
                unreachable!("poll_receive returned with a receive in flight")
            }
        }
    }

    /// Makes `read` hold a buffer with unread bytes, or an empty one at end of stream.
    fn poll_receive(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            match &mut self.read {
                ReadSide::Buffered(Unread { buf, pos, .. }) if *pos < buf.len() => {
                    return Poll::Ready(Ok(()));
                }
                ReadSide::Buffered(unread) => {
                    unread.pos = 0;
                    unread.buf.clear();
                    // Allocates once (reserve on an empty Vec asks for exactly this much).
                    unread.buf.reserve(self.read_capacity);
                    // What dropped reads of the stream kept comes first.
                    let receiving = match self.io.received.poll_take_stream(cx, &mut unread.buf) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Kept::Some(res)) => {
                            if res.is_err() {
                                unread.buf.clear();
                            }
                            return Poll::Ready(res.map(drop));
                        }
                        Poll::Ready(Kept::None(receiving)) => receiving,
                    };
                    let buf = std::mem::take(&mut unread.buf);
                    self.read = ReadSide::Receiving(Op::new(Recv {
                        fd: self.io.fd.clone(),
                        buf,
                        receiving,
                        flags: 0,
                    }));
                }
                ReadSide::Receiving(op) => {
                    let (res, mut buf) = ready!(Pin::new(op).poll(cx));
                    if res.is_err() {
                        buf.clear();
                    }
                    // Recv set the length to the bytes received (0 at end of stream).
                    self.read = ReadSide::Buffered(Unread {
                        buf,
                        pos: 0,
                        received: self.io.received.clone(),
                    });
                    return Poll::Ready(res.map(drop));
                }
            }
        }
    }

    /// Marks `n` bytes of [`Compat::poll_fill`]'s slice as read.
    fn consume(&mut self, n: usize) {
        if let ReadSide::Buffered(Unread { buf, pos, .. }) = &mut self.read {
            *pos = (*pos + n).min(buf.len());
        }
    }

    /// Copies into `dst` what is buffered, receiving first if nothing is (for `futures_io`'s
    /// `poll_read`; tokio's reads through `poll_fill` into its `ReadBuf`).
    #[cfg(feature = "futures-io")]
    fn poll_read_into(&mut self, cx: &mut Context<'_>, dst: &mut [u8]) -> Poll<io::Result<usize>> {
        if dst.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let src = ready!(self.poll_fill(cx))?;
        let n = src.len().min(dst.len());
        dst[..n].copy_from_slice(&src[..n]);
        self.consume(n);
        Poll::Ready(Ok(n))
    }

    /// Waits until no send is in flight, resubmitting the rest after a short send. Reports
    /// the error of a failed send (its unsent bytes are dropped).
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            let WriteSide::Sending(op) = &mut self.write else {
                return Poll::Ready(Ok(()));
            };
            let (res, slice) = ready!(Pin::new(op).poll(cx));
            let (begin, end) = (slice.begin(), slice.end());
            let mut buf = slice.into_inner();
            let err = match res {
                Ok(n) if begin + n >= end => None,
                Ok(0) => Some(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "the socket accepted no bytes",
                )),
                Ok(n) => {
                    self.write = WriteSide::Sending(Op::new(Send {
                        fd: self.io.fd.clone(),
                        buf: buf.slice(begin + n..end),
                        sending: Some(self.io.sent.resume()),
                        zero_copy: false,
                    }));
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    self.write = WriteSide::Sending(Op::new(Send {
                        fd: self.io.fd.clone(),
                        buf: buf.slice(begin..end),
                        sending: Some(self.io.sent.resume()),
                        zero_copy: false,
                    }));
                    continue;
                }
                Err(e) => Some(e),
            };
            buf.clear();
            self.write = WriteSide::Idle(buf);
            return Poll::Ready(err.map_or(Ok(()), Err));
        }
    }

    /// Copies up to the write capacity of `bufs` into the write buffer and submits a send of
    /// it, after the previous send completed.
    fn poll_write_from(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if bufs.iter().all(|b| b.is_empty()) {
            return Poll::Ready(Ok(0));
        }
        if matches!(
            self.shutdown,
            ShutdownSide::ShuttingDown(..) | ShutdownSide::Done
        ) {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "write after shutdown",
            )));
        }
        ready!(self.poll_drain(cx))?;
        // After the stream's dropped writes, before the caller's bytes are taken.
        let sending = ready!(self.io.sent.poll_start(cx))?;
        let WriteSide::Idle(buf) = &mut self.write else {
            unreachable!("poll_drain returned with a send in flight")
        };
        let mut buf = std::mem::take(buf);
        let want = bufs
            .iter()
            .map(|b| b.len())
            .sum::<usize>()
            .min(self.write_capacity);
        buf.reserve(want);
        for b in bufs {
            let room = want - buf.len();
            if room == 0 {
                break;
            }
            buf.extend_from_slice(&b[..b.len().min(room)]);
        }
        let len = buf.len();
        self.write = WriteSide::Sending(Op::new(Send {
            fd: self.io.fd.clone(),
            buf: buf.slice(0..len),
            sending: Some(sending),
            zero_copy: false,
        }));
        // Push the SQE now (it goes out with this loop turn's enter). A submission error
        // means nothing was sent: report it instead of accepting the bytes.
        if let Poll::Ready(Err(e)) = self.poll_drain(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(len))
    }

    /// Flushes, then shuts down the write side (once; later calls return `Ok`).
    fn poll_shutdown_write(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            match &mut self.shutdown {
                ShutdownSide::Done => return Poll::Ready(Ok(())),
                ShutdownSide::Open => {
                    ready!(self.poll_drain(cx))?;
                    let earlier = ready!(self.io.sent.poll_start(cx)).err();
                    self.shutdown = ShutdownSide::ShuttingDown(
                        Op::new(Shutdown {
                            fd: self.io.fd.clone(),
                            how: libc::SHUT_WR,
                        }),
                        earlier,
                    );
                }
                ShutdownSide::ShuttingDown(op, earlier) => {
                    let res = ready!(Pin::new(op).poll(cx));
                    let earlier = earlier.take();
                    self.shutdown = if res.is_ok() {
                        ShutdownSide::Done
                    } else {
                        ShutdownSide::Open
                    };
                    return Poll::Ready(res.and(earlier.map_or(Ok(()), Err)));
                }
            }
        }
    }
}

impl<S: std::fmt::Debug> std::fmt::Debug for Compat<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compat")
            .field("inner", &self.inner)
            .field("receiving", &matches!(self.read, ReadSide::Receiving(_)))
            .field("sending", &matches!(self.write, WriteSide::Sending(_)))
            .finish()
    }
}

#[cfg(feature = "futures-io")]
impl<S: Unpin> futures_io::AsyncRead for Compat<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_read_into(cx, buf)
    }
}

/// `AsyncBufRead` and `AsyncWrite` for [`Compat`] from the traits of the module `$io`:
/// futures-io's and tokio's are the same but for the name of the method that shuts the write
/// side (`$close`) and the extra methods given in braces.
#[cfg(any(feature = "futures-io", feature = "tokio"))]
macro_rules! buf_read_and_write_impls {
    ($($io:ident)::+, $close:ident, { $($extra:tt)* }) => {
        impl<S: Unpin> $($io)::+::AsyncBufRead for Compat<S> {
            fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
                self.get_mut().poll_fill(cx)
            }

            fn consume(self: Pin<&mut Self>, amt: usize) {
                self.get_mut().consume(amt);
            }
        }

        impl<S: Unpin> $($io)::+::AsyncWrite for Compat<S> {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                self.get_mut().poll_write_from(cx, &[IoSlice::new(buf)])
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                self.get_mut().poll_write_from(cx, bufs)
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                self.get_mut().poll_drain(cx)
            }

            fn $close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                self.get_mut().poll_shutdown_write(cx)
            }

            $($extra)*
        }
    };
}

#[cfg(feature = "futures-io")]
buf_read_and_write_impls!(futures_io, poll_close, {});

#[cfg(feature = "tokio")]
impl<S: Unpin> tokio::io::AsyncRead for Compat<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        let this = self.get_mut();
        let src = ready!(this.poll_fill(cx))?;
        let n = src.len().min(buf.remaining());
        buf.put_slice(&src[..n]);
        this.consume(n);
        Poll::Ready(Ok(()))
    }
}

#[cfg(feature = "tokio")]
buf_read_and_write_impls!(tokio::io, poll_shutdown, {
    fn is_write_vectored(&self) -> bool {
        true
    }
});
