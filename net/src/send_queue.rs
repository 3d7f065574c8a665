//! [`SendQueue`]: writes of owned buffers that the caller does not wait for.

use std::cell::RefCell;
use std::future::poll_fn;
use std::io;
use std::rc::Rc;
use std::task::{Context, Poll, Waker, ready};

use runtime::buf::IoBuf;
use runtime::op::{Completion, Operation, RingHandle, SharedCompletion};

use crate::fd::SharedFd;
use crate::kept::{Sent, StreamWriteOp, Ticket};
use crate::op::writev::{BATCH_PART_MAX, Writev};
use crate::stream::StreamIo;
use crate::waker_slot::set_waker;

/// Sends batches of owned buffers on a stream without waiting for each send: [`send`]
/// returns once the batch is on the ring (it goes out with the loop turn's one enter), and
/// its completion wakes nobody. The buffers go back (a [`ProvidedBuf`] to its pool) as soon
/// as the kernel has sent them, whether or not the task runs. An echo or a proxy that sends
/// what it received this way costs one task wake-up per message instead of two.
///
/// One batch is in flight at a time: [`send`] waits for the one before it (the
/// backpressure a slow peer exerts). A batch goes out in sends of at most 64 KiB of whole
/// buffers (larger TCP sends cost more per byte), each part following the one before
/// without the task, as does the rest of a short send (rare: writes ask the kernel for all
/// of a part). A batch that fails is reported by the next [`send`] or [`flush`] of the
/// queue, or by the stream's next write if the queue is gone: a gap in the stream is never
/// silent.
///
/// Its writes take their place in the stream's line with the stream's other writes (in
/// the order they were first polled), and a dropped queue's batch in flight still goes out.
/// Call [`flush`] to learn that everything was sent.
///
/// ```no_run
/// # async fn echo(stream: net::TcpStream, pool: runtime::buf::BufPool)
/// # -> std::io::Result<()> {
/// let mut received = stream.recv_stream(&pool);
/// let mut queue = stream.send_queue();
/// let mut bufs = Vec::new();
/// while received.next_batch(&mut bufs, 64).await? > 0 {
///     // Takes the buffers (leaving `bufs` empty); they return to the pool once sent.
///     queue.send(&mut bufs).await?;
/// }
/// queue.flush().await
/// # }
/// ```
///
/// [`send`]: SendQueue::send
/// [`flush`]: SendQueue::flush
/// [`ProvidedBuf`]: runtime::buf::ProvidedBuf
pub struct SendQueue<B: IoBuf + 'static> {
    fd: SharedFd,
    shared: Rc<Queued<B>>,
}

/// What the queue shares with the ring while a batch is in flight.
struct Queued<B: IoBuf> {
    /// The stream's line of writes, where a batch nobody waits for reports a gap.
    sent: Sent,
    /// Never borrowed across a call into the driver, nor while buffers drop or tasks wake:
    /// the reap calls [`Queued::on_cqe`] whenever the ring turns.
    state: RefCell<State<B>>,
}

struct State<B: IoBuf> {
    /// The batch being sent, with the stream's turn, which it holds until it is done.
    batch: Option<Batch<B>>,
    /// The kernel has the batch's op: its memory must stay as it is.
    in_flight: bool,
    /// A sent batch's emptied `Vec`, handed to the next caller: no allocation per batch.
    spare: Vec<B>,
    /// A task waiting for the batch to be done (a `flush`, or a `send` behind it).
    waiter: Option<Waker>,
    /// A batch of this queue failed since the queue last reported one: reported by the
    /// queue even when another write of the stream took the stream's cut.
    failed: bool,
    /// The ring the batch in flight is on: only its loop completes it.
    ring: Option<RingHandle>,
}

struct Batch<B: IoBuf> {
    /// The op: the buffers, what it points to, and the stream's turn.
    writev: Writev<B>,
    /// Bytes in the batch, and sent so far.
    total: usize,
    done: usize,
}

