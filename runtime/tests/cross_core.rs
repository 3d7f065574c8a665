//! Between cores and threads: `run_per_core`, `spawn_on`, channels with back-pressure, and
//! wakers fired from threads that are not cores (a plain thread, the blocking pool).
//!
//! The multi-core tests need 2 CPUs; with fewer they still run (two unpinned threads).

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use runtime::sync::{mpsc, oneshot};
use runtime::{Builder, Runtime, core_id, spawn, spawn_on};
use support::watchdog;

/// A value that each core takes once: how a `run_per_core` closure (which is `Fn`) hands
/// one end of a channel to one core.
struct Slot<T>(Arc<Mutex<Option<T>>>);

impl<T> Clone for Slot<T> {
    fn clone(&self) -> Self {
        Slot(self.0.clone())
    }
}

impl<T> Slot<T> {
    fn new(v: T) -> Slot<T> {
        Slot(Arc::new(Mutex::new(Some(v))))
    }

    fn take(&self) -> T {
        self.0.lock().unwrap().take().expect("taken twice")
    }
}

fn two_cores() -> Runtime {
    Builder::new().cores(2).build().unwrap()
}

#[test]
fn run_per_core_returns_outputs_in_core_order() {
    let _w = watchdog(
        "run_per_core_returns_outputs_in_core_order",
        Duration::from_secs(10),
    );
    let out = two_cores().run_per_core(|i| async move {
        runtime::yield_now().await;
        (
            i,
            core_id(),
            std::thread::current().name().map(str::to_string),
        )
    });
    assert_eq!(out.len(), 2);
    for (i, (n, id, name)) in out.into_iter().enumerate() {
        assert_eq!((n, id), (i, Some(i)));
        assert_eq!(name.as_deref(), Some(format!("runtime-core-{i}").as_str()));
    }
}

#[test]
fn spawn_on_runs_the_task_on_the_target_core() {
    let _w = watchdog(
        "spawn_on_runs_the_task_on_the_target_core",
        Duration::from_secs(10),
    );
    // Core 1 stays up until core 0 is done with it.
    let (done_tx, done_rx) = oneshot::channel::<()>();
    let (done_tx, done_rx) = (Slot::new(done_tx), Slot::new(done_rx));
    let out = two_cores().run_per_core(move |i| {
        let (done_tx, done_rx) = (done_tx.clone(), done_rx.clone());
        async move {
            if i == 1 {
                done_rx.take().await.unwrap();
                return None;
            }
            let thread = std::thread::current().id();
            let h = spawn_on(1, async move {
                (core_id(), std::thread::current().id() != thread, 41 + 1)
            })
            .unwrap();
            let r = h.await.unwrap();
            assert!(spawn_on(7, async {}).is_err(), "core 7 does not exist");
            done_tx.take().send(()).unwrap();
            Some(r)
        }
    });
    assert_eq!(out[0], Some((Some(1), true, 42)));
}

#[test]
fn mpsc_between_cores_delivers_in_order_with_back_pressure() {
    const N: u32 = 10_000;
    let _w = watchdog(
        "mpsc_between_cores_delivers_in_order_with_back_pressure",
        Duration::from_secs(20),
    );
    let (tx, rx) = mpsc::channel::<u32>(1);
    let (tx, rx) = (Slot::new(tx), Slot::new(rx));
    let out = two_cores().run_per_core(move |i| {
        let (tx, rx) = (tx.clone(), rx.clone());
        async move {
            if i == 0 {
                let tx = tx.take();
                for v in 0..N {
                    tx.send(v).await.unwrap();
                }
                0
            } else {
                let mut rx = rx.take();
                let mut next = 0;
                while let Some(v) = rx.recv().await {
                    assert_eq!(v, next, "out of order");
                    next += 1;
                }
                next
            }
        }
    });
    assert_eq!(out, vec![0, N]);
}

#[test]
fn mpsc_try_send_reports_full_at_capacity() {
    let (tx, mut rx) = mpsc::channel::<u8>(1);
    tx.try_send(1).unwrap();
    assert_eq!(tx.try_send(2), Err(mpsc::TrySendError::Full(2)));
    Runtime::new().unwrap().block_on(async move {
        assert_eq!(rx.recv().await, Some(1));
        tx.try_send(3).unwrap();
        drop(tx);
        assert_eq!(rx.recv().await, Some(3));
        assert_eq!(rx.recv().await, None);
    });
}

