//! I/O shared by every connected stream socket (TCP and Unix): owned-buffer reads and writes,
//! a multishot receive stream on provided buffers, zero-copy send and shutdown.

use std::io;
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use runtime::buf::{BufPool, BufResult, IoBuf, IoBufMut, ProvidedBuf, RingMark};
use runtime::op::{Multishot, Op};

use crate::fd::SharedFd;
use crate::kept::{Kept, Received, Sending, Sent, StreamWrite, StreamWriteOp};
use crate::op::writev::{BATCH_PART_MAX, Writev};
use crate::op::{self, recv_multi::RecvMulti, shutdown::Shutdown};

/// The I/O half of a connected stream socket. Cloning shares the fd and what dropped reads
/// and writes left behind (for split halves and `Compat`).
#[derive(Clone)]
pub(crate) struct StreamIo {
    pub(crate) fd: SharedFd,
    /// Bytes that dropped receives took from the socket (see [`crate::kept`]).
    pub(crate) received: Received,
    /// Writes that were dropped and finish in the background.
    pub(crate) sent: Sent,
}

impl std::fmt::Debug for StreamIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamIo").field("fd", &self.fd).finish()
    }
}

impl StreamIo {
    pub(crate) fn new(fd: impl Into<OwnedFd>) -> StreamIo {
        StreamIo::from_shared(SharedFd::new(fd.into()))
    }

    pub(crate) fn from_shared(fd: SharedFd) -> StreamIo {
        StreamIo {
            fd,
            received: Received::default(),
            sent: Sent::default(),
        }
    }

    pub(crate) async fn read<B: IoBufMut>(&self, buf: B) -> BufResult<usize, B> {
        if buf.bytes_total() == 0 {
            // As std's `Read::read`: no room, nothing read, at once. The kernel would wait
            // until data arrives and then report 0, which reads as end of stream.
            return (Ok(0), buf);
        }
        op::recv(&self.fd, buf, &self.received, false, 0).await
    }