impl<B: IoBuf + 'static> SendQueue<B> {
    pub(crate) fn new(io: &StreamIo) -> SendQueue<B> {
        SendQueue {
            fd: io.fd.clone(),
            shared: Rc::new(Queued {
                sent: io.sent.clone(),
                state: RefCell::new(State {
                    batch: None,
                    in_flight: false,
                    spare: Vec::new(),
                    waiter: None,
                    failed: false,
                    ring: None,
                }),
            }),
        }
    }

    /// Sends every buffer of `bufs` (their initialized bytes, in order), taking them out of
    /// it: `bufs` is left empty (with the capacity of an earlier batch's `Vec`). Returns once
    /// the batch is on the ring, after the batch before it was sent whole.
    ///
    /// # Errors
    /// How an earlier batch (or a dropped write of the stream) failed or went out in part,
    /// once; `bufs` is left as it was then, not sent. Also an error when no runtime runs
    /// here, when the batch before is in flight on another runtime's ring, or when the ring
    /// refused the op.
    ///
    /// # Cancel safety
    /// Cancel safe: a dropped call has taken nothing from `bufs` unless it returned.
    pub async fn send(&mut self, bufs: &mut Vec<B>) -> io::Result<()> {
        // A place in the stream's line from the first poll on: the batch goes in the order
        // its send was first polled among the stream's writes.
        let mut ticket = None;
        poll_fn(|cx| self.poll_send(cx, bufs, &mut ticket)).await
    }

    /// [`SendQueue::send`] for poll-based writers, which keep the batch's place in the
    /// stream's line (`ticket`, taken at the first poll that waits) across polls.
    pub(crate) fn poll_send(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &mut Vec<B>,
        ticket: &mut Option<Ticket>,
    ) -> Poll<io::Result<()>> {
        if bufs.iter().all(|b| b.bytes_init() == 0) {
            ready!(self.poll_idle(cx))?;
            // Nothing to send (a zero-length send would read as the socket refusing bytes).
            bufs.clear();
            return Poll::Ready(Ok(()));
        }
        if let Some(e) = self.stranded() {
            return Poll::Ready(Err(e));
        }
        // The batch before (which holds the stream's turn until it is done) comes first.
        // A free line (the common case) is this batch's turn at once, with no ticket.
        let free = match ticket {
            None => self.shared.sent.start_if_free(),
            Some(_) => None,
        };
        let started = match free {
            Some(sending) => Ok(sending),
            None => {
                let t = ticket.get_or_insert_with(|| self.shared.sent.ticket());
                let started = ready!(t.poll_start(cx));
                *ticket = None;
                started
            }
        };
        let sending = match started {
            Ok(sending) => sending,
            Err(e) => {
                // The stream's gap, reported now: the queue's own failure with it.
                self.shared.state.borrow_mut().failed = false;
                return Poll::Ready(Err(e));
            }
        };
        if std::mem::take(&mut self.shared.state.borrow_mut().failed) {
            drop(sending);
            return Poll::Ready(Err(own_failure()));
        }
        let batch = {
            let mut state = self.shared.state.borrow_mut();
            std::mem::replace(bufs, std::mem::take(&mut state.spare))
        };
        // All of it: one op takes at most 64 KiB of whole buffers (`BATCH_PART_MAX`) and
        // IOV_MAX of them (a send at most 4 GiB); the rest follows as after a short send.
        let total = batch.iter().map(IoBuf::bytes_init).sum();
        let mut writev = Writev::new(self.fd.clone(), batch, 0, BATCH_PART_MAX);
        writev.start(sending);
        self.shared.state.borrow_mut().batch = Some(Batch {
            writev,
            total,
            done: 0,
        });
        if let Err(e) = self.submit() {
            // Nothing reached the ring: the caller gets its buffers back, and the turn goes.
            let batch = self.shared.state.borrow_mut().batch.take();
            if let Some(batch) = batch {
                let mut taken = batch.writev.into_buf();
                std::mem::swap(bufs, &mut taken);
                self.shared.state.borrow_mut().spare = taken;
            }
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(()))
    }

    /// Waits until everything sent so far went out; then reports a gap in the stream (a
    /// batch that failed or went out in part, or a dropped write of the stream), once.
    ///
    /// # Errors
    /// That gap; or, at once, that a batch is in flight on a ring whose loop does not run
    /// here (polled outside its runtime, or inside another one): await it there.
    ///
    /// # Cancel safety
    /// Cancel safe: the batch in flight goes on.
    pub async fn flush(&mut self) -> io::Result<()> {
        poll_fn(|cx| self.poll_flush(cx)).await
    }

    /// [`SendQueue::flush`] for poll-based writers.
    pub(crate) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_idle(cx))?;
        let failed = std::mem::take(&mut self.shared.state.borrow_mut().failed);
        Poll::Ready(match self.shared.sent.take_cut() {
            Some(e) => Err(e),
            None if failed => Err(own_failure()),
            None => Ok(()),
        })
    }

    /// How a batch of this queue failed since the queue last reported one, if so (once),
    /// without waiting for the batch in flight: for a writer's next call.
    #[cfg(feature = "hyper")]
    pub(crate) fn take_failure(&mut self) -> Option<io::Error> {
        if !std::mem::take(&mut self.shared.state.borrow_mut().failed) {
            return None;
        }
        Some(self.shared.sent.take_cut().unwrap_or_else(own_failure))
    }

    /// Ready when no batch is in flight.
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(e) = self.stranded() {
            return Poll::Ready(Err(e));
        }
        let mut state = self.shared.state.borrow_mut();
        if !state.in_flight {
            return Poll::Ready(Ok(()));
        }
        set_waker(&mut state.waiter, cx);
        Poll::Pending
    }

    /// Why a batch in flight cannot complete while this thread waits for it, if so.
    fn stranded(&self) -> Option<io::Error> {
        let state = self.shared.state.borrow();
        if !state.in_flight {
            return None;
        }
        if runtime::core_id().is_none() {
            // No loop turns here: nothing would ever wake this poll.
            return Some(io::Error::other(
                "SendQueue polled outside a runtime while a batch is in flight: the batch \
                 completes when the loop of the runtime that sent it turns; await it there",
            ));
        }
        if state.ring.as_ref().is_some_and(|r| !r.is_current()) {
            // Another runtime's loop: the ring that has the batch does not turn here.
            return Some(io::Error::other(
                "SendQueue polled in another runtime than the one whose ring has its batch in \
                 flight: the batch completes when that runtime's loop turns; await it there",
            ));
        }
        None
    }

    fn submit(&self) -> io::Result<()> {
        Queued::submit(&self.shared)
    }
}