#[test]
fn oneshot_crosses_cores() {
    let _w = watchdog("oneshot_crosses_cores", Duration::from_secs(10));
    let (tx, rx) = oneshot::channel::<String>();
    let (tx, rx) = (Slot::new(tx), Slot::new(rx));
    let out = two_cores().run_per_core(move |i| {
        let (tx, rx) = (tx.clone(), rx.clone());
        async move {
            if i == 1 {
                runtime::time::sleep(Duration::from_millis(10)).await;
                tx.take()
                    .send(format!("from core {:?}", core_id()))
                    .unwrap();
                None
            } else {
                Some(rx.take().await.unwrap())
            }
        }
    });
    assert_eq!(out[0].as_deref(), Some("from core Some(1)"));
}

#[test]
fn waker_fired_from_a_plain_thread_wakes_an_idle_core() {
    let _w = watchdog(
        "waker_fired_from_a_plain_thread_wakes_an_idle_core",
        Duration::from_secs(10),
    );
    Runtime::new().unwrap().block_on(async {
        // The main future waits.
        let (tx, rx) = oneshot::channel();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            tx.send(1).unwrap();
        });
        assert_eq!(rx.await, Ok(1));
        t.join().unwrap();
        // A spawned task waits, the main future waits on it.
        let (tx, rx) = oneshot::channel();
        let h = spawn(rx);
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            tx.send(2).unwrap();
        });
        assert_eq!(h.await.unwrap(), Ok(2));
        t.join().unwrap();
    });
    // The same on a core of a multi-core runtime.
    let (tx, rx) = oneshot::channel();
    let rx = Slot::new(rx);
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(30));
        tx.send(3).unwrap();
    });
    let out = two_cores().run_per_core(move |i| {
        let rx = rx.clone();
        async move { if i == 1 { rx.take().await.ok() } else { None } }
    });
    assert_eq!(out, vec![None, Some(3)]);
    t.join().unwrap();
}

#[test]
fn spawn_blocking_result_wakes_the_core() {
    let _w = watchdog(
        "spawn_blocking_result_wakes_the_core",
        Duration::from_secs(10),
    );
    Runtime::new().unwrap().block_on(async {
        let v = runtime::spawn_blocking(|| {
            std::thread::sleep(Duration::from_millis(30));
            7
        })
        .await
        .unwrap();
        assert_eq!(v, 7);
    });
    let out = two_cores().run_per_core(|i| async move {
        runtime::spawn_blocking(move || {
            std::thread::sleep(Duration::from_millis(10));
            i * 10
        })
        .await
        .unwrap()
    });
    assert_eq!(out, vec![0, 10]);
}

#[test]
fn mpsc_send_cancelled_while_full_does_not_strand_another_sender() {
    let _w = watchdog(
        "mpsc_send_cancelled_while_full_does_not_strand_another_sender",
        Duration::from_secs(10),
    );
    Runtime::new().unwrap().block_on(async {
        let (tx, mut rx) = mpsc::channel::<u32>(1);
        tx.send(1).await.unwrap();
        // A send that waits for room, then is given up (its waker stays queued).
        let r = runtime::time::timeout(Duration::from_millis(5), tx.send(2)).await;
        assert!(r.is_err(), "the channel had room");
        // Another sender waits for room in its own task.
        let tx2 = tx.clone();
        let other = spawn(async move { tx2.send(3).await });
        runtime::yield_now().await;
        assert_eq!(rx.recv().await, Some(1));
        // The room freed by that recv must reach the live sender.
        let got = runtime::time::timeout(Duration::from_secs(2), rx.recv()).await;
        assert_eq!(got, Ok(Some(3)), "the waiting sender was never woken");
        other.await.unwrap().unwrap();
    });
}

