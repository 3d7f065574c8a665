//! What the kernel did for ops whose futures were dropped, kept for the next call, so a
//! dropped (cancelled) future never loses a connection, a byte or a datagram.
//!
//! - [`Backlog`]: connections accepted for a dropped `accept()` or `Incoming`; the
//!   listener's next accept returns them first.
//! - [`Received`]: bytes (or datagrams, with their sender) that a dropped receive took from a
//!   socket, and the end of stream or error it saw; the socket's next receive returns them
//!   first, in order. At most one receive of a socket is in flight at a time (a new one waits
//!   for a dropped one to settle), so what is kept always comes before anything newer.
//! - [`Sent`]: writes of a stream are not cancelled when dropped; they finish in the
//!   background and the next write waits for them, so their bytes go out once and in order.
//!   If one went out only in part, the next write says so (an error) instead of leaving a
//!   silent gap.
//!
//! All of it is per core (`Rc`); the common path (nothing dropped) costs a flag test.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::os::fd::OwnedFd;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use runtime::buf::IoBufMut;
use socket2::SockAddr;

/// Accepted connections kept beyond this many are closed (a listener whose accepts are
/// dropped over and over, and never accepted again).
const BACKLOG_LIMIT: usize = 4096;

/// Connections accepted for dropped accepts; see the module docs.
#[derive(Clone, Default)]
pub(crate) struct Backlog(Rc<RefCell<VecDeque<Accepted>>>);

/// A kept connection and its peer's address, if the accept got it.
type Accepted = (OwnedFd, Option<SockAddr>);

impl Backlog {
    /// Keeps `fd`, accepted for nobody, with its peer's address if the accept got it.
    pub(crate) fn keep(&self, fd: OwnedFd, peer: Option<SockAddr>) {
        let mut q = self.0.borrow_mut();
        if q.len() < BACKLOG_LIMIT {
            q.push_back((fd, peer));
        } else {
            tracing::warn!(
                "more than {BACKLOG_LIMIT} accepted connections kept for nobody; closing one"
            );
        }
    }

    /// The oldest kept connection, with its peer's address if the accept got it.
    pub(crate) fn take(&self) -> Option<Accepted> {
        self.0.borrow_mut().pop_front()
    }
}

impl std::fmt::Debug for Backlog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Backlog({})", self.0.borrow().len())
    }
}

/// Ops of one kind in flight on a socket, and the tasks waiting for them to settle.
#[derive(Default)]
struct Turn {
    in_flight: u32,
    waiting: Vec<Waker>,
}

impl Turn {
    fn poll_free(&mut self, cx: &Context<'_>) -> Poll<()> {
        if self.in_flight == 0 {
            return Poll::Ready(());
        }
        if !self.waiting.iter().any(|w| w.will_wake(cx.waker())) {
            self.waiting.push(cx.waker().clone());
        }
        Poll::Pending
    }

    fn end(&mut self) -> Vec<Waker> {
        self.in_flight -= 1;
        std::mem::take(&mut self.waiting)
    }
}

/// One kept receive: bytes, and for datagrams the sender.
struct Chunk {
    bytes: Vec<u8>,
    from: Option<SockAddr>,
}

/// How a receive that nobody waits for any more ended without data.
enum End {
    /// End of stream: every later read returns 0.
    Eof,
    /// An error, returned once.
    Error(io::Error),
}

#[derive(Default)]
struct ReceivedInner {
    chunks: VecDeque<Chunk>,
    /// Bytes of the front chunk already handed out (streams).
    front: usize,
    end: Option<End>,
    turn: Turn,
    /// A datagram socket: an empty receive is an empty datagram, not the end of a stream.
    datagram: bool,
}

/// What dropped receives of one socket took from it; see the module docs. Clones share it.
#[derive(Clone, Default)]
pub(crate) struct Received(Rc<RefCell<ReceivedInner>>);

/// A kept datagram's length and sender (`None` when a plain `recv` took it).
pub(crate) type Datagram = (usize, Option<SockAddr>);

/// What [`Received::poll_take_stream`] and its kin found.
pub(crate) enum Kept<T> {
    /// Something kept, handed out now.
    Some(T),
    /// Nothing kept: receive from the socket, holding the returned [`Receiving`].
    None(Receiving),
}

impl<T> Kept<T> {
    /// Maps what was kept.
    pub(crate) fn map<U>(self, f: impl FnOnce(T) -> U) -> Kept<U> {
        match self {
            Kept::Some(t) => Kept::Some(f(t)),
            Kept::None(r) => Kept::None(r),
        }
    }
}

