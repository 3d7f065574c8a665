//! What a stopped core means for the others: a core whose main future panics stops alone,
//! work sent to it resolves (`Aborted`) instead of hanging, `spawn_on` to it fails at once,
//! and channels to it report closed; and `Handle`, a core's address for any thread.

mod support;

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use runtime::sync::{mpsc, oneshot};
use runtime::{Builder, Handle, JoinError, Runtime, spawn_on};
use support::watchdog;

#[test]
fn a_panicking_core_stops_alone_and_run_per_core_resumes_its_panic() {
    let _w = watchdog(
        "a_panicking_core_stops_alone_and_run_per_core_resumes_its_panic",
        Duration::from_secs(20),
    );
    // Core 1 holds the sending end of a channel to core 0, then panics when core 0 says so.
    let (to_core0, from_core1) = mpsc::channel::<u32>(4);
    let (go, wait_for_go) = oneshot::channel::<()>();
    let ends = Arc::new(Mutex::new((
        Some(to_core0),
        Some(from_core1),
        Some(go),
        Some(wait_for_go),
    )));
    let rt = Builder::new().cores(2).build().unwrap();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.run_per_core(move |i| {
            let ends = ends.clone();
            async move {
                if i == 1 {
                    let (tx, go) = {
                        let mut ends = ends.lock().unwrap();
                        (ends.0.take().unwrap(), ends.3.take().unwrap())
                    };
                    tx.send(1).await.unwrap();
                    // Wait for core 0's go, then panic in the main future.
                    go.await.unwrap();
                    panic!("core 1 fails on purpose");
                }
                let (mut rx, go) = {
                    let mut ends = ends.lock().unwrap();
                    (ends.1.take().unwrap(), ends.2.take().unwrap())
                };
                assert_eq!(rx.recv().await, Some(1));
                // Work accepted by core 1 that will never finish there.
                let pending = spawn_on(1, std::future::pending::<()>()).unwrap();
                go.send(()).unwrap();
                // The sender was dropped with core 1's main future: the channel is closed.
                assert_eq!(rx.recv().await, None);
                // The accepted work resolves instead of waiting for ever.
                assert!(matches!(pending.await, Err(JoinError::Aborted)));
                // From then on, core 1 refuses work at once.
                let err = spawn_on(1, async {}).map(|_| ()).unwrap_err();
                assert_eq!(err.kind(), io::ErrorKind::NotConnected, "{err}");
                assert!(err.to_string().contains("core 1 has stopped"), "{err}");
                // And this core keeps serving.
                runtime::spawn(async { 7 }).await.unwrap()
            }
        })
    }));
    let panic = result.expect_err("core 1's panic is resumed by run_per_core");
    let msg = panic.downcast_ref::<&str>().copied().unwrap_or_default();
    assert_eq!(msg, "core 1 fails on purpose");
}

#[test]
fn a_handle_spawns_from_a_plain_thread_onto_a_per_core_core() {
    let _w = watchdog(
        "a_handle_spawns_from_a_plain_thread_onto_a_per_core_core",
        Duration::from_secs(20),
    );
    let out = Builder::new()
        .cores(2)
        .build()
        .unwrap()
        .run_per_core(|i| async move {
            if i == 0 {
                return None;
            }
            let handle = Handle::current();
            assert_eq!(handle.core_id(), 1);
            assert!(handle.is_running());
            // A thread outside the runtime spawns onto this core; the task sees it runs here.
            let from_thread = std::thread::spawn(move || {
                handle
                    .spawn(async {
                        (
                            runtime::core_id(),
                            std::thread::current().name().map(String::from),
                        )
                    })
                    .unwrap()
            })
            .join()
            .unwrap();
            Some(from_thread.await.unwrap())
        });
    let (core, thread) = out[1].clone().unwrap();
    assert_eq!(core, Some(1));
    assert_eq!(thread.as_deref(), Some("runtime-core-1"));
}

#[test]
fn a_handle_to_a_dropped_runtime_refuses_and_its_unrun_work_is_aborted() {
    let _w = watchdog(
        "a_handle_to_a_dropped_runtime_refuses_and_its_unrun_work_is_aborted",
        Duration::from_secs(20),
    );
    let rt = Runtime::new().unwrap();
    let handle = rt.handle();
    assert!(
        Handle::try_current().is_err(),
        "no core on the test's thread"
    );
    // Accepted, but the runtime never runs block_on again before it is dropped.
    let unrun = std::thread::spawn({
        let handle = handle.clone();
        move || handle.spawn(async { 1 }).unwrap()
    })
    .join()
    .unwrap();
    drop(rt);
    assert!(!handle.is_running());
    let err = handle.spawn(async { 2 }).map(|_| ()).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotConnected, "{err}");
    let other = Runtime::new().unwrap();
    assert!(matches!(other.block_on(unrun), Err(JoinError::Aborted)));
}

#[test]
fn handle_current_outside_a_runtime_panics_with_a_clear_message() {
    let err = std::panic::catch_unwind(Handle::current).unwrap_err();
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("runtime::Handle::current"), "{msg}");
}
