//! [`Forward`]: what one stream receives, sent on another by the ring's completions alone.
//!
//! An echo or a proxy that loops over a [`RecvStream`](crate::RecvStream) wakes and polls its
//! task once per message. Here the receive is a multishot on a provided-buffer pool whose
//! CQEs go to shared state ([`runtime::op::submit_shared`]): each CQE queues its buffer and,
//! when no send is in flight, pushes the send of what is queued, from inside the reap; each
//! send's CQE gives its buffers back to the pool and pushes the next. The task is woken only
//! when the receive ends (end of stream, an error, the pool ran dry, the kernel ended the
//! multishot) or a send fails.
//!
//! Two owners share the state, one per op ([`RecvSide`], [`SendSide`]), since a CQE does not
//! say which op it is for. The receive side holds the send side, to push sends.

use std::cell::{RefCell, UnsafeCell};
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use runtime::buf::{BufPool, ProvidedBuf, RingMark};
use runtime::op::{Completion, RingHandle, SharedCompletion, SharedOp};
use uring_sys::{Sqe, prep};

use crate::fd::SharedFd;
use crate::kept::{Kept, Receiving, Sending};
use crate::op::writev::BATCH_PART_MAX;
use crate::stream::StreamIo;
use crate::waker_slot::set_waker;

/// The most buffers one send takes.
const SEND_BUFS_MAX: usize = 64;

/// The future of `forward_to`; see [`TcpStream::forward_to`](crate::TcpStream::forward_to).
pub(crate) struct Forward<'a> {
    from: &'a StreamIo,
    to: &'a StreamIo,
    pool: &'a BufPool,
    /// Once started (the write turn taken): the receive's owner, which reaches everything.
    recv: Option<Rc<RecvSide>>,
}

/// The receive's owner: sees its CQEs, and holds the send's owner to push sends.
struct RecvSide {
    fwd: Rc<Fwd>,
    send: Rc<SendSide>,
}

/// The send's owner: sees each send's CQE.
struct SendSide {
    fwd: Rc<Fwd>,
}

/// What the future and both ops share.
struct Fwd {
    state: RefCell<State>,
    /// What a send of several buffers points to. Written only while no send is in flight
    /// (`State::sending_now` false); the kernel reads it while one is.
    msg: UnsafeCell<Msg>,
}

struct Msg {
    hdr: libc::msghdr,
    iovecs: [libc::iovec; SEND_BUFS_MAX],
}

struct State {
    from: SharedFd,
    to: SharedFd,
    /// Kept for the receive's whole life: the kernel writes into the pool's buffers.
    pool: BufPool,
    /// The ring both ops are on; only its loop completes them.
    ring: RingHandle,
    /// A receive is in flight: from just before its push to its final CQE (which can come
    /// inside the push, where the driver reaps at once: outside its loop).
    receiving_now: bool,
    /// The receive in flight, to cancel it; set after its push unless it ended inside it.
    receive: Option<SharedOp>,
    /// Where the ring stood when the receive was armed (for a dry pool).
    armed_at: RingMark,
    /// Why the receive ended, until the future deals with it; `None` while it is armed.
    ended: Option<End>,
    /// The socket's read turn, held for the forward's life: its only reader.
    receiving: Option<Receiving>,
    /// The other stream's write turn, held for the forward's life.
    writing: Option<Sending>,
    /// Received, not yet handed to a send, in order.
    queue: VecDeque<ProvidedBuf>,
    /// The buffers of the send in flight (or of a short send's rest), and how many of
    /// their bytes went out already.
    flight: Vec<ProvidedBuf>,
    flight_done: usize,
    /// An emptied `flight`, for the next send: no allocation per send.
    spare: Vec<ProvidedBuf>,
    /// The kernel has a send (it reads `flight` and `msg`).
    sending_now: bool,
    /// Bytes sent in all.
    copied: u64,
    /// A send failed: nothing more is sent, and what arrives from now on is kept for the
    /// receiving stream's next read.
    stopped_sending: bool,
    /// That failure, for the future to return (`None` once returned, or if it was gone),
    /// with the send's result and the bytes not sent, for `to`'s next write to report if
    /// the future is dropped before it returns it.
    broken: Option<(io::Error, i32, usize)>,
    /// The task awaiting the forward.
    waiter: Option<Waker>,
    /// The future returned or was dropped: the ops finish on their own, and the turns go
    /// once both are over.
    detached: bool,
}

