//! Helpers shared by the integration tests: a runtime with a deadline, open fd counts, a
//! settle loop for in-flight ops, a deterministic byte pattern, and child processes of the
//! test binary (for rlimits that must not touch the other tests).
//!
//! Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::future::Future;
use std::io;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `body` on a fresh one-core runtime; panics with its error, or after `limit`.
pub fn run_for<F: Future<Output = io::Result<()>>>(limit: Duration, body: F) {
    let rt = runtime::Runtime::new().expect("io_uring runtime");
    rt.block_on(async {
        match runtime::time::timeout(limit, body).await {
            Ok(r) => r.expect("test body failed"),
            Err(_) => panic!("test body still running after {limit:?}"),
        }
    });
}

/// [`run_for`] with 10 seconds.
pub fn run<F: Future<Output = io::Result<()>>>(body: F) {
    run_for(Duration::from_secs(10), body);
}

/// The process's open fds.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, Iterator::count)
}

/// Sleeps (timer turns) until no op is in flight on this core; at most `limit`. Returns
/// the ops still in flight.
pub async fn settle(limit: Duration) -> u64 {
    let start = Instant::now();
    loop {
        let in_flight = runtime::metrics()
            .expect("inside the runtime")
            .ops_in_flight;
        if in_flight == 0 || start.elapsed() > limit {
            return in_flight;
        }
        runtime::time::sleep(Duration::from_millis(2)).await;
    }
}

/// `len` bytes of a pattern that does not repeat every power of two.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// The name of the env variable that tells a re-run test binary which child role to play.
pub const CHILD_ROLE: &str = "NET_TEST_CHILD_ROLE";

/// The role this process was started for, when it is a child started by [`spawn_child`].
pub fn child_role() -> Option<String> {
    std::env::var(CHILD_ROLE).ok()
}

/// A child process started by [`spawn_child`]; killed and reaped if dropped unfinished.
pub struct ChildProcess(Option<std::process::Child>);

impl ChildProcess {
    /// Its piped stdout, to read as it runs.
    pub fn stdout(&mut self) -> std::process::ChildStdout {
        self.0
            .as_mut()
            .and_then(|c| c.stdout.take())
            .expect("piped stdout, taken once")
    }

    /// Waits for it to exit; returns its status and the stdout not taken yet.
    pub fn finish(mut self) -> io::Result<(std::process::ExitStatus, String)> {
        let mut out = String::new();
        let child = self.0.as_mut().expect("finished once");
        if let Some(mut stdout) = child.stdout.take() {
            io::Read::read_to_string(&mut stdout, &mut out)?;
        }
        let status = child.wait()?;
        self.0 = None;
        Ok((status, out))
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Starts this test binary again, running only `test` (which plays `role`), with `envs`;
/// its stdout is piped to the caller.
pub fn spawn_child(test: &str, role: &str, envs: &[(&str, String)]) -> ChildProcess {
    let exe = std::env::current_exe().expect("current exe");
    let mut cmd = Command::new(exe);
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ROLE, role)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    ChildProcess(Some(cmd.spawn().expect("spawn the test binary as a child")))
}

/// `RLIMIT_NOFILE` as (soft, hard).
pub fn nofile_limit() -> (u64, u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the struct we pass; the result is checked.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    assert_eq!(rc, 0, "getrlimit: {}", io::Error::last_os_error());
    (lim.rlim_cur, lim.rlim_max)
}

/// Sets the soft `RLIMIT_NOFILE` (the hard one stays).
pub fn set_nofile_soft(soft: u64) -> io::Result<()> {
    let (_, hard) = nofile_limit();
    let lim = libc::rlimit {
        rlim_cur: soft.min(hard),
        rlim_max: hard,
    };
    // SAFETY: setrlimit reads one rlimit from the struct we pass; the result is checked.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// CPU time (user + system) this process used so far.
pub fn cpu_time() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the rusage we pass (zeroed, so valid even if it did not).
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// The task's output; a panic in the task is resumed here.
pub async fn join<T: 'static>(handle: runtime::JoinHandle<T>) -> T {
    match handle.await {
        Ok(v) => v,
        Err(e) => match e.into_panic() {
            Some(p) => std::panic::resume_unwind(p),
            None => panic!("task cancelled"),
        },
    }
}
