//! Timers: [`sleep`], [`sleep_until`], [`timeout`], [`interval`] (first tick at once, as in
//! tokio; [`MissedTickBehavior`]).
//!
//! Each core keeps its timers in a hierarchical wheel; no SQE per timer. The
//! core's wait in `io_uring_enter` is bounded by the nearest deadline (`IORING_ENTER_EXT_ARG`),
//! so an idle core wakes for its timers without polling. Timers have millisecond resolution
//! and never fire before their deadline.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::executor::context;
use crate::executor::timer_wheel::TimerKey;

/// Completes at `deadline` (see [`sleep`]).
#[must_use = "a Sleep does nothing until awaited"]
#[derive(Debug)]
pub struct Sleep {
    deadline: Instant,
    /// The timer, and the id of the wheel (core) that holds it: a `Sleep` is `Send`, and a
    /// key means nothing in another core's wheel.
    key: Option<(u64, TimerKey)>,
}

/// Completes after `duration`.
///
/// # Panics
/// When polled outside a runtime.
///
/// # Examples
/// ```
/// use std::time::{Duration, Instant};
/// runtime::Runtime::new()?.block_on(async {
///     let start = Instant::now();
///     runtime::time::sleep(Duration::from_millis(5)).await;
///     assert!(start.elapsed() >= Duration::from_millis(5));
/// });
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn sleep(duration: Duration) -> Sleep {
    sleep_until(after(Instant::now(), duration))
}

/// `at + d`, or about 30 years from `at` where that would overflow: as tokio, a huge
/// duration (`Duration::MAX`) means "practically never", not a panic.
fn after(at: Instant, d: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(86_400 * 365 * 30);
    at.checked_add(d.min(FAR)).unwrap_or(at)
}

/// Completes at `deadline`.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        deadline,
        key: None,
    }
}

impl Sleep {
    /// The deadline.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Moves the deadline (the timer is re-registered at the next poll).
    pub fn reset(&mut self, deadline: Instant) {
        self.cancel();
        self.deadline = deadline;
    }

    fn cancel(&mut self) {
        if let Some((wheel, key)) = self.key.take()
            && let Ok(core) = context::current()
        {
            let mut timers = core.timers.borrow_mut();
            // On another core the timer cannot be reached: it stays in its wheel and wakes
            // its old task once, spuriously, at the deadline.
            let waker = if timers.id() == wheel {
                timers.remove(key)
            } else {
                None
            };
            // Dropped once the wheel is free: a waker's drop may reach it.
            drop(timers);
            drop(waker);
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // Only an unregistered sleep reads the clock: a registered one is fired by its wheel,
        // which each loop turn advances to the present (never early), so a sleep polled again
        // and again (hyper polls its header timeout on every read) costs no clock reads.
        if self.key.is_none() && Instant::now() >= self.deadline {
            self.cancel();
            return Poll::Ready(());
        }
        let core = match context::current() {
            Ok(core) => core,
            Err(e) => panic!("runtime::time::sleep: {e}"),
        };
        let mut timers = core.timers.borrow_mut();
        if self.key.is_some_and(|(wheel, _)| wheel != timers.id()) {
            // Polled first on another core (see `cancel`): register here afresh.
            self.key = None;
        }
        match self.key.map(|(_, key)| key) {
            Some(key) if timers.is_fired(key) => {
                // A fired timer has no waker left to return.
                let _ = timers.remove(key);
                drop(timers);
                self.key = None;
                Poll::Ready(())
            }
            Some(key) => {
                let replaced = timers.set_waker(key, cx.waker());
                drop(timers);
                drop(replaced);
                Poll::Pending
            }
            None => {
                let key = (
                    timers.id(),
                    timers.insert(self.deadline, cx.waker().clone()),
                );
                drop(timers);
                self.key = Some(key);
                Poll::Pending
            }
        }
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.cancel();
    }
}

/// The error of [`timeout`] when the deadline passed first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed(());

impl std::fmt::Display for Elapsed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("deadline elapsed")
    }
}

impl std::error::Error for Elapsed {}

impl From<Elapsed> for io::Error {
    fn from(e: Elapsed) -> Self {
        io::Error::new(io::ErrorKind::TimedOut, e)
    }
}

pin_project_lite::pin_project! {
    /// The future of [`timeout`].
    #[must_use = "a Timeout does nothing until awaited"]
    pub struct Timeout<F> {
        #[pin]
        future: F,
        sleep: Sleep,
    }
}

/// Runs `future` for at most `duration`; on expiry it is dropped (its ops follow the op
/// cancel contract: cancelled, or left to finish where an op says so, as stream writes
/// do) and `Err(Elapsed)` is returned.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// runtime::Runtime::new()?.block_on(async {
///     let r = runtime::time::timeout(Duration::from_millis(1), std::future::pending::<()>()).await;
///     assert!(r.is_err());
/// });
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    Timeout {
        future,
        sleep: sleep(duration),
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(v) = this.future.poll(cx) {
            return Poll::Ready(Ok(v));
        }
        Pin::new(this.sleep).poll(cx).map(|()| Err(Elapsed(())))
    }
}