/// Why the receive ended.
enum End {
    /// The peer closed its side.
    Eof,
    /// An error, the forward's result once what was received went out.
    Error(io::Error),
    /// The pool's ring was empty (ENOBUFS): re-arm once a buffer went back.
    Dry,
    /// The kernel ended the multishot without an error: re-arm.
    Stopped,
}

impl<'a> Forward<'a> {
    pub(crate) fn new(from: &'a StreamIo, to: &'a StreamIo, pool: &'a BufPool) -> Forward<'a> {
        Forward {
            from,
            to,
            pool,
            recv: None,
        }
    }

    /// Takes the other stream's write turn, then what dropped receives of this one kept
    /// (sent first), then arms the receive.
    fn poll_start(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.pool.ring().is_current() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "forward_to: the pool belongs to another core's ring (or no runtime runs \
                 here): forward on the core that created the pool",
            )));
        }
        // Kept bytes are taken only with the write turn in hand, so none wait in between.
        let writing = match self.to.sent.poll_start(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(started) => started?,
        };
        let fwd = Rc::new(Fwd {
            state: RefCell::new(State {
                from: self.from.fd.clone(),
                to: self.to.fd.clone(),
                pool: self.pool.clone(),
                ring: self.pool.ring().clone(),
                receiving_now: false,
                receive: None,
                armed_at: self.pool.mark(),
                // Not armed yet: the future's loop arms it.
                ended: Some(End::Stopped),
                receiving: None,
                writing: Some(writing),
                queue: VecDeque::new(),
                flight: Vec::new(),
                flight_done: 0,
                spare: Vec::new(),
                sending_now: false,
                copied: 0,
                stopped_sending: false,
                broken: None,
                waiter: None,
                detached: false,
            }),
            // SAFETY: an all-zero msghdr is valid (no name, no iovecs, no control data), and
            // so is an all-zero iovec.
            msg: UnsafeCell::new(unsafe { std::mem::zeroed() }),
        });
        let send = Rc::new(SendSide { fwd: fwd.clone() });
        self.recv = Some(Rc::new(RecvSide { fwd, send }));
        Poll::Ready(Ok(()))
    }

    /// Takes what dropped receives kept (queued first), then arms the receive; or records
    /// the kept end. A re-arm holds the read turn already.
    fn poll_arm(&mut self, recv: &Rc<RecvSide>, cx: &mut Context<'_>) -> Poll<()> {
        let held = recv.fwd.state.borrow_mut().receiving.take();
        let receiving = match held {
            Some(receiving) => receiving,
            None => loop {
                let kept = match self.from.received.poll_take_chunk(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(kept) => kept,
                };
                let end = match kept {
                    Kept::Some(Ok(Some(bytes))) => {
                        let buf = ProvidedBuf::from_vec(bytes);
                        recv.fwd.state.borrow_mut().queue.push_back(buf);
                        recv.send.push_send();
                        continue;
                    }
                    Kept::Some(Ok(None)) => End::Eof,
                    Kept::Some(Err(e)) => End::Error(e),
                    Kept::None(receiving) => break receiving,
                };
                recv.fwd.state.borrow_mut().ended = Some(end);
                return Poll::Ready(());
            },
        };
        let (sqe, ring) = {
            let mut state = recv.fwd.state.borrow_mut();
            state.armed_at = state.pool.mark();
            state.receiving = Some(receiving);
            // Before the push: its final CQE may be reaped inside it, and records the end.
            state.ended = None;
            state.receiving_now = true;
            let sqe = prep::prep_recv_multishot(state.from.raw(), state.pool.group(), 0);
            (sqe, state.ring.clone())
        };
        let owner: Rc<dyn SharedCompletion> = recv.clone();
        // SAFETY: the SQE names the `from` fd, which `state.from` keeps open, and buffer
        // group `pool.group()`, whose memory `state.pool` keeps alive; it points to no other
        // memory. It goes on the pool's own ring (`state.ring`), whatever ring is current,
        // so the kernel picks from this pool's buffers. `state` lives in the `Fwd` that
        // `owner` holds until the final CQE.
        let armed = unsafe { runtime::op::submit_shared_cancelable(&ring, sqe, owner) };
        let mut state = recv.fwd.state.borrow_mut();
        match armed {
            Ok(op) if state.receiving_now => state.receive = Some(op),
            // Over already (its final CQE was reaped inside the push).
            Ok(_) => {}
            Err(e) => {
                state.receiving_now = false;
                state.ended = Some(End::Error(e));
            }
        }
        Poll::Ready(())
    }
}