    pub(crate) async fn write<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
        op::stream_send(&self.fd, buf, &self.sent, false).await
    }

    pub(crate) async fn writev<B: IoBuf>(&self, bufs: Vec<B>) -> BufResult<usize, Vec<B>> {
        StreamWrite::new(
            &self.sent,
            Writev::new(self.fd.clone(), bufs, 0, usize::MAX),
        )
        .await
    }

    pub(crate) async fn send_zc<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
        op::stream_send(&self.fd, buf, &self.sent, true).await
    }

    /// Reads until `buf` is full: all of its `bytes_total()` (a `Vec`'s capacity), from its
    /// start, as a read fills it (a `Vec`'s length becomes what was read).
    pub(crate) async fn read_exact<B: IoBufMut>(&self, mut buf: B) -> BufResult<(), B> {
        let want = buf.bytes_total();
        // Nothing read yet: a Vec's old contents go, as `clear` would.
        // SAFETY: the first 0 bytes are initialized in any buffer, and 0 <= bytes_total().
        unsafe { buf.set_init(0) };
        let mut filled = 0;
        // Bytes this call already holds, handed back to the stream if it is dropped before
        // it is done (`MSG_WAITALL` makes that rare: one receive normally fills `buf`).
        let mut held = Held {
            received: &self.received,
            bytes: Vec::new(),
        };
        while filled < want {
            if filled > 0 {
                held.bytes.clear();
                // SAFETY: the first `filled` bytes of `buf` are initialized: the reads so far
                // wrote them and set its initialized length to `filled`.
                held.bytes.extend_from_slice(unsafe {
                    std::slice::from_raw_parts(buf.stable_ptr(), filled)
                });
            }
            let slice = buf.slice(filled..want);
            let (res, slice) =
                op::recv(&self.fd, slice, &self.received, false, libc::MSG_WAITALL).await;
            buf = slice.into_inner();
            match res {
                Ok(0) => {
                    return (
                        Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "peer closed before the buffer was filled",
                        )),
                        buf,
                    );
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return (Err(e), buf),
            }
        }
        held.bytes.clear();
        (Ok(()), buf)
    }

    /// Writes all initialized bytes of every buffer of `bufs`, in order, in ops of at most
    /// 64 KiB of whole buffers (`BATCH_PART_MAX`; a `sendmsg`, or a `send` for one buffer),
    /// resuming after short writes.
    pub(crate) async fn write_all_vectored<B: IoBuf>(&self, bufs: Vec<B>) -> BufResult<(), Vec<B>> {
        self.write_all_vectored_in(bufs, None).await
    }

    /// [`StreamIo::write_all_vectored`] in the turn `turn` already holds (a dropped writer's
    /// bytes sent by a task of their own), or, for `None`, in the first poll's place in the
    /// stream's line.
    pub(crate) async fn write_all_vectored_in<B: IoBuf>(
        &self,
        bufs: Vec<B>,
        mut turn: Option<Sending>,
    ) -> BufResult<(), Vec<B>> {
        let mut bufs = bufs;
        let total: usize = bufs.iter().map(IoBuf::bytes_init).sum();
        let mut written = 0;
        let mut had_turn = false;
        while written < total {
            let mut part = Writev::new(self.fd.clone(), bufs, written, BATCH_PART_MAX);
            // The parts after this one go only while this future lives: if it is dropped,
            // the op's kept result falls short by them, a gap the stream's next write reports.
            part.after = total.saturating_sub(written + part.part_len());
            let (res, b) = if let Some(turn) = turn.take() {
                had_turn = true;
                part.start(turn);
                Op::new(part).await
            } else if !std::mem::replace(&mut had_turn, true) {
                StreamWrite::new(&self.sent, part).await
            } else {
                // The next part (or a short write's rest) keeps the stream's turn: it starts
                // in the same poll that saw the part before end, before any write woken by
                // that end runs, so no other write of the stream goes between two parts.
                part.start(self.sent.resume());
                Op::new(part).await
            };
            bufs = b;
            match res {
                Ok(0) => {
                    return (
                        Err(io::Error::new(
                            io::ErrorKind::WriteZero,
                            "the socket accepted no bytes",
                        )),
                        bufs,
                    );
                }
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return (Err(e), bufs),
            }
        }
        (Ok(()), bufs)
    }

    /// Writes all initialized bytes of `buf`, resuming after short writes.
    pub(crate) async fn write_all<B: IoBuf>(&self, buf: B) -> BufResult<(), B> {
        let total = buf.bytes_init();
        let mut written = 0;
        let mut buf = buf;
        while written < total {
            let (res, slice) =
                op::stream_send(&self.fd, buf.slice(written..total), &self.sent, false).await;
            buf = slice.into_inner();
            match res {
                Ok(0) => {
                    return (
                        Err(io::Error::new(
                            io::ErrorKind::WriteZero,
                            "the socket accepted no bytes",
                        )),
                        buf,
                    );
                }
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return (Err(e), buf),
            }
        }
        (Ok(()), buf)
    }

    pub(crate) async fn shutdown(&self, how: std::net::Shutdown) -> io::Result<()> {
        let how = match how {
            std::net::Shutdown::Read => libc::SHUT_RD,
            std::net::Shutdown::Write => libc::SHUT_WR,
            std::net::Shutdown::Both => libc::SHUT_RDWR,
        };
        // The end of stream goes after every write in line, dropped ones included; one that
        // did not go out whole is reported here (the stream is shut down all the same).
        let earlier = if how == libc::SHUT_RD {
            Ok(())
        } else {
            std::future::poll_fn(|cx| self.sent.poll_start(cx))
                .await
                .map(drop)
        };
        Op::new(Shutdown {
            fd: self.fd.clone(),
            how,
        })
        .await?;
        earlier
    }

    pub(crate) fn recv_stream(&self, pool: &BufPool) -> RecvStream {
        RecvStream {
            fd: self.fd.clone(),
            received: self.received.clone(),
            pool: pool.clone(),
            op: None,
            armed_at: pool.mark(),
            ended: false,
            dry: false,
            held_error: None,
        }
    }
}

/// The bytes a `read_exact` already received, given back to its stream if it is dropped.
struct Held<'a> {
    received: &'a Received,
    bytes: Vec<u8>,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.received.give_back(&self.bytes);
    }
}

