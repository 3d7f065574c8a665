//! [`Builder`] and [`Runtime`]: starting cores.

use std::future::Future;
use std::io;
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use crate::driver::DriverConfig;
use crate::executor::context;
use crate::executor::core::Core;
use crate::executor::remote::RuntimeShared;

/// The driver a core runs: io_uring, or the epoll fallback where io_uring is blocked
/// (seccomp, `kernel.io_uring_disabled`), missing or short of memlock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum DriverKind {
    /// The kernel's io_uring.
    #[default]
    IoUring,
    /// The fallback: the same ops run as non-blocking syscalls on readiness from one epoll
    /// per core, and on the blocking pool for files. Slower; features only io_uring has
    /// (IOPOLL, direct accept, multishot poll) give `Unsupported`.
    Fallback,
}

/// Which driver [`Builder::build`] sets up; the environment variable
/// `RUNTIME_DRIVER=uring|fallback|auto` sets the default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum DriverChoice {
    /// io_uring, or the fallback (with one warning per process naming the cause and the
    /// fix) where io_uring is unavailable: EPERM, ENOSYS, ENOMEM, EACCES at setup, or a
    /// kernel without what the runtime needs.
    #[default]
    Auto,
    /// io_uring only: where it is unavailable, [`Builder::build`] returns the setup error.
    IoUring,
    /// The fallback, even where io_uring works (tests, comparisons).
    Fallback,
}

impl DriverChoice {
    /// The choice `RUNTIME_DRIVER` names: `Ok(None)` when unset or empty.
    fn from_env() -> io::Result<Option<DriverChoice>> {
        let Some(value) = std::env::var_os("RUNTIME_DRIVER") else {
            return Ok(None);
        };
        match value.to_str().map(str::trim) {
            Some("") => Ok(None),
            Some("auto") => Ok(Some(DriverChoice::Auto)),
            Some("uring" | "io_uring") => Ok(Some(DriverChoice::IoUring)),
            Some("fallback" | "epoll") => Ok(Some(DriverChoice::Fallback)),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("RUNTIME_DRIVER={value:?}: expected uring, fallback or auto"),
            )),
        }
    }
}

/// Configures a [`Runtime`].
///
/// By default it asks the kernel for the best ring flags it has (`SINGLE_ISSUER`,
/// `DEFER_TASKRUN`, `COOP_TASKRUN`, `SUBMIT_ALL`, a registered ring fd) and falls back
/// silently, one flag at a time, where the kernel rejects one; each can be forced off.
#[derive(Debug, Clone)]
pub struct Builder {
    cores: usize,
    pin: Option<bool>,
    thread_name: String,
    budget: usize,
    driver: DriverConfig,
    /// Set by [`Builder::driver`]: wins over `RUNTIME_DRIVER`.
    choice: Option<DriverChoice>,
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

impl Builder {
    /// Defaults: one core per available CPU, 256 SQ entries, CQ twice as large.
    pub fn new() -> Builder {
        Builder {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            pin: None,
            thread_name: "runtime-core".to_string(),
            budget: 128,
            driver: DriverConfig {
                entries: 256,
                cq_entries: None,
                sqpoll_idle: None,
                single_issuer: true,
                defer_taskrun: true,
                coop_taskrun: true,
                submit_all: true,
                register_ring_fd: true,
                choice: DriverChoice::Auto,
                #[cfg(feature = "fault-injection")]
                faults: None,
            },
            choice: None,
        }
    }

    /// Which driver to run (default: [`DriverChoice::Auto`], or what `RUNTIME_DRIVER`
    /// says); this call wins over the variable.
    pub fn driver(&mut self, choice: DriverChoice) -> &mut Self {
        self.choice = Some(choice);
        self
    }

    /// Injects faults into every core's ops (feature `fault-injection`, for tests): ops fail
    /// with the given errnos and transfers are shortened, at the given rates. Without this,
    /// the `RUNTIME_FAULTS` environment variable (same syntax) is read.
    #[cfg(feature = "fault-injection")]
    pub fn inject_faults(&mut self, faults: crate::Faults) -> &mut Self {
        self.driver.faults = Some(faults);
        self
    }

    /// The most cores [`Builder::cores`] takes: `CPU_SETSIZE`, the CPUs a `cpu_set_t` can
    /// name, so each core can still have a CPU of its own.
    pub const MAX_CORES: usize = libc::CPU_SETSIZE as usize;

    /// Cores (worker threads) for [`Runtime::run_per_core`]; 0 means 1.
    ///
    /// More than [`Builder::MAX_CORES`] is refused by [`Builder::build`] (`InvalidInput`)
    /// rather than clamped: `run_per_core` returns one output per core, so a silently
    /// smaller runtime would hand back fewer than the caller asked for.
    pub fn cores(&mut self, cores: usize) -> &mut Self {
        self.cores = cores.max(1);
        self
    }