impl Future for Forward<'_> {
    type Output = io::Result<u64>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if this.recv.is_none()
            && let Err(e) = std::task::ready!(this.poll_start(cx))
        {
            return Poll::Ready(Err(e));
        }
        let Some(recv) = this.recv.clone() else {
            unreachable!("started")
        };
        loop {
            let mut state = recv.fwd.state.borrow_mut();
            if state.detached {
                return Poll::Ready(Err(io::Error::other("forward_to polled after it returned")));
            }
            if !state.ring.is_current() {
                // Its ops complete, and wake it, only when the pool's ring turns.
                return Poll::Ready(Err(io::Error::other(
                    "forward_to polled outside the core of its pool's ring (in another \
                     runtime, or in none): await it on that core",
                )));
            }
            if let Some((e, _, _)) = state.broken.take() {
                drop(state);
                recv.fwd.detach();
                return Poll::Ready(Err(e));
            }
            match &state.ended {
                None => {
                    set_waker(&mut state.waiter, cx);
                    return Poll::Pending;
                }
                Some(End::Dry) => {
                    if state.pool.poll_refilled(state.armed_at, cx).is_pending() {
                        set_waker(&mut state.waiter, cx);
                        return Poll::Pending;
                    }
                    drop(state);
                    std::task::ready!(this.poll_arm(&recv, cx));
                }
                Some(End::Stopped) => {
                    drop(state);
                    std::task::ready!(this.poll_arm(&recv, cx));
                }
                Some(End::Eof | End::Error(_)) => {
                    if !state.queue.is_empty() || state.sending_now {
                        // Everything received goes out before the end is told.
                        set_waker(&mut state.waiter, cx);
                        return Poll::Pending;
                    }
                    let out = match state.ended.take() {
                        Some(End::Error(e)) => Err(e),
                        _ => Ok(state.copied),
                    };
                    drop(state);
                    recv.fwd.detach();
                    return Poll::Ready(out);
                }
            }
        }
    }
}

impl Drop for Forward<'_> {
    fn drop(&mut self) {
        if let Some(recv) = self.recv.take() {
            recv.fwd.detach();
        }
    }
}

impl Fwd {
    /// The future is gone (returned, or dropped): the receive is cancelled, what it
    /// received still goes out, and the turns go once both ops are over.
    fn detach(&self) {
        let receive = {
            let mut state = self.state.borrow_mut();
            if state.detached {
                return;
            }
            state.detached = true;
            state.waiter = None;
            // A failed send nobody was told of: the stream's next write reports the gap.
            if let (Some((_, res, unsent)), Some(writing)) = (state.broken.take(), &state.writing) {
                writing.keep_result(res, unsent);
            }
            state.receive.clone()
        };
        // With nothing borrowed: outside the loop the driver submits and reaps at once.
        if let Some(op) = receive {
            op.cancel();
        }
        self.release_if_over();
    }

    /// Once detached and no op is in flight: gives up both turns (with nothing borrowed:
    /// their drops wake the streams' waiting readers and writers).
    fn release_if_over(&self) {
        let (receiving, writing) = {
            let mut state = self.state.borrow_mut();
            if !state.detached || state.receiving_now || state.sending_now {
                return;
            }
            (state.receiving.take(), state.writing.take())
        };
        drop(receiving);
        drop(writing);
    }

    fn wake(&self) {
        let waiter = self.state.borrow_mut().waiter.take();
        if let Some(w) = waiter {
            w.wake();
        }
    }
}