/// Ticks every `period`, the first tick at once (as tokio's `interval`); see
/// [`MissedTickBehavior`] for ticks that come late.
///
/// # Examples
/// ```
/// use std::time::{Duration, Instant};
/// use runtime::time::{MissedTickBehavior, interval};
///
/// runtime::Runtime::new()?.block_on(async {
///     let start = Instant::now();
///     let mut every = interval(Duration::from_millis(2));
///     every.set_missed_tick_behavior(MissedTickBehavior::Delay);
///     every.tick().await; // at once
///     every.tick().await;
///     assert!(start.elapsed() >= Duration::from_millis(2));
/// });
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Interval {
    period: Duration,
    sleep: Sleep,
    missed: MissedTickBehavior,
}

/// What an [`Interval`] does after a tick that came late (the task was busy, the core
/// loaded): by more than 5 ms, as in tokio, since a timer fires up to a millisecond or so
/// after its deadline anyway. Ticks `a`, `b`, … are due every period `p`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissedTickBehavior {
    /// The missed ticks come at once, one after the other, until the interval is on its
    /// schedule again (the default, as in tokio): the number of ticks over a long run stays
    /// `elapsed / p`.
    #[default]
    Burst,
    /// The next tick is one period after the late one: the schedule shifts by the delay.
    Delay,
    /// The missed ticks are skipped: the next tick is the next one due on the original
    /// schedule.
    Skip,
}

/// An [`Interval`] ticking every `period`, the first tick at once.
///
/// A `period` shorter than [`MIN_PERIOD`] (one millisecond, the timers' resolution), zero
/// included, is raised to it ([`Interval::period`] says so) rather than panicking as
/// tokio does: with a zero period every tick would be due at once, so a task looping on
/// `tick` would never yield and would stall its core, and millisecond timers cannot keep
/// a shorter period anyway.
pub fn interval(period: Duration) -> Interval {
    interval_at(Instant::now(), period)
}

/// The shortest [`Interval`] period: one tick of the timer wheel (a millisecond); shorter
/// ones are raised to it.
pub const MIN_PERIOD: Duration = Duration::from_millis(1);

/// An [`Interval`] ticking every `period` (at least [`MIN_PERIOD`], as for [`interval`]),
/// the first tick at `start`.
pub fn interval_at(start: Instant, period: Duration) -> Interval {
    Interval {
        period: period.max(MIN_PERIOD),
        sleep: sleep_until(start),
        missed: MissedTickBehavior::default(),
    }
}

/// How late a tick may come before [`MissedTickBehavior`] applies (tokio's value).
const MAX_DRIFT: Duration = Duration::from_millis(5);

impl Interval {
    /// Waits for the next tick; returns when it was due.
    ///
    /// # Cancel safety
    /// Cancel safe: a dropped `tick` used up no tick.
    pub async fn tick(&mut self) -> Instant {
        std::future::poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// Polls for the next tick; returns when it was due.
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        let due = self.sleep.deadline();
        match Pin::new(&mut self.sleep).poll(cx) {
            Poll::Ready(()) => {
                let now = Instant::now();
                let next = if now > after(due, MAX_DRIFT) {
                    self.missed.next(due, now, self.period)
                } else {
                    after(due, self.period)
                };
                self.sleep.reset(next);
                Poll::Ready(due)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    /// Starts the schedule again: the next tick one period from now.
    pub fn reset(&mut self) {
        self.sleep.reset(after(Instant::now(), self.period));
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// What it does after a late tick.
    pub fn missed_tick_behavior(&self) -> MissedTickBehavior {
        self.missed
    }

    /// Sets what it does after a late tick.
    pub fn set_missed_tick_behavior(&mut self, missed: MissedTickBehavior) {
        self.missed = missed;
    }
}

impl MissedTickBehavior {
    /// The tick after one that was `due` and came at `now`, late.
    fn next(self, due: Instant, now: Instant, period: Duration) -> Instant {
        match self {
            MissedTickBehavior::Burst => after(due, period),
            MissedTickBehavior::Delay => after(now, period),
            MissedTickBehavior::Skip => {
                let late = now.duration_since(due).as_nanos();
                let into_period = (late % period.as_nanos()) as u64;
                after(now, period)
                    .checked_sub(Duration::from_nanos(into_period))
                    .unwrap_or(now)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missed_ticks_burst_delay_or_skip() {
        let p = Duration::from_millis(10);
        let due = Instant::now();
        let now = due + Duration::from_millis(35);
        assert_eq!(MissedTickBehavior::Burst.next(due, now, p), due + p);
        assert_eq!(MissedTickBehavior::Delay.next(due, now, p), now + p);
        // Due at 0, 10, 20, 30, 40: the next on the schedule after 35 is 40.
        assert_eq!(
            MissedTickBehavior::Skip.next(due, now, p),
            due + Duration::from_millis(40)
        );
    }
}