impl<B: IoBuf + 'static> std::fmt::Debug for SendQueue<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.shared.state.try_borrow();
        f.debug_struct("SendQueue")
            .field("fd", &self.fd)
            .field("in_flight", &state.as_ref().map(|s| s.in_flight).ok())
            .finish()
    }
}

/// The error of a queue whose failed batch another write of the stream reported.
fn own_failure() -> io::Error {
    io::Error::other(
        "a batch of this queue failed (reported to another write of the stream): the peer did \
         not get all of it; the stream's byte sequence has a gap there",
    )
}

/// The error that says a batch of `total` bytes went out only in part (`done`), and why it
/// stopped.
fn gap(total: usize, done: usize, why: &io::Error) -> io::Error {
    io::Error::new(
        why.kind(),
        format!(
            "a queued send on this stream sent {done} of its {total} bytes and then stopped \
             ({why}): the peer did not get the rest; the stream's byte sequence has a gap there"
        ),
    )
}

impl<B: IoBuf + 'static> Queued<B> {
    /// Pushes the batch's op on the ring; the ring then holds a reference to `this`.
    fn submit(this: &Rc<Self>) -> io::Result<()> {
        let sqe = {
            let mut state = this.state.borrow_mut();
            state.in_flight = true;
            state.ring = RingHandle::current().ok();
            let batch = state.batch.as_mut().expect("a batch to submit");
            batch.writev.sqe()
        };
        let owner: Rc<dyn SharedCompletion> = this.clone();
        // SAFETY: the SQE points into the batch's buffers (their stable, initialized bytes)
        // and, for several, into the msghdr and iovecs its `Writev` owns on the heap; its fd
        // is the `Writev`'s `SharedFd` clone, open while it lives. The batch stays in
        // `state` with `in_flight` set, and nothing takes, moves or changes it while that is
        // so (the queue's calls wait, `Debug` reads only the flag) until `on_cqe` has seen
        // the final CQE; the `Rc` the ring holds keeps it alive even after the queue is
        // dropped.
        let res = unsafe { runtime::op::submit_shared(sqe, owner) };
        if res.is_err() {
            let mut state = this.state.borrow_mut();
            state.in_flight = false;
            state.ring = None;
        }
        res
    }

    /// Records in the stream's line that `batch` went out only in part, for the stream's
    /// next write (the queue's own, or another) to report; returns its buffers, to be
    /// dropped, which ends the batch's turn.
    fn cut(&self, batch: Batch<B>, why: &io::Error) -> Vec<B> {
        self.sent.cut(gap(batch.total, batch.done, why));
        self.state.borrow_mut().failed = true;
        batch.writev.into_buf()
    }
}