    /// SQ entries per core's ring (a power of two up to 32768; larger values are clamped).
    pub fn entries(&mut self, entries: u32) -> &mut Self {
        self.driver.entries = entries;
        self
    }

    /// CQ entries per ring (default: twice the SQ entries).
    pub fn cq_entries(&mut self, entries: u32) -> &mut Self {
        self.driver.cq_entries = Some(entries);
        self
    }

    /// Uses a kernel SQ polling thread per ring that sleeps after `idle` without work
    /// (`IORING_SETUP_SQPOLL`); turns `DEFER_TASKRUN` off.
    pub fn sqpoll_idle(&mut self, idle: Duration) -> &mut Self {
        self.driver.sqpoll_idle = Some(idle);
        self
    }

    /// Pins each core's thread to a CPU (default: on when more than one core).
    pub fn pin_cores(&mut self, pin: bool) -> &mut Self {
        self.pin = Some(pin);
        self
    }

    /// The worker threads' name prefix (`NAME-0`, `NAME-1`, …); one with a NUL byte is
    /// refused by [`Builder::build`] (`InvalidInput`), since a thread name is a C string.
    pub fn thread_name(&mut self, name: impl Into<String>) -> &mut Self {
        self.thread_name = name.into();
        self
    }

    /// Tasks polled per loop turn before the core checks I/O again (default 128).
    pub fn poll_budget(&mut self, budget: usize) -> &mut Self {
        self.budget = budget.max(1);
        self
    }

    /// Asks for `IORING_SETUP_SINGLE_ISSUER` (6.0+; default on).
    pub fn single_issuer(&mut self, on: bool) -> &mut Self {
        self.driver.single_issuer = on;
        self
    }

    /// Asks for `IORING_SETUP_DEFER_TASKRUN` (6.1+; default on).
    pub fn defer_taskrun(&mut self, on: bool) -> &mut Self {
        self.driver.defer_taskrun = on;
        self
    }

    /// Asks for `IORING_SETUP_COOP_TASKRUN` (5.19+; default on).
    pub fn coop_taskrun(&mut self, on: bool) -> &mut Self {
        self.driver.coop_taskrun = on;
        self
    }

    /// Asks for `IORING_SETUP_SUBMIT_ALL` (5.18+; default on).
    pub fn submit_all(&mut self, on: bool) -> &mut Self {
        self.driver.submit_all = on;
        self
    }

    /// Registers each ring's fd for cheaper enters (5.18+; default on).
    pub fn register_ring_fd(&mut self, on: bool) -> &mut Self {
        self.driver.register_ring_fd = on;
        self
    }

    /// Creates the runtime and the current thread's core (its ring), so a kernel without
    /// io_uring, or a process denied it, is reported here.
    ///
    /// # Errors
    /// The ring setup's error, which names the cause and the fix (`kernel.io_uring_disabled`,
    /// a seccomp profile, `RLIMIT_MEMLOCK`, an unsupported flag).
    ///
    /// With [`DriverChoice::Auto`] a ring that cannot be set up for want of io_uring gives
    /// the fallback driver instead (and a warning); `RUNTIME_DRIVER` with another value
    /// than `uring`, `fallback` or `auto` is `InvalidInput`, as are more cores than
    /// [`Builder::MAX_CORES`] and a thread name with a NUL byte.
    pub fn build(&self) -> io::Result<Runtime> {
        self.check()?;
        let mut builder = self.clone();
        builder.driver.choice = match self.choice {
            Some(choice) => choice,
            None => DriverChoice::from_env()?.unwrap_or_default(),
        };
        let core = Core::new(0, &builder.driver, builder.budget, None)?;
        Ok(Runtime { builder, core })
    }

    /// Refuses settings that would fail later, in `run_per_core`'s threads, with a panic.
    fn check(&self) -> io::Result<()> {
        let invalid = |why: String| Err(io::Error::new(io::ErrorKind::InvalidInput, why));
        if self.cores > Builder::MAX_CORES {
            return invalid(format!(
                "Builder::cores({}): at most {} cores (CPU_SETSIZE); use one per CPU",
                self.cores,
                Builder::MAX_CORES
            ));
        }
        if self.thread_name.contains('\0') {
            return invalid(format!(
                "Builder::thread_name({:?}): a thread name cannot contain a NUL byte",
                self.thread_name
            ));
        }
        Ok(())
    }
}

/// A runtime: a core on the current thread for [`Runtime::block_on`], and the settings to
/// start one core per CPU with [`Runtime::run_per_core`].
///
/// It is `!Send`: its ring belongs to the thread that built it.
///
/// # Examples
/// ```
/// let rt = runtime::Runtime::new()?;
/// let v = rt.block_on(async { runtime::spawn(async { 1 }).await.unwrap() + 1 });
/// assert_eq!(v, 2);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Runtime {
    builder: Builder,
    core: Rc<Core>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("builder", &self.builder)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// A runtime with default settings.
    ///
    /// # Errors
    /// As [`Builder::build`].
    pub fn new() -> io::Result<Runtime> {
        Builder::new().build()
    }

