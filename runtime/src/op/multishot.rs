//! [`Multishot`]: the stream of a multishot op's CQEs.

use std::marker::PhantomData;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use super::operation::MultishotOperation;
use super::submit::{NO_CQE, Polled, Stage, abandon, poll_in_flight, ring_for};
use crate::driver::slot::{Abandoned, Completion};

struct AbandonedStream<T>(T);

impl<T: MultishotOperation> Abandoned for AbandonedStream<T> {
    fn on_cqe(&mut self, cqe: Completion) {
        self.0.on_abandoned_cqe(cqe);
    }
}

/// The stream of a [`MultishotOperation`]'s CQEs; ends after the final CQE (one without
/// `IORING_CQE_F_MORE`). Dropping it follows the cancel contract of [`crate::op`].
///
/// Polled outside its core's loop, it is cancelled and settled there: the items the kernel
/// delivered come out in order, then the end.
#[must_use = "a multishot op does nothing until polled"]
pub struct Multishot<T: MultishotOperation> {
    stage: Stage,
    op: Option<T>,
    _core_bound: PhantomData<Rc<()>>,
}

impl<T: MultishotOperation> Unpin for Multishot<T> {}

impl<T: MultishotOperation> Multishot<T> {
    /// Wraps `op`; the SQE is pushed at the first poll.
    pub fn new(op: T) -> Multishot<T> {
        Multishot {
            stage: Stage::Unsubmitted,
            op: Some(op),
            _core_bound: PhantomData,
        }
    }

    /// Whether the kernel ended the stream (the last item was its final CQE): re-arm by
    /// making a new one.
    pub fn is_ended(&self) -> bool {
        matches!(self.stage, Stage::Done)
    }

    /// Asks the kernel to stop; the stream ends after the final CQE.
    pub fn cancel(&mut self) {
        if let Stage::InFlight(driver, key) = &self.stage {
            let key = *key;
            driver.with_or_defer(move |d| d.cancel(key));
        }
    }

    /// The operation, while the kernel does not have it: before the first poll, or after
    /// the stream ended (e.g. to re-arm it). `None` while the op is armed, since the kernel
    /// then uses what the operation owns.
    pub fn operation_mut(&mut self) -> Option<&mut T> {
        match self.stage {
            Stage::InFlight(..) => None,
            Stage::Unsubmitted | Stage::Done => self.op.as_mut(),
        }
    }

    /// Whether [`Multishot::poll_next_item`] may return an item (or the end) now: `false`
    /// only when the op is armed on this core's running loop and no CQE of it waits, so a
    /// poll would return `Pending`. Lets a caller that drains what already arrived (a batch)
    /// stop without polling, and so without touching the waker it parked.
    pub fn item_ready(&self) -> bool {
        let Stage::InFlight(driver, key) = &self.stage else {
            return true;
        };
        if !driver.is_active() {
            // Outside the loop a poll settles the op: let the caller poll.
            return true;
        }
        driver.with(|d| d.has_next_op(*key)).unwrap_or(true)
    }

    /// Polls for the next item; `None` after the final CQE.
    pub fn poll_next_item(&mut self, cx: &mut Context<'_>) -> Poll<Option<T::Item>> {
        if let Stage::Unsubmitted = self.stage {
            let op = self
                .op
                .as_mut()
                .expect("an unsubmitted op has its operation");
            let submitted = ring_for(op.bound_ring()).and_then(|driver| {
                let sqe = op.sqe();
                let key = driver.try_with(|d| d.submit(sqe, None, cx.waker(), None))?;
                Ok((driver, key))
            });
            match submitted {
                Ok((driver, key)) => self.stage = Stage::InFlight(driver, key),
                Err(e) => {
                    self.stage = Stage::Done;
                    return Poll::Ready(Some(op.next(Err(e), NO_CQE)));
                }
            }
        }
        let Stage::InFlight(driver, key) = &self.stage else {
            return Poll::Ready(None);
        };
        match poll_in_flight(driver, *key, cx, |d, k, cx| d.poll_next_op(k, cx)) {
            Polled::Ready(Some(c)) | Polled::Settled(Some(c)) => {
                let op = self.op.as_mut().expect("a streaming op has its operation");
                Poll::Ready(Some(op.next(c.result(), c)))
            }
            Polled::Ready(None) | Polled::Settled(None) => {
                self.stage = Stage::Done;
                Poll::Ready(None)
            }
            Polled::Pending => Poll::Pending,
        }
    }
}

impl<T: MultishotOperation> futures_core::Stream for Multishot<T> {
    type Item = T::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T::Item>> {
        self.poll_next_item(cx)
    }
}

impl<T: MultishotOperation> Drop for Multishot<T> {
    fn drop(&mut self) {
        if let (Stage::InFlight(driver, key), Some(op)) = (
            std::mem::replace(&mut self.stage, Stage::Done),
            self.op.take(),
        ) {
            abandon(&driver, key, Box::new(AbandonedStream(op)), true);
        }
    }
}
