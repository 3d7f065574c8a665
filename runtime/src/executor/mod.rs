//! The per-core executor: tasks, wakers, the run queue, cross-core messages and the blocking
//! pool.
//!
//! Its modules in layers, each importing only from those below it (and `core` and `waker`
//! from each other: the core makes its tasks' wakers, and a local wake queues on the core):
//!
//! ```text
//!   mod.rs (spawn, spawn_on, core_id, yield_now)     [crate::time, crate::builder above]
//!   handle.rs (a core's address for any thread)
//!   join.rs   blocking.rs   context.rs (the core running on this thread)
//!   core.rs  <->  waker.rs (a wake: local run queue, or remote)
//!   task.rs   remote.rs (cross-thread queue)   timer_wheel.rs
//!   [crate::driver, crate::sync below]
//! ```

pub(crate) mod blocking;
pub(crate) mod context;
pub(crate) mod core;
pub(crate) mod handle;
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
pub use context::NoRuntime;
pub use handle::Handle;
pub use join::{JoinHandle, RemoteJoinHandle};
pub use task::JoinError;

/// Spawns a `!Send` future on the current core.
///
/// # Panics
/// Outside a runtime (no core on this thread), at the caller's line. Code that may run
/// outside one checks [`core_id`] first, or uses [`spawn_on`], which returns the error.
///
/// # Examples
/// ```
/// runtime::Runtime::new()?.block_on(async {
///     let handle = runtime::spawn(async { 40 + 2 });
///     assert_eq!(handle.await.unwrap(), 42);
/// });
/// # Ok::<(), std::io::Error>(())
/// ```
#[track_caller]
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
/// Outside a runtime, or for a core number it does not have (`InvalidInput`), or a core
/// that has stopped (`NotConnected`: its main future returned or panicked).
pub fn spawn_on<F>(core: usize, future: F) -> io::Result<RemoteJoinHandle<F::Output>>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let current = context::current()?;
    let target = match &current.runtime {
        Some(rt) => {
            let cores = rt.cores.read().unwrap_or_else(|e| e.into_inner());
            match cores.get(core) {
                Some(slot) => slot.clone().ok_or_else(|| handle::stopped(core))?,
                None => return Err(no_core(core)),
            }
        }
        None if core == current.index => current.shared.clone(),
        None => return Err(no_core(core)),
    };
    handle::spawn_remote(core, &target, future)
}

fn no_core(core: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("spawn_on: this runtime has no core {core}"),
    )
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