    /// Runs `future` to completion on the current thread, with its spawned tasks.
    ///
    /// # Panics
    /// If called from inside a runtime (block_on does not nest), or if the ring fails in a
    /// way the core cannot recover from.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        assert!(
            !context::in_runtime(),
            "Runtime::block_on called from inside a runtime: await the future instead"
        );
        assert!(
            !self.core.driver.is_busy(),
            "Runtime::block_on called from inside this runtime's driver (a waker or a drop it \
             ran): wake a task or spawn instead of blocking there"
        );
        let _enter = context::enter(self.core.clone());
        self.core.block_on(future)
    }

    /// A handle to this runtime's core, to spawn onto it from other threads; what they
    /// spawn runs while [`block_on`](Self::block_on) runs.
    pub fn handle(&self) -> crate::Handle {
        crate::Handle::new(self.core.index, self.core.shared.clone())
    }

    /// Starts one worker thread per core (pinned to a CPU unless turned off), runs
    /// `f(core_number)` on each, and returns their outputs in core order.
    ///
    /// A core whose future panics stops alone; the others keep serving. The stopped core
    /// drops its tasks (so channels to them report closed), `spawn_on` to it fails at once
    /// (`NotConnected`), and work sent to it that had not run resolves with
    /// `JoinError::Aborted`. Once every core has finished, the panic of the lowest-numbered
    /// core that panicked is resumed here.
    ///
    /// # Panics
    /// If a core's ring cannot be set up (the error says why) or a core panicked.
    pub fn run_per_core<F, Fut>(&self, f: F) -> Vec<Fut::Output>
    where
        F: Fn(usize) -> Fut + Send + Sync + 'static,
        Fut: Future + 'static,
        Fut::Output: Send + 'static,
    {
        let cores = self.builder.cores;
        let pin = self.builder.pin.unwrap_or(cores > 1);
        let shared = RuntimeShared::new(cores);
        let barrier = Arc::new(Barrier::new(cores));
        let f = Arc::new(f);
        let cpus = allowed_cpus();
        let handles: Vec<_> = (0..cores)
            .map(|i| {
                let (f, shared, barrier, builder) = (
                    f.clone(),
                    shared.clone(),
                    barrier.clone(),
                    self.builder.clone(),
                );
                let cpu = cpus.get(i % cpus.len().max(1)).copied();
                std::thread::Builder::new()
                    .name(format!("{}-{i}", builder.thread_name))
                    .spawn(move || {
                        if pin && let Some(cpu) = cpu {
                            pin_to_cpu(cpu);
                        }
                        let core =
                            Core::new(i, &builder.driver, builder.budget, Some(shared.clone()));
                        let core = match core {
                            Ok(core) => {
                                shared.cores.write().unwrap_or_else(|e| e.into_inner())[i] =
                                    Some(core.shared.clone());
                                barrier.wait();
                                core
                            }
                            Err(e) => {
                                barrier.wait();
                                panic!("core {i}: could not set up its io_uring: {e}");
                            }
                        };
                        let _enter = context::enter(core.clone());
                        // A panic stops this core only: it is cleaned up like a core that
                        // finished (below), the others keep serving, and `run_per_core`
                        // resumes the panic once they are done.
                        let out =
                            std::panic::catch_unwind(AssertUnwindSafe(|| core.block_on(f(i))));
                        // Unreachable from now on: `spawn_on` to this core fails at once,
                        // queued spawns are dropped (their handles report
                        // `JoinError::Aborted`), and its tasks are dropped, which closes the
                        // channels they held.
                        shared.cores.write().unwrap_or_else(|e| e.into_inner())[i] = None;
                        core.shutdown();
                        match out {
                            Ok(out) => out,
                            Err(panic) => std::panic::resume_unwind(panic),
                        }
                    })
                    .expect("could not start a core's thread")
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join()).collect();
        let mut outputs = Vec::with_capacity(cores);
        for r in results {
            match r {
                Ok(v) => outputs.push(v),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        outputs
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // Tasks' futures drop on this thread with this core current, even when another
        // runtime runs here (a runtime dropped inside another one's task): their ops abandon
        // into this core's driver, which drains every op before the ring is unmapped.
        let _enter = context::enter(self.core.clone());
        self.core.shutdown();
        self.core.shared.unregister();
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        self.shared.unregister();
    }
}

/// CPUs this process may run on, in order.
fn allowed_cpus() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity fills it for this thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}

fn pin_to_cpu(cpu: usize) {
    // SAFETY: cpu_set_t is plain data; sched_setaffinity reads it for this thread.
    let ok = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) == 0
    };
    if !ok {
        tracing::debug!(cpu, error = %io::Error::last_os_error(), "could not pin core thread");
    }
}