impl<B: IoBuf + 'static> SharedCompletion for Queued<B> {
    fn on_cqe(self: Rc<Self>, cqe: Completion) {
        if cqe.more() {
            return;
        }
        let mut state = self.state.borrow_mut();
        state.in_flight = false;
        // The batch's ring is not kept past it: a queue outliving its runtime would keep
        // the driver (its ring and registered memory) alive. A resend sets it again.
        let _ring = state.ring.take();
        let Some(batch) = state.batch.as_mut() else {
            debug_assert!(false, "a batch is in flight until its final CQE");
            return;
        };
        let stopped = match cqe.res() {
            0 => Some(io::Error::new(
                io::ErrorKind::WriteZero,
                "the socket accepted no bytes",
            )),
            n if n == -libc::EINTR => None,
            n if n < 0 => Some(io::Error::from_raw_os_error(-n)),
            n => {
                batch.done += n as usize;
                None
            }
        };
        if stopped.is_none() && batch.done < batch.total {
            // The batch's next part (at most `BATCH_PART_MAX` per op) or the rest of a short
            // send goes now, in the turn the batch still holds (pushed when the reap is
            // over; a failed push comes back here as an error).
            let Batch {
                mut writev,
                total,
                done,
            } = state.batch.take().expect("matched above");
            let sending = writev.sending.take();
            let fd = writev.fd.clone();
            let mut rest = Writev::new(fd, writev.into_buf(), done, BATCH_PART_MAX);
            if let Some(sending) = sending {
                rest.start(sending);
            }
            state.batch = Some(Batch {
                writev: rest,
                total,
                done,
            });
            drop(state);
            if let Err(e) = Queued::submit(&self) {
                let batch = self.state.borrow_mut().batch.take();
                let bufs = batch.map(|b| self.cut(b, &e));
                self.wake_waiter();
                drop(bufs);
            }
            return;
        }
        let batch = state.batch.take().expect("matched above");
        drop(state);
        // Buffers drop and tasks wake with nothing borrowed; the waiter first (a wake only
        // schedules it), so a buffer's `Drop` that panics cannot leave it parked for good.
        let mut bufs = match stopped {
            Some(e) => self.cut(batch, &e),
            None => batch.writev.into_buf(),
        };
        self.wake_waiter();
        bufs.clear();
        let mut state = self.state.borrow_mut();
        if state.spare.capacity() < bufs.capacity() {
            state.spare = bufs;
        }
    }
}

impl<B: IoBuf> Queued<B> {
    fn wake_waiter(&self) {
        let waiter = self.state.borrow_mut().waiter.take();
        if let Some(w) = waiter {
            w.wake();
        }
    }
}
