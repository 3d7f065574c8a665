//! What the kernel did for ops whose futures were dropped, kept for the next call, so a
//! dropped (cancelled) future never loses a connection, a byte or a datagram.
//!
//! - [`Backlog`]: connections accepted for a dropped `accept()` or `Incoming`; the
//!   listener's next accept returns them first.
//! - [`Received`]: bytes (or datagrams, with their sender) that a dropped receive took from a
//!   socket, and the end of stream or error it saw; the socket's next receive returns them
//!   first, in order. At most one receive of a socket is in flight at a time (a new one waits
//!   for a dropped one to settle), so what is kept always comes before anything newer.
//! - [`Sent`]: writes of a stream start one at a time, in the order they were first polled,
//!   and are not cancelled when dropped: one in flight finishes in the background, one still
//!   waiting for its turn is finished by a task of its own ([`StreamWrite`]), so their bytes
//!   go out once and in order. If one went out only in part, or not at all, the next write
//!   says so (an error) instead of leaving a silent gap.
//!
//! All of it is per core (`Rc`); the common path (nothing dropped) costs a flag test.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use runtime::buf::{BufResult, IoBufMut};
use runtime::op::{Op, Operation};
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
        self.park(cx);
        Poll::Pending
    }

    /// Keeps `cx`'s waker (once per task) for the next change of turn.
    fn park(&mut self, cx: &Context<'_>) {
        if !self.waiting.iter().any(|w| w.will_wake(cx.waker())) {
            self.waiting.push(cx.waker().clone());
        }
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

    /// Why the socket cannot leave the runtime without losing what dropped receives kept:
    /// bytes nobody read yet (an error naming them; they stay kept), or an error nobody saw
    /// (handed out now, once). `None` when nothing is kept but the end of stream, which the
    /// kernel reports again.
    pub(crate) fn take_unread(&self) -> Option<io::Error> {
        let mut r = self.0.borrow_mut();
        let kept = r.chunks.iter().map(|c| c.bytes.len()).sum::<usize>() - r.front;
        if kept > 0 {
            return Some(io::Error::other(format!(
                "{kept} bytes that dropped reads received are kept by the runtime: read them \
                 first, the std stream would not see them"
            )));
        }
        match r.end.take() {
            Some(End::Error(e)) => Some(e),
            end => {
                r.end = end;
                None
            }
        }
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
    /// Writes whose ops are in flight (their [`Sending`] tokens), and the tasks waiting for
    /// their turn.
    turn: Turn,
    /// The next [`Ticket`] to hand out: writes start in the order they were first polled.
    next_ticket: u64,
    /// The ticket whose write starts next.
    serving: u64,
    /// Tickets given up before their turn came (rare), skipped when it does.
    skipped: Vec<u64>,
    /// A dropped write that went out in part, or failed, or was never sent: reported once.
    cut: Option<io::Error>,
}

impl SentInner {
    /// The ticket being served had its turn: the next one's (past any given up).
    fn next_turn(&mut self) {
        self.serving += 1;
        while let Some(i) = self.skipped.iter().position(|&t| t == self.serving) {
            self.skipped.swap_remove(i);
            self.serving += 1;
        }
    }

    fn wait(&mut self, cx: &Context<'_>) -> Poll<io::Result<Sending>> {
        self.turn.park(cx);
        Poll::Pending
    }

    /// No write is in flight and every ticket handed out has had its turn.
    fn free(&self) -> bool {
        self.turn.in_flight == 0 && self.serving == self.next_ticket
    }

    /// Keeps the first reason the stream's byte sequence has a gap; a later one adds nothing.
    fn cut(&mut self, e: io::Error) {
        if self.cut.is_none() {
            // Never `Interrupted` (a dropped write whose op got EINTR): writers retry that as
            // their own EINTR, which would write past the gap and lose the report.
            let e = if e.kind() == io::ErrorKind::Interrupted {
                io::Error::new(io::ErrorKind::WriteZero, e.to_string())
            } else {
                e
            };
            self.cut = Some(e);
        }
    }
}

/// The writes of one stream; see the module docs. Clones share it.
///
/// Writes start one at a time, in the order they were first polled: a write takes a
/// [`Ticket`] at its first poll, and from then on its bytes are committed. If its future is
/// dropped while it waits for its turn, it is finished by a task of its own (see
/// [`StreamWrite`]), so a caller who counts a dropped write as sent is right.
#[derive(Clone, Default)]
pub(crate) struct Sent(Rc<RefCell<SentInner>>);

impl Sent {
    /// A place in the line of this stream's writes.
    pub(crate) fn ticket(&self) -> Ticket {
        let mut s = self.0.borrow_mut();
        let number = s.next_ticket;
        s.next_ticket += 1;
        Ticket {
            sent: self.clone(),
            number,
            done: false,
        }
    }

    /// A write's turn at once when no write is in flight, in line or cut short (the common
    /// case): the ticket it would take is served on the spot, so none is held.
    pub(crate) fn start_if_free(&self) -> Option<Sending> {
        let mut s = self.0.borrow_mut();
        if !s.free() || s.cut.is_some() {
            return None;
        }
        // Nothing is skipped: every ticket handed out has been served.
        s.next_ticket += 1;
        s.serving += 1;
        s.turn.in_flight += 1;
        drop(s);
        Some(Sending(self.clone()))
    }

    /// For poll-based writers (which hold no ticket across polls): waits until no write of
    /// this stream is in flight or in line; then reports a dropped write that did not go out
    /// whole (an error, once), or hands out a [`Sending`] token for a new write.
    pub(crate) fn poll_start(&self, cx: &Context<'_>) -> Poll<io::Result<Sending>> {
        let mut s = self.0.borrow_mut();
        if !s.free() {
            return s.wait(cx);
        }
        if let Some(e) = s.cut.take() {
            return Poll::Ready(Err(e));
        }
        s.turn.in_flight += 1;
        Poll::Ready(Ok(Sending(self.clone())))
    }

    /// A token for the rest of a write whose turn came (a resend after a short send, the
    /// next part of a batch), without waiting again: taken in the same poll that saw the
    /// write's op before end, it keeps the turn, so the writes waiting in line stay there.
    pub(crate) fn resume(&self) -> Sending {
        self.0.borrow_mut().turn.in_flight += 1;
        Sending(self.clone())
    }

    /// A write left a gap in the stream (`e` says where): the stream's next write reports
    /// it, once (a gap reported before stays the one reported).
    pub(crate) fn cut(&self, e: io::Error) {
        self.0.borrow_mut().cut(e);
    }

    /// The gap a dropped write left (once), for a caller about to write past the runtime.
    pub(crate) fn take_cut(&self) -> Option<io::Error> {
        self.0.borrow_mut().cut.take()
    }

    /// A write nobody waits for any more ended with `res`, out of its `len` bytes: if it did
    /// not go out whole, the next write reports that.
    fn keep_result(&self, res: io::Result<usize>, len: usize) {
        let cut = match res {
            Ok(n) if n == len => return,
            Ok(n) => io::Error::new(
                io::ErrorKind::WriteZero,
                format!(
                    "an earlier write on this stream was dropped before it finished and sent \
                     only {n} of its {len} bytes: the peer did not get the rest; the stream's \
                     byte sequence has a gap there"
                ),
            ),
            Err(e) => io::Error::new(
                e.kind(),
                format!(
                    "an earlier write on this stream was dropped and then failed ({e}); \
                     none of its {len} bytes are known to have been sent"
                ),
            ),
        };
        self.0.borrow_mut().cut(cut);
    }

    /// A dropped write of `len` bytes could not be sent at all (`why`).
    fn keep_unsent(&self, len: usize, why: &str) {
        self.0.borrow_mut().cut(io::Error::new(
            io::ErrorKind::WriteZero,
            format!(
                "an earlier write on this stream was dropped while it waited for its turn and \
                 then {why}: none of its {len} bytes were sent; the stream's byte sequence has \
                 a gap there"
            ),
        ));
    }
}

/// A write's place in the line of its stream's writes, taken at its first poll.
pub(crate) struct Ticket {
    sent: Sent,
    number: u64,
    /// It had its turn (started, or reported the stream's cut).
    done: bool,
}

impl Ticket {
    /// Waits for this ticket's turn: every write before it started and finished. Then reports
    /// a dropped write that did not go out whole (an error, once; this write is not sent), or
    /// hands out a [`Sending`] token.
    pub(crate) fn poll_start(&mut self, cx: &Context<'_>) -> Poll<io::Result<Sending>> {
        let mut s = self.sent.0.borrow_mut();
        if s.turn.in_flight > 0 || s.serving != self.number {
            return s.wait(cx);
        }
        self.done = true;
        s.next_turn();
        match s.cut.take() {
            Some(e) => {
                // This write is not sent: the stream is free, the next ticket's turn.
                let waiting = std::mem::take(&mut s.turn.waiting);
                drop(s);
                waiting.into_iter().for_each(Waker::wake);
                Poll::Ready(Err(e))
            }
            None => {
                s.turn.in_flight += 1;
                Poll::Ready(Ok(Sending(self.sent.clone())))
            }
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut s = self.sent.0.borrow_mut();
        if s.serving != self.number {
            s.skipped.push(self.number);
            return;
        }
        s.next_turn();
        let waiting = std::mem::take(&mut s.turn.waiting);
        drop(s);
        waiting.into_iter().for_each(Waker::wake);
    }
}

/// A write of a stream is in flight (held by its op).
pub(crate) struct Sending(Sent);

impl Sending {
    /// A write nobody waits for any more ended: `res` of its CQE, out of `len` bytes.
    pub(crate) fn keep_result(&self, res: i32, len: usize) {
        let res = if res >= 0 {
            Ok(res as usize)
        } else {
            Err(io::Error::from_raw_os_error(-res))
        };
        self.0.keep_result(res, len);
    }
}

impl Drop for Sending {
    fn drop(&mut self) {
        let waiting = self.0.0.borrow_mut().turn.end();
        waiting.into_iter().for_each(Waker::wake);
    }
}

/// An op that writes to a stream, run by [`StreamWrite`] when its turn comes.
pub(crate) trait StreamWriteOp:
    Operation<Output = BufResult<usize, Self::Buf>> + Sized
{
    /// The buffer(s) the op hands back.
    type Buf;

    /// Gives the op its turn's token (before it is submitted).
    fn start(&mut self, sending: Sending);

    /// The bytes the write owes the stream from this op on: the op's own, and for a part of
    /// a larger write, the rest that only its caller sends (a dropped op leaves it unsent).
    fn len(&self) -> usize;

    /// The buffer(s), for an op that never started.
    fn into_buf(self) -> Self::Buf;
}

/// A write of a stream: from its first poll on it holds a [`Ticket`]; when its turn comes it
/// submits its op. If dropped while it waits, a task of its own waits and submits it, so its
/// bytes go out, once and in order, as those of a dropped write in flight do.
pub(crate) struct StreamWrite<T: StreamWriteOp> {
    state: WriteState<T>,
}

enum WriteState<T: StreamWriteOp> {
    Unpolled(Sent, T),
    Waiting(Ticket, T),
    Running(Op<T>),
    Done,
}

impl<T: StreamWriteOp> StreamWrite<T> {
    pub(crate) fn new(sent: &Sent, op: T) -> StreamWrite<T> {
        StreamWrite {
            state: WriteState::Unpolled(sent.clone(), op),
        }
    }
}

// Nothing is pinned: the op's kernel-facing memory is on the heap (Operation's contract).
impl<T: StreamWriteOp> Unpin for StreamWrite<T> {}

impl<T: StreamWriteOp> Future for StreamWrite<T> {
    type Output = T::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T::Output> {
        let this = &mut *self;
        loop {
            // Each state is looked at in place; the op (with its buffers) moves only when
            // the state changes, which keeps the common path (free line, op in flight) cheap.
            let started = match &mut this.state {
                WriteState::Running(op) => return Pin::new(op).poll(cx),
                WriteState::Unpolled(sent, _) => match sent.start_if_free() {
                    Some(sending) => Ok(sending),
                    None => {
                        let ticket = sent.ticket();
                        let WriteState::Unpolled(_, op) =
                            std::mem::replace(&mut this.state, WriteState::Done)
                        else {
                            unreachable!("matched above")
                        };
                        this.state = WriteState::Waiting(ticket, op);
                        continue;
                    }
                },
                WriteState::Waiting(ticket, _) => match ticket.poll_start(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(started) => started,
                },
                WriteState::Done => panic!("a stream write polled after it completed"),
            };
            let (WriteState::Unpolled(_, mut op) | WriteState::Waiting(_, mut op)) =
                std::mem::replace(&mut this.state, WriteState::Done)
            else {
                unreachable!("matched above")
            };
            match started {
                Err(e) => return Poll::Ready((Err(e), op.into_buf())),
                Ok(sending) => {
                    op.start(sending);
                    this.state = WriteState::Running(Op::new(op));
                }
            }
        }
    }
}

impl<T: StreamWriteOp> Drop for StreamWrite<T> {
    fn drop(&mut self) {
        // Tested first: moving the state out costs a copy of the op on every drop.
        if !matches!(self.state, WriteState::Waiting(..)) {
            return;
        }
        let WriteState::Waiting(ticket, op) = std::mem::replace(&mut self.state, WriteState::Done)
        else {
            unreachable!("matched above")
        };
        finish_in_background(ticket, op);
    }
}

/// Runs a dropped write that was waiting for its turn on a task of its own. Outside a
/// runtime (the write dropped after it), or on a core shutting down, it cannot be sent: the
/// next write reports that.
fn finish_in_background<T: StreamWriteOp>(ticket: Ticket, op: T) {
    let len = op.len();
    let nothing_before = std::future::ready(Ok(()));
    send_in_background(ticket, len, nothing_before, move |sending| async move {
        let mut op = op;
        op.start(sending);
        // If this task is dropped while the op is in flight, the op finishes on its own and
        // its token reports how (`on_abandoned_cqe`).
        Op::new(op).await.0
    });
}

/// Sends `len` bytes of a dropped writer in the stream's line, on a task of its own: first
/// `before` (the writer's send already in flight, which holds the stream's turn, finished
/// there), then, once `ticket`'s turn comes, `send` with the turn's token, which says how
/// many bytes went out. A result short of `len` (or an error, `before`'s included), a core
/// shutting down first, or no runtime at all leaves the stream's next write an error instead
/// of a silent gap.
pub(crate) fn send_in_background<B, F, Fut>(ticket: Ticket, len: usize, before: B, send: F)
where
    B: Future<Output = io::Result<()>> + 'static,
    F: FnOnce(Sending) -> Fut + 'static,
    Fut: Future<Output = io::Result<usize>> + 'static,
{
    let sent = ticket.sent.clone();
    if runtime::core_id().is_none() {
        drop(before);
        drop(ticket);
        sent.keep_unsent(len, "its runtime was gone");
        return;
    }
    // The task's future, dropped unrun if the core is shutting down, says so then.
    let unsent = Unsent(Some(sent.clone()), len);
    let mut ticket = ticket;
    drop(runtime::spawn(async move {
        let mut unsent = unsent;
        if let Err(e) = before.await {
            // The stream broke under the send before: these bytes are not sent either.
            let sent = unsent.0.take().expect("taken once");
            sent.keep_result(Err(e), len);
            drop(ticket);
            return;
        }
        let started = std::future::poll_fn(|cx| ticket.poll_start(cx)).await;
        let sent = unsent.0.take().expect("taken once");
        match started {
            // The stream already has a gap, reported by this error: keep it for the next
            // write, and add nothing (this write is not sent either).
            Err(e) => sent.0.borrow_mut().cut(e),
            Ok(sending) => {
                let res = send(sending).await;
                sent.keep_result(res, len);
            }
        }
    }));
}

/// Reports a background write that never started, when dropped armed.
struct Unsent(Option<Sent>, usize);

impl Drop for Unsent {
    fn drop(&mut self) {
        if let Some(sent) = self.0.take() {
            sent.keep_unsent(self.1, "its runtime shut down");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A dropped write whose op got EINTR leaves a gap that is not `Interrupted`: a writer
    /// takes that kind for its own EINTR and retries, past the gap, losing the report.
    #[test]
    fn a_cut_is_never_interrupted() {
        let sent = Sent::default();
        sent.cut(io::Error::from_raw_os_error(libc::EINTR));
        let e = sent.take_cut().expect("the cut is kept");
        assert_ne!(e.kind(), io::ErrorKind::Interrupted);
        assert!(e.to_string().contains("nterrupted"), "{e}");
    }
}