impl SendSide {
    /// Pushes the send of what is queued (or of a short send's rest) unless one is in
    /// flight. From the task, or from a CQE's `on_cqe` (then pushed when the reap is over).
    fn push_send(self: &Rc<Self>) {
        let (sqe, ring) = {
            let mut state = self.fwd.state.borrow_mut();
            if state.sending_now || state.stopped_sending {
                return;
            }
            if state.flight.is_empty() {
                let mut bytes = 0;
                while let Some(next) = state.queue.front() {
                    let full =
                        bytes + next.len() > BATCH_PART_MAX || state.flight.len() == SEND_BUFS_MAX;
                    if !state.flight.is_empty() && full {
                        break;
                    }
                    bytes += next.len();
                    let next = state.queue.pop_front().expect("looked at");
                    state.flight.push(next);
                }
                state.flight_done = 0;
                if state.flight.is_empty() {
                    return;
                }
            }
            state.sending_now = true;
            (self.fwd.send_sqe(&state), state.ring.clone())
        };
        let owner: Rc<dyn SharedCompletion> = self.clone();
        // SAFETY: the SQE points into the buffers of `state.flight` (a pool's memory, kept
        // alive by each buffer's pool handle, or a kept Vec's heap block), within their
        // lengths, directly or through `fwd.msg`'s iovecs; its fd is `state.to`, kept open.
        // With `sending_now` set, nothing takes, drops or moves those buffers' bytes, nor
        // writes `msg`, until this op's final CQE clears it in `on_cqe`; the `Fwd` holding
        // them lives as long as `owner`, which the ring holds until then.
        if let Err(e) = unsafe { runtime::op::submit_shared_on(&ring, sqe, owner) } {
            // Nothing was pushed: the send fails as if the kernel had refused it.
            let errno = e.raw_os_error().unwrap_or(libc::EIO);
            self.clone().on_cqe(Completion::new(0, -errno, 0));
        }
    }
}

impl Fwd {
    /// The SQE that sends `state.flight` from byte `flight_done` on. Called with
    /// `sending_now` just set, so no send reads `msg` now.
    fn send_sqe(&self, state: &State) -> Sqe {
        let flags = libc::MSG_NOSIGNAL | libc::MSG_WAITALL;
        let mut skip = state.flight_done;
        let mut spans = state.flight.iter().filter_map(|b| {
            if skip >= b.len() {
                skip -= b.len();
                return None;
            }
            let from = std::mem::take(&mut skip);
            Some(libc::iovec {
                iov_base: b.as_ptr().wrapping_add(from) as *mut libc::c_void,
                iov_len: b.len() - from,
            })
        });
        let first = spans.next().expect("a send has bytes");
        // SAFETY: no send is in flight (the caller just set `sending_now`, which was
        // false), so the kernel reads no part of `msg`, and nothing else refers to it.
        let msg = unsafe { &mut *self.msg.get() };
        let mut n = 0;
        msg.iovecs[n] = first;
        n += 1;
        for span in spans {
            msg.iovecs[n] = span;
            n += 1;
        }
        if n == 1 {
            let len = u32::try_from(first.iov_len).unwrap_or(u32::MAX);
            return prep::prep_send(
                state.to.raw(),
                first.iov_base.cast_const().cast(),
                len,
                flags,
            );
        }
        msg.hdr.msg_iov = msg.iovecs.as_mut_ptr();
        msg.hdr.msg_iovlen = n;
        prep::prep_sendmsg(state.to.raw(), &msg.hdr, flags)
    }
}

