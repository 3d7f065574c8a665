//! Timers: `sleep` never fires early and wakes an idle core, `timeout` and the ops it drops,
//! `interval`, and 100,000 timers registered and dropped.

mod support;

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use runtime::op::Op;
use runtime::time::{Elapsed, interval, sleep, timeout};
use runtime::{Runtime, metrics, spawn};
use support::{Read, pipe, watchdog};

#[test]
fn sleep_never_fires_early() {
    let _w = watchdog("sleep_never_fires_early", Duration::from_secs(10));
    Runtime::new().unwrap().block_on(async {
        for ms in [0, 1, 2, 5, 10, 25, 50] {
            let d = Duration::from_millis(ms);
            let start = Instant::now();
            sleep(d).await;
            let elapsed = start.elapsed();
            assert!(elapsed >= d, "sleep({d:?}) returned after {elapsed:?}");
        }
        // Sub-millisecond durations too (the wheel counts whole milliseconds).
        for us in [100, 999, 1_001, 1_500] {
            let d = Duration::from_micros(us);
            let start = Instant::now();
            sleep(d).await;
            assert!(
                start.elapsed() >= d,
                "sleep({d:?}) returned after {:?}",
                start.elapsed()
            );
        }
    });
}

#[test]
fn idle_core_wakes_for_its_timer() {
    let _w = watchdog("idle_core_wakes_for_its_timer", Duration::from_secs(10));
    Runtime::new().unwrap().block_on(async {
        for ms in [10, 50, 100] {
            let d = Duration::from_millis(ms);
            let start = Instant::now();
            // The only work: a task sleeping; the core waits in the kernel meanwhile.
            spawn(sleep(d)).await.unwrap();
            let elapsed = start.elapsed();
            // A generous sanity bound, not a performance claim.
            assert!(
                elapsed >= d && elapsed < d + Duration::from_millis(500),
                "sleep({d:?}) took {elapsed:?}"
            );
        }
        let m = metrics().unwrap();
        assert!(
            m.loop_turns < 10_000,
            "the idle core spun instead of waiting: {m:?}"
        );
    });
}

#[test]
fn timeout_elapses_for_a_pending_future_and_passes_a_ready_one() {
    let _w = watchdog(
        "timeout_elapses_for_a_pending_future_and_passes_a_ready_one",
        Duration::from_secs(10),
    );
    Runtime::new().unwrap().block_on(async {
        let start = Instant::now();
        let r = timeout(Duration::from_millis(10), std::future::pending::<()>()).await;
        assert_eq!(r, Err::<(), Elapsed>(r.unwrap_err()));
        assert!(start.elapsed() >= Duration::from_millis(10));

        assert_eq!(timeout(Duration::from_millis(10), async { 5 }).await, Ok(5));
        // Ready before the deadline, after some waiting.
        let r = timeout(Duration::from_secs(5), async {
            sleep(Duration::from_millis(5)).await;
            6
        })
        .await;
        assert_eq!(r, Ok(6));
        // Even a zero timeout lets a ready future through.
        assert_eq!(timeout(Duration::ZERO, async { 7 }).await, Ok(7));
        assert_eq!(metrics().unwrap().timers_pending, 0);
    });
}

#[test]
fn timeout_dropping_an_in_flight_op_cancels_it() {
    let _w = watchdog(
        "timeout_dropping_an_in_flight_op_cancels_it",
        Duration::from_secs(10),
    );
    let (rfd, _wfd) = pipe();
    Runtime::new().unwrap().block_on(async {
        let r = timeout(
            Duration::from_millis(10),
            Op::new(Read::new(rfd, Vec::with_capacity(16))),
        )
        .await;
        assert!(r.is_err(), "a read of an empty pipe completed");
        sleep(Duration::from_millis(20)).await;
        let m = metrics().unwrap();
        assert_eq!(m.ops_in_flight, 0, "{m:?}");
        assert!(m.ops_cancelled >= 1, "{m:?}");
    });
}