impl Received {
    /// For a datagram socket.
    pub(crate) fn datagrams() -> Received {
        let r = Received::default();
        r.0.borrow_mut().datagram = true;
        r
    }

    /// Waits until no other receive of this socket is in flight; then hands out what is kept
    /// (copied into `dst` from its start, up to its capacity), or a [`Receiving`] token for a
    /// new receive.
    pub(crate) fn poll_take_stream<B: IoBufMut>(
        &self,
        cx: &Context<'_>,
        dst: &mut B,
    ) -> Poll<Kept<io::Result<usize>>> {
        let mut r = self.0.borrow_mut();
        if r.turn.poll_free(cx).is_pending() {
            return Poll::Pending;
        }
        if let Some(chunk) = r.chunks.front() {
            let src = &chunk.bytes[r.front..];
            let n = src.len().min(dst.bytes_total());
            // SAFETY: `dst` has room for `bytes_total()` bytes at its stable pointer (IoBufMut),
            // `n` is at most that, and `src` is our own Vec, which cannot overlap it.
            unsafe {
                std::ptr::copy_nonoverlapping(src.as_ptr(), dst.stable_mut_ptr(), n);
                dst.set_init(n);
            }
            r.front += n;
            if r.front == r.chunks[0].bytes.len() {
                r.chunks.pop_front();
                r.front = 0;
            }
            return Poll::Ready(Kept::Some(Ok(n)));
        }
        match r.end.take() {
            Some(End::Eof) => {
                r.end = Some(End::Eof);
                // SAFETY: 0 bytes are initialized in any buffer.
                unsafe { dst.set_init(0) };
                Poll::Ready(Kept::Some(Ok(0)))
            }
            Some(End::Error(e)) => Poll::Ready(Kept::Some(Err(e))),
            None => Poll::Ready(Kept::None(self.start(&mut r))),
        }
    }

    /// As [`Received::poll_take_stream`] for a datagram socket: one kept datagram whole
    /// (truncated to `dst`'s capacity, as a receive would), with its sender if known.
    pub(crate) fn poll_take_datagram<B: IoBufMut>(
        &self,
        cx: &Context<'_>,
        dst: &mut B,
    ) -> Poll<Kept<io::Result<Datagram>>> {
        let mut r = self.0.borrow_mut();
        if r.turn.poll_free(cx).is_pending() {
            return Poll::Pending;
        }
        if let Some(chunk) = r.chunks.pop_front() {
            let n = chunk.bytes.len().min(dst.bytes_total());
            // SAFETY: as in `poll_take_stream`.
            unsafe {
                std::ptr::copy_nonoverlapping(chunk.bytes.as_ptr(), dst.stable_mut_ptr(), n);
                dst.set_init(n);
            }
            return Poll::Ready(Kept::Some(Ok((n, chunk.from))));
        }
        match r.end.take() {
            Some(End::Error(e)) => Poll::Ready(Kept::Some(Err(e))),
            Some(End::Eof) | None => Poll::Ready(Kept::None(self.start(&mut r))),
        }
    }

    /// As [`Received::poll_take_stream`], handing out a whole kept chunk (`Some(bytes)`), the
    /// end of stream (`None`) or an error: for the multishot receive stream.
    pub(crate) fn poll_take_chunk(
        &self,
        cx: &Context<'_>,
    ) -> Poll<Kept<io::Result<Option<Vec<u8>>>>> {
        let mut r = self.0.borrow_mut();
        if r.turn.poll_free(cx).is_pending() {
            return Poll::Pending;
        }
        if let Some(mut chunk) = r.chunks.pop_front() {
            let front = std::mem::take(&mut r.front);
            chunk.bytes.drain(..front);
            return Poll::Ready(Kept::Some(Ok(Some(chunk.bytes))));
        }
        match r.end.take() {
            Some(End::Eof) => {
                r.end = Some(End::Eof);
                Poll::Ready(Kept::Some(Ok(None)))
            }
            Some(End::Error(e)) => Poll::Ready(Kept::Some(Err(e))),
            None => Poll::Ready(Kept::None(self.start(&mut r))),
        }
    }

    /// Keeps an error a reader had received but not handed out (a dropped
    /// [`RecvStream`](crate::RecvStream)'s, met after the data it handed out): the next
    /// receive returns it, after anything kept before it.
    pub(crate) fn give_back_error(&self, e: io::Error) {
        let mut r = self.0.borrow_mut();
        if r.end.is_none() {
            r.end = Some(End::Error(e));
        }
    }