/// The sealing of the crate's stream traits ([`ForwardTarget`], `CompatStream`,
/// `HyperStream`): each is implemented by the crate's own streams only, which hand over
/// their I/O half here.
pub(crate) mod sealed {
    use super::StreamIo;

    /// Gives the crate the stream's I/O half.
    pub trait Sealed {
        fn stream_io(&self) -> Io<'_>;
    }

    /// The I/O half, behind a type that outside crates cannot name.
    pub struct Io<'a>(pub(crate) &'a StreamIo);

    macro_rules! sealed_streams {
        ($($ty:ty),*) => {$(
            impl Sealed for $ty {
                fn stream_io(&self) -> Io<'_> {
                    Io(&self.io)
                }
            }
        )*};
    }
    sealed_streams!(
        crate::TcpStream,
        crate::UnixStream,
        crate::OwnedReadHalf,
        crate::OwnedWriteHalf
    );

    /// A stream shared by several tasks.
    impl<T: Sealed> Sealed for std::rc::Rc<T> {
        fn stream_io(&self) -> Io<'_> {
            T::stream_io(self)
        }
    }
}

/// What [`TcpStream::forward_to`](crate::TcpStream::forward_to) sends on: a connected stream
/// socket of this crate ([`TcpStream`](crate::TcpStream),
/// [`UnixStream`](crate::UnixStream)) or a write half
/// ([`OwnedWriteHalf`](crate::OwnedWriteHalf)), or an `Rc` of one, whatever kind the
/// receiving stream is (sealed).
pub trait ForwardTarget: sealed::Sealed {}

impl ForwardTarget for crate::TcpStream {}
impl ForwardTarget for crate::UnixStream {}
impl ForwardTarget for crate::OwnedWriteHalf {}
impl<T: ForwardTarget> ForwardTarget for std::rc::Rc<T> {}