impl SharedCompletion for SendSide {
    fn on_cqe(self: Rc<Self>, cqe: Completion) {
        if cqe.more() {
            return;
        }
        let mut state = self.fwd.state.borrow_mut();
        state.sending_now = false;
        let left: usize = state.flight.iter().map(|b| b.len()).sum::<usize>() - state.flight_done;
        let failed = match cqe.res() {
            n if n > 0 => {
                let n = n as usize;
                state.copied += n as u64;
                if n < left {
                    // Short (rare: sends ask for all of it): the rest goes next.
                    state.flight_done += n;
                    drop(state);
                    self.push_send();
                    return;
                }
                None
            }
            n if n == -libc::EINTR => {
                drop(state);
                self.push_send();
                return;
            }
            0 => Some(io::Error::new(
                io::ErrorKind::WriteZero,
                "forward_to: the socket accepted no bytes",
            )),
            n => Some(io::Error::from_raw_os_error(-n)),
        };
        // The buffers drop with nothing borrowed: back to their pool, where a push may
        // wake a receive waiting for one.
        let spare = std::mem::take(&mut state.spare);
        let mut sent = std::mem::replace(&mut state.flight, spare);
        state.flight_done = 0;
        let Some(e) = failed else {
            drop(state);
            sent.clear();
            let mut state = self.fwd.state.borrow_mut();
            state.spare = sent;
            let idle = state.queue.is_empty();
            let told = state.ended.is_some() && idle;
            drop(state);
            if idle {
                if told {
                    self.fwd.wake();
                }
                self.fwd.release_if_over();
            } else {
                self.push_send();
            }
            return;
        };
        // The peer of `to` is gone or broken: nothing more goes out. What was received and
        // not sent is lost with it; the error says so. The receive stops.
        let queued = std::mem::take(&mut state.queue);
        let unsent = left + queued.iter().map(|b| b.len()).sum::<usize>();
        let e = io::Error::new(
            e.kind(),
            format!(
                "forward_to: sending failed ({e}); {unsent} received bytes were not sent, and \
                 what the receiving stream gets from now on is kept for its next read"
            ),
        );
        state.stopped_sending = true;
        let (res, unsent) = (cqe.res().min(0), unsent.max(1));
        if state.detached {
            // Nobody waits for the forward: the stream's next write reports the gap.
            if let Some(writing) = &state.writing {
                writing.keep_result(res, unsent);
            }
        } else {
            state.broken = Some((e, res, unsent));
        }
        let receive = state.receive.clone();
        drop(state);
        if let Some(op) = receive {
            op.cancel();
        }
        drop(sent);
        drop(queued);
        self.fwd.wake();
        self.fwd.release_if_over();
    }
}

impl SharedCompletion for RecvSide {
    fn on_cqe(self: Rc<Self>, cqe: Completion) {
        let mut state = self.fwd.state.borrow_mut();
        let bid = cqe.buffer_id();
        let mut end = None;
        match cqe.res() {
            n if n > 0 => {
                // SAFETY: `bid` comes from a CQE of this receive, which selects from
                // `state.pool`'s group on the pool's own ring, and each CQE is seen once,
                // here: the kernel handed the buffer over once.
                let buf = bid.map(|bid| unsafe { state.pool.take(bid, n as usize) });
                match (buf, state.stopped_sending) {
                    (Some(buf), false) => state.queue.push_back(buf),
                    // `to` is broken: the bytes wait for the receiving stream's next read.
                    (Some(buf), true) => {
                        if let Some(receiving) = &state.receiving {
                            receiving.keep(buf.to_vec(), None);
                        }
                    }
                    // A buffer-select receive that delivered data names its buffer.
                    (None, _) => debug_assert!(false, "a receive's data without a buffer"),
                }
            }
            res => {
                if let Some(bid) = bid {
                    // SAFETY: as above; nobody reads this buffer.
                    unsafe { state.pool.recycle(bid) };
                }
                end = Some(match res {
                    0 => End::Eof,
                    e if e == -libc::ENOBUFS => End::Dry,
                    e => End::Error(io::Error::from_raw_os_error(-e)),
                });
            }
        }
        if cqe.more() {
            drop(state);
            self.send.push_send();
            return;
        }
        let receive = state.receive.take();
        state.receiving_now = false;
        let end = end.unwrap_or(End::Stopped);
        if state.detached {
            // An error nobody will see waits for the stream's next read.
            if let (End::Error(e), Some(receiving)) = (&end, &state.receiving)
                && e.raw_os_error() != Some(libc::ECANCELED)
            {
                receiving.keep_end(-e.raw_os_error().unwrap_or(libc::EIO));
            }
        } else {
            state.ended = Some(end);
        }
        drop(state);
        drop(receive);
        self.send.push_send();
        self.fwd.wake();
        self.fwd.release_if_over();
    }
}