    /// Puts back bytes a reader had received but not handed out (a dropped
    /// [`Compat`](crate::compat::Compat)'s buffer): they came before anything kept since.
    pub(crate) fn give_back(&self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let mut r = self.0.borrow_mut();
        let front = std::mem::take(&mut r.front);
        if let Some(first) = r.chunks.front_mut() {
            first.bytes.drain(..front);
        }
        r.chunks.push_front(Chunk {
            bytes: bytes.to_vec(),
            from: None,
        });
    }

    fn start(&self, r: &mut ReceivedInner) -> Receiving {
        r.turn.in_flight += 1;
        Receiving(self.clone())
    }
}

/// A receive of a socket is in flight (held by its op); dropped with the op, after the
/// kernel's final CQE. Where that op was abandoned, it keeps what the kernel delivered.
pub(crate) struct Receiving(Received);

impl Receiving {
    /// Keeps bytes (and the sender of a datagram) that nobody took.
    pub(crate) fn keep(&self, bytes: Vec<u8>, from: Option<SockAddr>) {
        self.0
            .0
            .borrow_mut()
            .chunks
            .push_back(Chunk { bytes, from });
    }

    /// Keeps how a receive that nobody waits for ended: `res` of its CQE, 0 or `-errno`
    /// (a cancel is nothing to keep).
    pub(crate) fn keep_end(&self, res: i32) {
        let end = match res {
            0 if self.0.0.borrow().datagram => return self.keep(Vec::new(), None),
            0 => End::Eof,
            e if e == -libc::ECANCELED || e == -libc::ENOBUFS => return,
            e => End::Error(io::Error::from_raw_os_error(-e)),
        };
        self.0.0.borrow_mut().end = Some(end);
    }
}

impl Drop for Receiving {
    fn drop(&mut self) {
        let waiting = self.0.0.borrow_mut().turn.end();
        waiting.into_iter().for_each(Waker::wake);
    }
}

#[derive(Default)]
struct SentInner {
    turn: Turn,
    /// A dropped write that went out in part: (bytes sent, bytes it had), or its error.
    cut: Option<io::Error>,
}

/// The writes of one stream; see the module docs. Clones share it.
#[derive(Clone, Default)]
pub(crate) struct Sent(Rc<RefCell<SentInner>>);

impl Sent {
    /// Waits until no dropped write of this stream is in flight; then reports one that went
    /// out only in part (an error, once), or hands out a [`Sending`] token for a new write.
    pub(crate) fn poll_start(&self, cx: &Context<'_>) -> Poll<io::Result<Sending>> {
        let mut s = self.0.borrow_mut();
        if s.turn.poll_free(cx).is_pending() {
            return Poll::Pending;
        }
        if let Some(e) = s.cut.take() {
            return Poll::Ready(Err(e));
        }
        s.turn.in_flight += 1;
        Poll::Ready(Ok(Sending(self.clone())))
    }

    /// A token for the rest of a write whose start passed [`Sent::poll_start`] (a resend
    /// after a short send), without waiting again. Used by `Compat`'s poll-based writes,
    /// which exist only with a compat feature.
    #[cfg_attr(not(any(feature = "tokio", feature = "futures-io")), allow(dead_code))]
    pub(crate) fn resume(&self) -> Sending {
        self.0.borrow_mut().turn.in_flight += 1;
        Sending(self.clone())
    }
}

/// A write of a stream is in flight (held by its op).
pub(crate) struct Sending(Sent);

impl Sending {
    /// A write nobody waits for any more ended: `res` of its CQE, out of `len` bytes.
    pub(crate) fn keep_result(&self, res: i32, len: usize) {
        let cut = match res {
            n if n >= 0 && n as usize == len => return,
            n if n >= 0 => io::Error::new(
                io::ErrorKind::WriteZero,
                format!(
                    "an earlier write on this stream was dropped before it finished and sent \
                     only {n} of its {len} bytes: the peer did not get the rest; the stream's \
                     byte sequence has a gap there"
                ),
            ),
            e => {
                let e = io::Error::from_raw_os_error(-e);
                io::Error::new(
                    e.kind(),
                    format!(
                        "an earlier write on this stream was dropped and then failed ({e}); \
                         none of its {len} bytes are known to have been sent"
                    ),
                )
            }
        };
        self.0.0.borrow_mut().cut = Some(cut);
    }
}

impl Drop for Sending {
    fn drop(&mut self) {
        let waiting = self.0.0.borrow_mut().turn.end();
        waiting.into_iter().for_each(Waker::wake);
    }
}