#[test]
fn spawn_on_a_core_that_has_finished_does_not_hang() {
    let _w = watchdog(
        "spawn_on_a_core_that_has_finished_does_not_hang",
        Duration::from_secs(10),
    );
    let (gone_tx, gone_rx) = std::sync::mpsc::channel::<()>();
    let gone_tx = Arc::new(Mutex::new(gone_tx));
    let gone_rx = Arc::new(Mutex::new(gone_rx));
    let out = two_cores().run_per_core(move |i| {
        let (gone_tx, gone_rx) = (gone_tx.clone(), gone_rx.clone());
        async move {
            if i == 1 {
                // Core 1 returns at once; its thread then shuts the core down.
                let _ = gone_tx.lock().unwrap().send(());
                return true;
            }
            gone_rx.lock().unwrap().recv().unwrap();
            // Give core 1's thread time to get past its shutdown.
            runtime::time::sleep(Duration::from_millis(50)).await;
            match spawn_on(1, async { 5 }) {
                // Either refused at once, or aborted: never left waiting forever.
                Err(_) => true,
                Ok(h) => {
                    let r = runtime::time::timeout(Duration::from_secs(2), h).await;
                    matches!(r, Ok(Err(runtime::JoinError::Aborted)))
                }
            }
        }
    });
    assert_eq!(out, vec![true, true]);
}

#[test]
fn sleep_moved_to_another_core_leaves_that_core_timers_alone() {
    let _w = watchdog(
        "sleep_moved_to_another_core_leaves_that_core_timers_alone",
        Duration::from_secs(10),
    );
    let (tx, rx) = oneshot::channel::<runtime::time::Sleep>();
    let (tx, rx) = (Slot::new(tx), Slot::new(rx));
    let out = two_cores().run_per_core(move |i| {
        let (tx, rx) = (tx.clone(), rx.clone());
        async move {
            if i == 0 {
                // Registered in core 0's wheel, then handed to core 1.
                let mut s = runtime::time::sleep(Duration::from_secs(3600));
                assert!(support::poll_once(&mut s).await.is_none());
                tx.take().send(s).unwrap();
                return true;
            }
            // Core 1's own timer, registered before the foreign one arrives.
            let mut mine = runtime::time::sleep(Duration::from_millis(20));
            assert!(support::poll_once(&mut mine).await.is_none());
            let mut moved = rx.take().await.unwrap();
            // Polled here it must still sleep; dropped here it must not touch `mine`.
            assert!(support::poll_once(&mut moved).await.is_none());
            drop(moved);
            runtime::time::timeout(Duration::from_secs(2), mine)
                .await
                .is_ok()
        }
    });
    assert_eq!(out, vec![true, true], "a timer of core 1 was lost");
}

/// A fallback core wakes a task of an io_uring core (a oneshot between two runtimes of
/// different drivers): the io_uring core wakes. Before the fix the sender pushed the
/// wake-up as a MSG_RING on its own emulated ring, which fails unseen, and the io_uring
/// core slept on.
#[test]
fn a_fallback_core_wakes_an_io_uring_core() {
    let _w = watchdog(
        "a_fallback_core_wakes_an_io_uring_core",
        Duration::from_secs(30),
    );
    let (tx, rx) = oneshot::channel::<()>();
    let (asleep_tx, asleep_rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = Builder::new()
            .driver(runtime::DriverChoice::IoUring)
            .build()
            .expect("io_uring");
        let got = rt.block_on(async move {
            asleep_tx.send(()).unwrap();
            rx.await
        });
        done_tx.send(got.is_ok()).unwrap();
    });
    asleep_rx.recv().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let fallback = Builder::new()
        .driver(runtime::DriverChoice::Fallback)
        .build()
        .expect("fallback");
    fallback.block_on(async move { tx.send(()).unwrap() });
    let woke = done_rx.recv_timeout(Duration::from_secs(10));
    assert_eq!(woke, Ok(true), "the io_uring core never woke");
}

/// Values still queued when the receiver is dropped are dropped with it, not kept until the
/// last sender goes (before the fix they lived as long as any sender).
#[test]
fn a_dropped_receiver_drops_what_was_queued() {
    let (tx, rx) = mpsc::channel::<Arc<()>>(4);
    let value = Arc::new(());
    tx.try_send(value.clone()).unwrap();
    assert_eq!(Arc::strong_count(&value), 2);
    drop(rx);
    assert_eq!(
        Arc::strong_count(&value),
        1,
        "the queued value outlived the receiver"
    );
    assert!(tx.try_send(value.clone()).is_err());
}