#[test]
fn interval_ticks_with_increasing_deadlines() {
    let _w = watchdog(
        "interval_ticks_with_increasing_deadlines",
        Duration::from_secs(10),
    );
    Runtime::new().unwrap().block_on(async {
        let period = Duration::from_millis(5);
        let start = Instant::now();
        let mut iv = interval(period);
        let first = iv.tick().await;
        assert!(
            first <= start + period,
            "the first tick is due at once, as in tokio"
        );
        let mut last = first;
        for i in 0..10 {
            let deadline = iv.tick().await;
            let now = Instant::now();
            assert!(deadline <= now, "tick {i} came before its deadline");
            assert!(
                deadline >= last + period,
                "tick {i}: deadline {deadline:?} not a period after {last:?}"
            );
            last = deadline;
        }
        assert!(start.elapsed() >= 10 * period);
    });
}

#[test]
fn hundred_thousand_dropped_timers_leave_none_pending() {
    let _w = watchdog(
        "hundred_thousand_dropped_timers_leave_none_pending",
        Duration::from_secs(30),
    );
    Runtime::new().unwrap().block_on(async {
        let mut sleeps: Vec<_> = (0..100_000u64)
            .map(|i| Box::pin(sleep(Duration::from_millis(1_000 + i % 50_000))))
            .collect();
        // Poll each once so that it registers in the wheel.
        poll_fn(|cx| {
            for s in &mut sleeps {
                assert!(Pin::new(s).poll(cx).is_pending());
            }
            Poll::Ready(())
        })
        .await;
        assert_eq!(metrics().unwrap().timers_pending, 100_000);
        drop(sleeps);
        assert_eq!(metrics().unwrap().timers_pending, 0);
        // The core still serves timers afterwards.
        let start = Instant::now();
        sleep(Duration::from_millis(2)).await;
        assert!(start.elapsed() >= Duration::from_millis(2));
        assert_eq!(metrics().unwrap().timers_pending, 0);
    });
}

/// `Duration::MAX` means "practically never", as in tokio: no overflow panic, and a shorter
/// timer still wins.
#[test]
fn huge_durations_saturate_instead_of_panicking() {
    Runtime::new().unwrap().block_on(async {
        assert_eq!(timeout(Duration::MAX, async { 5 }).await, Ok(5));
        let far = sleep(Duration::MAX);
        assert!(far.deadline() > Instant::now() + Duration::from_secs(86_400 * 365));
        let r = timeout(Duration::from_millis(5), far).await;
        assert!(r.is_err(), "a sleep of Duration::MAX ended");
        // The first tick comes at once, as in tokio; the second practically never.
        let mut ticks = interval(Duration::MAX);
        ticks.tick().await;
        let second = timeout(Duration::from_millis(5), ticks.tick()).await;
        assert!(second.is_err(), "an interval of Duration::MAX ticked twice");
    });
}

/// A waker that drops a registered `Sleep` when woken (its drop cancels the timer).
struct DropSleepOnWake(std::sync::Mutex<Option<runtime::time::Sleep>>);

impl std::task::Wake for DropSleepOnWake {
    fn wake(self: std::sync::Arc<Self>) {
        drop(self.0.lock().unwrap().take());
    }
}

/// A timer's waker that reaches the timers again (here it drops another `Sleep`) when the
/// loop fires it: the runtime goes on. Before the fix the wakers ran inside the wheel's
/// borrow and the core panicked ("already borrowed").
#[test]
fn a_timer_waker_may_drop_a_sleep() {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll, Waker};
    runtime::Runtime::new().unwrap().block_on(async {
        let mut other = runtime::time::sleep(Duration::from_secs(60));
        std::future::poll_fn(|cx| {
            assert!(Pin::new(&mut other).poll(cx).is_pending());
            Poll::Ready(())
        })
        .await;
        let waker = Waker::from(std::sync::Arc::new(DropSleepOnWake(std::sync::Mutex::new(
            Some(other),
        ))));
        let mut first = Box::pin(runtime::time::sleep(Duration::from_millis(5)));
        assert!(
            first
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending()
        );
        drop(waker);
        // The loop fires `first` meanwhile; its waker drops `other`.
        runtime::time::sleep(Duration::from_millis(50)).await;
        drop(first);
    });
}
