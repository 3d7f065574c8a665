//! `spawn_blocking`: a bounded pool of threads, shared by all cores, for what the kernel
//! cannot do asynchronously (name lookups, odd syscalls). The result wakes the calling core.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::Duration;

use super::join::RemoteJoinHandle;
use super::task::JoinError;
use crate::sync::oneshot;

/// At most this many pool threads exist at once; further jobs queue.
const MAX_THREADS: usize = 64;
/// An idle pool thread exits after this long.
const IDLE: Duration = Duration::from_secs(10);

type Job = Box<dyn FnOnce() + Send>;

struct Pool {
    state: Mutex<PoolState>,
    work: Condvar,
}

struct PoolState {
    jobs: VecDeque<Job>,
    threads: usize,
    /// Threads waiting for a job.
    idle: usize,
    /// Of those, how many a `submit` has woken already, each for its job: a second job must
    /// not count on a thread woken for the first (it would wait behind it, for ever if the
    /// first waits for it).
    woken: usize,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool {
        state: Mutex::new(PoolState {
            jobs: VecDeque::new(),
            threads: 0,
            idle: 0,
            woken: 0,
        }),
        work: Condvar::new(),
    })
}

impl Pool {
    fn submit(&'static self, job: Job) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.jobs.push_back(job);
        if st.idle > st.woken {
            st.woken += 1;
            self.work.notify_one();
        } else if st.threads < MAX_THREADS {
            st.threads += 1;
            let spawned = std::thread::Builder::new()
                .name("runtime-blocking".into())
                .spawn(move || self.worker());
            if spawned.is_err() {
                st.threads -= 1;
                tracing::debug!(
                    "could not start a blocking-pool thread; the job waits for a free one"
                );
            }
        }
    }

    fn worker(&self) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(job) = st.jobs.pop_front() {
                drop(st);
                // A job's panic that escapes it (a `spawn_blocking` result nobody awaits any
                // more, dropped here, whose drop panics) must not end this thread while the
                // pool still counts it: after 64 of them no thread would run jobs. The payload
                // is leaked, since dropping it could panic again.
                if let Err(panic) = catch_unwind(AssertUnwindSafe(job)) {
                    std::mem::forget(panic);
                }
                st = self.state.lock().unwrap_or_else(|e| e.into_inner());
                continue;
            }
            st.idle += 1;
            let (guard, timeout) = self
                .work
                .wait_timeout(st, IDLE)
                .unwrap_or_else(|e| e.into_inner());
            st = guard;
            st.idle -= 1;
            // Woken for a job or not (a timeout, a spurious wake-up), this thread looks at the
            // queue now: one wake-up fewer is on its way.
            st.woken = st.woken.saturating_sub(1);
            if timeout.timed_out() && st.jobs.is_empty() {
                st.threads -= 1;
                return;
            }
        }
    }
}

/// Runs `job` on the blocking pool; whoever waits for it arranges its own wake-up (the
/// fallback driver's ops use an eventfd).
pub(crate) fn run_detached(job: Box<dyn FnOnce() + Send>) {
    pool().submit(job);
}

/// The result of [`spawn_blocking`]: await it for `Result<T, JoinError>` (a panic in `f`
/// gives `JoinError::Panicked`). The same type as a [`spawn_on`](crate::spawn_on) handle.
pub type BlockingHandle<T> = RemoteJoinHandle<T>;

/// Runs `f` on the blocking pool (at most 64 threads, shared by every core of the process)
/// and completes with its result, waking the awaiting core.
///
/// # Examples
/// ```
/// runtime::Runtime::new()?.block_on(async {
///     let n = runtime::spawn_blocking(|| std::fs::read_dir("/").map(|d| d.count())).await;
///     assert!(n.unwrap()? > 0);
///     Ok::<_, std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn spawn_blocking<F, T>(f: F) -> BlockingHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let (tx, rx) = oneshot::channel();
    pool().submit(Box::new(move || {
        let result = catch_unwind(AssertUnwindSafe(f)).map_err(JoinError::Panicked);
        let _ = tx.send(result);
    }));
    RemoteJoinHandle::new(rx)
}