/// Writes the public I/O methods of a stream type, each forwarding to the [`StreamIo`] in one
/// of its fields: every signature is written once, here, and each type names the methods it
/// has, each with its own doc comment (the I/O methods' with a `# Cancel safety` section).
///
/// ```text
/// forward_to_stream_io! {
///     TcpStream => io {
///         /// Reads into `buf` ….
///         read;
///         /// Writes `buf` once.
///         write;
///     }
/// }
/// ```
///
/// Methods: `read`, `read_exact`, `write`, `write_all`, `writev`, `write_all_vectored`,
/// `send_zc`, `recv_stream`, `forward_to`, `shutdown`.
macro_rules! forward_to_stream_io {
    ($ty:ty => $io:ident { $($(#[$doc:meta])* $method:ident;)* }) => {
        impl $ty {
            $($crate::stream::forward_to_stream_io!(@method $io $(#[$doc])* $method);)*
        }
    };
    // The methods that take one buffer and give it back: (name, buffer bound, result).
    (@method $io:ident $(#[$doc:meta])* read) => {
        $crate::stream::forward_to_stream_io!(@buf $io $(#[$doc])* read IoBufMut usize);
    };
    (@method $io:ident $(#[$doc:meta])* read_exact) => {
        $crate::stream::forward_to_stream_io!(@buf $io $(#[$doc])* read_exact IoBufMut ());
    };
    (@method $io:ident $(#[$doc:meta])* write) => {
        $crate::stream::forward_to_stream_io!(@buf $io $(#[$doc])* write IoBuf usize);
    };
    (@method $io:ident $(#[$doc:meta])* write_all) => {
        $crate::stream::forward_to_stream_io!(@buf $io $(#[$doc])* write_all IoBuf ());
    };
    (@method $io:ident $(#[$doc:meta])* send_zc) => {
        $crate::stream::forward_to_stream_io!(@buf $io $(#[$doc])* send_zc IoBuf usize);
    };
    (@buf $io:ident $(#[$doc:meta])* $method:ident $bound:ident $out:ty) => {
        $(#[$doc])*
        pub async fn $method<B: ::runtime::buf::$bound>(
            &self,
            buf: B,
        ) -> ::runtime::buf::BufResult<$out, B> {
            self.$io.$method(buf).await
        }
    };
    (@method $io:ident $(#[$doc:meta])* writev) => {
        $(#[$doc])*
        pub async fn writev<B: ::runtime::buf::IoBuf>(
            &self,
            bufs: Vec<B>,
        ) -> ::runtime::buf::BufResult<usize, Vec<B>> {
            self.$io.writev(bufs).await
        }
    };
    (@method $io:ident $(#[$doc:meta])* write_all_vectored) => {
        $(#[$doc])*
        pub async fn write_all_vectored<B: ::runtime::buf::IoBuf>(
            &self,
            bufs: Vec<B>,
        ) -> ::runtime::buf::BufResult<(), Vec<B>> {
            self.$io.write_all_vectored(bufs).await
        }
    };
    (@method $io:ident $(#[$doc:meta])* send_queue) => {
        $(#[$doc])*
        pub fn send_queue<B: ::runtime::buf::IoBuf + 'static>(&self) -> $crate::SendQueue<B> {
            $crate::SendQueue::new(&self.$io)
        }
    };
    (@method $io:ident $(#[$doc:meta])* recv_stream) => {
        $(#[$doc])*
        pub fn recv_stream(&self, pool: &::runtime::buf::BufPool) -> $crate::stream::RecvStream {
            self.$io.recv_stream(pool)
        }
    };
    (@method $io:ident $(#[$doc:meta])* forward_to) => {
        $(#[$doc])*
        pub async fn forward_to<T: $crate::stream::ForwardTarget>(
            &self,
            to: &T,
            pool: &::runtime::buf::BufPool,
        ) -> ::std::io::Result<u64> {
            let to = $crate::stream::sealed::Sealed::stream_io(to).0;
            $crate::forward::Forward::new(&self.$io, to, pool).await
        }
    };
    (@method $io:ident $(#[$doc:meta])* shutdown) => {
        $(#[$doc])*
        pub async fn shutdown(&self, how: ::std::net::Shutdown) -> ::std::io::Result<()> {
            self.$io.shutdown(how).await
        }
    };
}
pub(crate) use forward_to_stream_io;

/// Received data as a stream of buffers lent from the core's [`BufPool`] (multishot recv):
/// a buffer goes back to the pool when dropped, and no buffer is held while the peer is
/// idle. Ends (`None`) when the peer closes; re-arms itself when the kernel ends the
/// multishot. When the kernel found the pool's ring empty (ENOBUFS, not an error here) it
/// re-arms once a buffer went into the ring since it last armed
/// ([`BufPool::poll_refilled`]), so the data waits in the socket, in order, meanwhile.
///
/// It is the socket's only reader while it lives: other receives of the socket (`read`,
/// another `RecvStream`) wait until it is dropped, and then get what it had not handed out
/// first.
pub struct RecvStream {
    fd: SharedFd,
    /// Bytes dropped receives (and dropped `RecvStream`s) kept: handed out first.
    received: Received,
    pool: BufPool,
    op: Option<Multishot<RecvMulti>>,
    /// The pool's ring when the multishot was last armed.
    armed_at: RingMark,
    ended: bool,
    /// The last multishot ended with ENOBUFS: wait for the ring to get a buffer before
    /// re-arming.
    dry: bool,
    /// An error met by [`RecvStream::next_batch`] after it had buffers to return: the next
    /// item.
    held_error: Option<io::Error>,
}

impl Drop for RecvStream {
    fn drop(&mut self) {
        // An error `next_batch` held for the next call goes to the socket's next receive.
        if let Some(e) = self.held_error.take() {
            self.received.give_back_error(e);
        }
    }
}

impl std::fmt::Debug for RecvStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvStream")
            .field("fd", &self.fd)
            .field("ended", &self.ended)
            .finish()
    }
}

impl RecvStream {
    /// The next buffer of data; `None` at end of stream.
    pub async fn next(&mut self) -> Option<io::Result<ProvidedBuf>> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    /// The next buffer if the kernel already delivered it, without waiting: `None` when
    /// nothing has arrived yet (or at end of stream, which [`RecvStream::next`] then
    /// reports).
    pub fn try_next(&mut self) -> Option<io::Result<ProvidedBuf>> {
        // The common end of a batch: the receive is armed and nothing more arrived.
        if self.held_error.is_none()
            && !self.dry
            && !self.ended
            && self.op.as_ref().is_some_and(|op| !op.item_ready())
        {
            return None;
        }
        let mut cx = Context::from_waker(std::task::Waker::noop());
        match Pin::new(&mut *self).poll_next(&mut cx) {
            Poll::Ready(Some(item)) => Some(item),
            Poll::Ready(None) | Poll::Pending => None,
        }
    }

    /// Waits for the next buffer, then takes every further one that already arrived, up to
    /// `max` in all (at least 1), appending them to `bufs`; returns how many, 0 at end of
    /// stream. What one vectored write sends back in one op: an echo or a proxy that writes
    /// each batch with `write_all_vectored` makes one `sendmsg` (and larger TCP segments)
    /// where writing buffer by buffer makes one `send` per buffer.
    ///
    /// # Errors
    /// As [`RecvStream::next`]. An error met after some buffers were taken is returned by the
    /// next call, after them.
    ///
    /// # Cancel safety
    /// Cancel safe: a dropped call has taken nothing (buffers already appended stay in
    /// `bufs`).
    pub async fn next_batch(
        &mut self,
        bufs: &mut Vec<ProvidedBuf>,
        max: usize,
    ) -> io::Result<usize> {
        let first = match self.next().await {
            None => return Ok(0),
            Some(first) => first?,
        };
        bufs.push(first);
        let mut n = 1;
        while n < max {
            match self.try_next() {
                Some(Ok(buf)) => {
                    bufs.push(buf);
                    n += 1;
                }
                Some(Err(e)) => {
                    self.held_error = Some(e);
                    break;
                }
                None => break,
            }
        }
        Ok(n)
    }
}

impl Stream for RecvStream {
    type Item = io::Result<ProvidedBuf>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if let Some(e) = this.held_error.take() {
            return Poll::Ready(Some(Err(e)));
        }
        loop {
            if this.ended {
                return Poll::Ready(None);
            }
            if this.dry {
                if this.pool.poll_refilled(this.armed_at, cx).is_pending() {
                    return Poll::Pending;
                }
                this.dry = false;
            }
            if this.op.is_none() {
                // Before arming: what dropped receives kept comes first, in order.
                let receiving = match this.received.poll_take_chunk(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Kept::Some(Ok(Some(bytes)))) => {
                        return Poll::Ready(Some(Ok(ProvidedBuf::from_vec(bytes))));
                    }
                    Poll::Ready(Kept::Some(Ok(None))) => {
                        this.ended = true;
                        return Poll::Ready(None);
                    }
                    Poll::Ready(Kept::Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                    Poll::Ready(Kept::None(receiving)) => receiving,
                };
                this.armed_at = this.pool.mark();
                this.op = Some(Multishot::new(RecvMulti {
                    fd: this.fd.clone(),
                    pool: this.pool.clone(),
                    receiving,
                }));
            }
            let Some(op) = this.op.as_mut() else {
                unreachable!("armed above")
            };
            match op.poll_next_item(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(Some(buf)))) => return Poll::Ready(Some(Ok(buf))),
                Poll::Ready(Some(Ok(None))) => {
                    this.ended = true;
                    this.op = None;
                    return Poll::Ready(None);
                }
                Poll::Ready(Some(Err(e))) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    // The ring was empty and the kernel ended the multishot. Re-arming now
                    // would fail the same way while every buffer is held (by the caller,
                    // other receives, CQEs not yet polled): re-arm once one went into it.
                    this.op = None;
                    this.dry = true;
                }
                Poll::Ready(Some(Err(e))) => {
                    if op.is_ended() {
                        this.op = None;
                    }
                    return Poll::Ready(Some(Err(e)));
                }
                // The kernel ended the multishot without error (e.g. CQ pressure): re-arm.
                Poll::Ready(None) => this.op = None,
            }
        }
    }
}
