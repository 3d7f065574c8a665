//! [`Op`]: the future of one [`Operation`].

use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use super::operation::{Operation, SqeFlags};
use super::submit::{NO_CQE, Polled, Stage, abandon, poll_in_flight, ring_for};
use crate::driver::slot::{Abandoned, Completion};

struct AbandonedOp<T>(T);

impl<T: Operation> Abandoned for AbandonedOp<T> {
    fn on_cqe(&mut self, cqe: Completion) {
        self.0.on_abandoned_cqe(cqe);
    }
}

/// Per-op submission options: extra SQE flags and a link timeout.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Options {
    pub(super) sqe_flags: SqeFlags,
    pub(super) timeout: Option<Duration>,
    pub(super) cancel_requested: bool,
}

/// The future of one [`Operation`]: pushes its SQE on first poll, completes with its CQE.
///
/// Dropping it before completion follows the cancel contract of [`crate::op`].
#[must_use = "an op does nothing until awaited"]
pub struct Op<T: Operation> {
    pub(super) stage: Stage,
    pub(super) op: Option<T>,
    pub(super) options: Options,
    /// Ops belong to the core whose ring has them: never Send.
    _core_bound: PhantomData<Rc<()>>,
}

// An Op never hands out pinned references to its parts: the kernel-facing memory lives on
// the heap (Operation's contract), so moving the Op moves nothing the kernel uses.
impl<T: Operation> Unpin for Op<T> {}

impl<T: Operation> Op<T> {
    /// Wraps `op`; nothing happens until the first poll.
    pub fn new(op: T) -> Op<T> {
        Op {
            stage: Stage::Unsubmitted,
            op: Some(op),
            options: Options::default(),
            _core_bound: PhantomData,
        }
    }

    /// Adds SQE flags: [`SqeFlags::ASYNC`] (go straight to io-wq).
    pub fn sqe_flags(mut self, flags: SqeFlags) -> Self {
        self.options.sqe_flags = self.options.sqe_flags | flags;
        self
    }

    /// Cancels the op if it has not completed after `timeout` (a linked
    /// `IORING_OP_LINK_TIMEOUT`): it then completes with ECANCELED.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.options.timeout = Some(timeout);
        self
    }

    /// Asks the kernel to cancel the op; keep awaiting it to get its result, which is
    /// ECANCELED unless it completed first, with the op's buffers. An op not yet submitted
    /// completes with ECANCELED without reaching the kernel.
    pub fn cancel(&mut self) {
        self.options.cancel_requested = true;
        if let Stage::InFlight(driver, key) = &self.stage {
            let key = *key;
            driver.with_or_defer(move |d| d.cancel(key));
        }
    }

    #[inline]
    pub(super) fn finish(&mut self, result: io::Result<u32>, cqe: Completion) -> T::Output {
        self.stage = Stage::Done;
        let op = self.op.take().expect("an op completes once");
        op.complete(result, cqe)
    }

    /// Pushes the SQE on the current core's ring; its completion with exactly `quiet_if`
    /// will wake nobody (see [`Op::poll_quietly`]).
    #[inline]
    fn submit(&mut self, cx: &mut Context<'_>, quiet_if: Option<i32>) -> Poll<T::Output> {
        if self.options.cancel_requested {
            let e = io::Error::from_raw_os_error(libc::ECANCELED);
            return Poll::Ready(self.finish(Err(e), NO_CQE));
        }
        let op = self
            .op
            .as_mut()
            .expect("an unsubmitted op has its operation");
        let driver = match ring_for(op.bound_ring()) {
            Ok(driver) => driver,
            Err(e) => return Poll::Ready(self.finish(Err(e), NO_CQE)),
        };
        let sqe = op.sqe().flags(self.options.sqe_flags.bits());
        let timeout = self.options.timeout;
        match driver.try_with(|d| d.submit(sqe, timeout, cx.waker(), quiet_if)) {
            Ok(key) => {
                self.stage = Stage::InFlight(driver, key);
                Poll::Pending
            }
            Err(e) => Poll::Ready(self.finish(Err(e), NO_CQE)),
        }
    }
}

/// The result of an op that was polled outside its core's loop and so was cancelled: its
/// own result if the kernel finished first, else an error that says what happened.
fn settled_result(c: Completion) -> io::Result<u32> {
    if c.res() == -libc::ECANCELED {
        return Err(io::Error::other(
            "io_uring op polled outside the loop of the core that submitted it (outside \
             block_on, or inside another runtime): it was cancelled; await it inside its \
             own runtime",
        ));
    }
    c.result()
}

impl<T: Operation> Op<T> {
    /// Polls the op as [`Future::poll`] does, except that while it is pending, its
    /// completion with exactly the result `quiet_if` wakes nobody: the output waits for the
    /// next poll. Any other result (an error, a cancel, a short send) wakes the task as
    /// ever. The last poll decides: a plain poll after this one makes the op wake its task
    /// on any result again, and this after a plain poll silences that poll's wake too (a
    /// caller with several paths to one op polls quietly only while none of them waits).
    ///
    /// For an op the task does not wait for, whose end it collects when it runs anyway: a
    /// send whose buffer the next write takes back, when only a short send (`quiet_if` is
    /// its full length) needs the task at once. Its completion then costs no task poll.
    ///
    /// The first poll submits the op quiet from the start (its slot is made so, with no
    /// second look at it) and returns `Pending` unless the op could not start.
    pub fn poll_quietly(&mut self, cx: &mut Context<'_>, quiet_if: u32) -> Poll<T::Output> {
        // A result is never above i32::MAX: such a `quiet_if` silences nothing.
        let quiet_if = i32::try_from(quiet_if).ok();
        match self.stage {
            Stage::Unsubmitted => self.submit(cx, quiet_if),
            _ => self.poll_submitted(cx, quiet_if),
        }
    }

    #[inline(always)]
    fn poll_submitted(&mut self, cx: &mut Context<'_>, quiet_if: Option<i32>) -> Poll<T::Output> {
        match &self.stage {
            Stage::InFlight(driver, key) => {
                let polled =
                    poll_in_flight(driver, *key, cx, |d, k, cx| d.poll_op(k, cx, quiet_if));
                match polled {
                    Polled::Ready(c) => Poll::Ready(self.finish(c.result(), c)),
                    Polled::Settled(c) => Poll::Ready(self.finish(settled_result(c), c)),
                    Polled::Pending => Poll::Pending,
                }
            }
            Stage::Unsubmitted => unreachable!("submitted by the caller"),
            Stage::Done => panic!("Op polled after it completed"),
        }
    }
}

impl<T: Operation> Future for Op<T> {
    type Output = T::Output;

    #[inline(always)]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T::Output> {
        let this = &mut *self;
        match &this.stage {
            Stage::Unsubmitted => this.submit(cx, None),
            _ => this.poll_submitted(cx, None),
        }
    }
}

impl<T: Operation> Drop for Op<T> {
    fn drop(&mut self) {
        if !matches!(self.stage, Stage::InFlight(..)) {
            return;
        }
        if let (Stage::InFlight(driver, key), Some(op)) = (
            std::mem::replace(&mut self.stage, Stage::Done),
            self.op.take(),
        ) {
            let cancel = !op.finish_when_dropped();
            abandon(&driver, key, Box::new(AbandonedOp(op)), cancel);
        }
    }
}
