//! The per-core executor: tasks, wakers, the run queue, cross-core messages and the blocking
//! pool.
//!
//! Its modules in layers, each importing only from those below it (and `core` and `waker`
//! from each other: the core makes its tasks' wakers, and a local wake queues on the core):
//!
//! ```text
//!   mod.rs (spawn, spawn_on, core_id, yield_now)     [crate::time, crate::builder above]
//!   join.rs   blocking.rs   context.rs (the core running on this thread)
//!   core.rs  <->  waker.rs (a wake: local run queue, or remote)
//!   task.rs   remote.rs (cross-thread queue)   timer_wheel.rs
//!   [crate::driver, crate::sync below]
//! ```

pub(crate) mod blocking;
pub(crate) mod context;
pub(crate) mod core;
pub(crate) mod join;
pub(crate) mod remote;
pub(crate) mod task;
pub(crate) mod timer_wheel;
pub(crate) mod waker;

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

pub use blocking::{BlockingHandle, spawn_blocking};
pub use join::{JoinHandle, RemoteJoinHandle};
pub use task::JoinError;

use crate::sync::oneshot;
use remote::Remote;

/// Spawns a `!Send` future on the current core.
///
/// # Panics
/// Outside a runtime (no core on this thread).
///
/// # Examples
/// ```
/// runtime::Runtime::new()?.block_on(async {
///     let handle = runtime::spawn(async { 40 + 2 });
///     assert_eq!(handle.await.unwrap(), 42);
/// });
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    match context::current() {
        Ok(core) => {
            let id = core.spawn(future);
            JoinHandle::new(core, id)
        }
        Err(e) => panic!("runtime::spawn: {e}"),
    }
}

/// The number of the core running this task (0 for `block_on`; 0..cores for
/// `run_per_core`), or `None` outside a runtime.
pub fn core_id() -> Option<usize> {
    context::current().ok().map(|c| c.index)
}

/// Yields to the other tasks of this core once.
pub async fn yield_now() {
    struct YieldNow(bool);
    impl Future for YieldNow {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if self.0 {
                return Poll::Ready(());
            }
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
    YieldNow(false).await
}

/// Spawns a `Send` future on core `core` of this runtime (see `Runtime::run_per_core`).
///
/// # Errors
/// Outside a multi-core runtime, or for a core number it does not have.
pub fn spawn_on<F>(core: usize, future: F) -> io::Result<RemoteJoinHandle<F::Output>>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let current = context::current()?;
    let target = match &current.runtime {
        Some(rt) => rt
            .cores
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(core)
            .cloned()
            .flatten(),
        None if core == current.index => Some(current.shared.clone()),
        None => None,
    };
    let target = target.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("spawn_on: this runtime has no core {core}"),
        )
    })?;
    let (tx, rx) = oneshot::channel();
    target.send(
        Remote::Spawn(Box::new(move || {
            let handle = spawn(future);
            spawn(async move {
                let _ = tx.send(handle.await);
            });
        })),
        Some(&current.driver),
    );
    Ok(RemoteJoinHandle::new(rx))
}

/// The current core's counters, or `None` outside a runtime.
pub fn metrics() -> Option<crate::metrics::Metrics> {
    let core = context::current().ok()?;
    let c = &core.counters;
    let (in_flight, enters, driver) = core
        .driver
        .with(|d| (d.in_flight(), d.enter_count(), d.kind()))?;
    Some(crate::metrics::Metrics {
        tasks_spawned: c.tasks_spawned.get(),
        tasks_polled: c.tasks_polled.get(),
        ops_submitted: c.ops_submitted.get(),
        ops_completed: c.ops_completed.get(),
        ops_cancelled: c.ops_cancelled.get(),
        ops_in_flight: in_flight as u64,
        enter_calls: enters,
        sqes_submitted: c.sqes_submitted.get(),
        cqes_reaped: c.cqes_reaped.get(),
        sq_full_events: c.sq_full.get(),
        cq_overflows: c.cq_overflows.get(),
        loop_turns: c.loop_turns.get(),
        timers_pending: core.timers.try_borrow().map_or(0, |t| t.len() as u64),
        driver,
    })
}
