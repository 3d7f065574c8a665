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

/// Whether `RUNTIME_FAULTS` shortens transfers in this run (`.ci/faults`): a test that
/// counts ops, or expects one op to move everything, has nothing to check then.
pub fn faults_injected() -> bool {
    std::env::var_os("RUNTIME_FAULTS").is_some_and(|v| !v.is_empty())
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

// ---- Helpers of the soundness tests (tests/soundness.rs) ----

/// Writes `msg` straight to fd 2, past the test harness's output capture, so it survives a
/// process abort (heap corruption, the watchdog).
pub fn say(msg: &str) {
    use std::io::Write;
    let mut err = io::stderr().lock();
    let _ = err.write_all(msg.as_bytes());
    let _ = err.write_all(b"\n");
    let _ = err.flush();
}

/// Aborts the process with a message (to fd 2) unless dropped within its limit: a hang
/// becomes a failure that names the test.
pub struct Watchdog {
    done: Option<std::sync::mpsc::Sender<()>>,
}

/// Starts a [`Watchdog`] for the test `name`.
pub fn watchdog(name: &'static str, limit: Duration) -> Watchdog {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
            say(&format!(
                "test {name} still running after {limit:?}: it hangs; aborting"
            ));
            std::process::abort();
        }
    });
    Watchdog { done: Some(tx) }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.done.take();
    }
}

/// Runs the tests of one binary one at a time (they count the process's fds and look at
/// its heap).
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// What a soundness test found wrong, each printed (to fd 2) as soon as found, so that a
/// later abort or hang still shows the earlier findings. [`Problems::check`] fails the test.
pub struct Problems {
    test: &'static str,
    list: Vec<String>,
}

impl Problems {
    /// An empty list for the test `test`.
    pub fn new(test: &'static str) -> Problems {
        Problems {
            test,
            list: Vec::new(),
        }
    }

    /// Records (and prints) a finding.
    pub fn add(&mut self, msg: impl Into<String>) {
        let msg = msg.into();
        say(&format!("[{}] PROBLEM: {msg}", self.test));
        self.list.push(msg);
    }

    /// Records `msg` unless `ok`.
    pub fn expect(&mut self, ok: bool, msg: impl Into<String>) {
        if !ok {
            self.add(msg);
        }
    }

    /// Fails the test if anything was recorded.
    pub fn check(self) {
        assert!(
            self.list.is_empty(),
            "{}: {} problem(s):\n  - {}",
            self.test,
            self.list.len(),
            self.list.join("\n  - ")
        );
    }
}

/// The byte victims are filled with.
pub const VICTIM: u8 = 0xA5;
/// The byte peers send, so a kernel write into a victim is recognizable.
pub const PEER: u8 = 0x5A;

/// Heap blocks allocated right after a buffer the kernel may still write to was (wrongly)
/// freed: blocks of the same size reuse its memory, so a late kernel write lands in one of
/// them and changes its bytes ([`VICTIM`]). AddressSanitizer cannot see kernel writes; this
/// can.
pub struct Victims {
    bufs: Vec<Vec<u8>>,
}

impl Victims {
    /// No victims yet.
    pub fn none() -> Victims {
        Victims { bufs: Vec::new() }
    }

    /// `count` more victims of exactly `size` bytes (capacity == size).
    pub fn add(mut self, size: usize, count: usize) -> Victims {
        for _ in 0..count {
            let v = vec![VICTIM; size];
            debug_assert_eq!(v.capacity(), size);
            self.bufs.push(v);
        }
        self
    }

    /// One line per victim whose bytes changed.
    pub fn changed(&self) -> Vec<String> {
        self.bufs
            .iter()
            .enumerate()
            .filter_map(|(i, v)| {
                let first = v.iter().position(|&b| b != VICTIM)?;
                let n = v.iter().filter(|&&b| b != VICTIM).count();
                let peer = v.iter().filter(|&&b| b == PEER).count();
                Some(format!(
                    "victim #{i} ({} bytes at {:p}): {n} bytes changed from offset {first} \
                     ({peer} of them are the peer's {PEER:#04x}): the kernel wrote into freed \
                     memory",
                    v.len(),
                    v.as_ptr()
                ))
            })
            .collect()
    }

    /// Records every changed victim in `problems`.
    pub fn report(&self, problems: &mut Problems) {
        for c in self.changed() {
            problems.add(c);
        }
    }
}

/// The process's io_uring instances (fds whose link reads `anon_inode:[io_uring]`).
pub fn io_uring_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|dir| {
            dir.filter_map(Result::ok)
                .filter(|e| {
                    std::fs::read_link(e.path())
                        .is_ok_and(|l| l.as_os_str() == "anon_inode:[io_uring]")
                })
                .count()
        })
        .unwrap_or(0)
}

/// Polls `fut` once with a no-op waker, outside any runtime's `block_on`.
pub fn poll_outside<F: Future + ?Sized>(fut: std::pin::Pin<&mut F>) -> std::task::Poll<F::Output> {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    fut.poll(&mut cx)
}

/// Polls `fut` once inside `rt.block_on`, with that runtime's real context, then lets the
/// runtime run `turns` loop turns (so the SQE the poll pushed reaches the kernel) without
/// polling `fut` again.
pub fn poll_inside<F: Future + ?Sized>(
    rt: &runtime::Runtime,
    mut fut: std::pin::Pin<&mut F>,
    turns: usize,
) -> std::task::Poll<F::Output> {
    rt.block_on(async {
        let poll = std::future::poll_fn(|cx| std::task::Poll::Ready(fut.as_mut().poll(cx))).await;
        for _ in 0..turns {
            runtime::yield_now().await;
        }
        poll
    })
}

/// Runs `rt`'s loop for `d` (a sleep on its timer), so the kernel completes what it can.
pub fn run_loop(rt: &runtime::Runtime, d: Duration) {
    rt.block_on(runtime::time::sleep(d));
}

/// A connected loopback TCP pair of std streams: (ours, the peer), both blocking.
pub fn std_pair() -> (std::net::TcpStream, std::net::TcpStream) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let peer = std::net::TcpStream::connect(l.local_addr().expect("local addr")).expect("connect");
    let (ours, _) = l.accept().expect("accept");
    peer.set_nodelay(true).expect("nodelay");
    (ours, peer)
}

/// The peer sends `n` bytes of [`PEER`] (blocking; small amounts fit the socket buffer).
pub fn peer_send(peer: &std::net::TcpStream, n: usize) {
    std::io::Write::write_all(&mut &*peer, &vec![PEER; n]).expect("peer write");
}

/// A xorshift64* generator for the property tests (no extra dependency).
pub struct XorShift(u64);

impl XorShift {
    /// A generator from `seed` (any value; 0 is mapped to a fixed non-zero state).
    pub fn new(seed: u64) -> XorShift {
        XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next raw value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// The message of a caught panic.
pub fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    match (p.downcast_ref::<&str>(), p.downcast_ref::<String>()) {
        (Some(s), _) => (*s).to_string(),
        (_, Some(s)) => s.clone(),
        _ => "(non-string panic payload)".to_string(),
    }
}

// ---- Helpers of the cancellation tests (tests/cancel.rs) ----

/// Which of two raced futures finished first.
pub enum Either<A, B> {
    /// The first one.
    Left(A),
    /// The second one.
    Right(B),
}

/// Polls `a` and `b` until one of them is ready, in a random order at every poll (as
/// `tokio::select!` without `biased;`), and drops the other one: a future that was ready
/// too, but polled second, is dropped with its result.
pub async fn race<A: Future, B: Future>(
    rng: &mut XorShift,
    a: A,
    b: B,
) -> Either<A::Output, B::Output> {
    let mut a = std::pin::pin!(a);
    let mut b = std::pin::pin!(b);
    std::future::poll_fn(|cx| {
        let a_first = rng.below(2) == 0;
        for turn in 0..2 {
            if (turn == 0) == a_first {
                if let std::task::Poll::Ready(v) = a.as_mut().poll(cx) {
                    return std::task::Poll::Ready(Either::Left(v));
                }
            } else if let std::task::Poll::Ready(v) = b.as_mut().poll(cx) {
                return std::task::Poll::Ready(Either::Right(v));
            }
        }
        std::task::Poll::Pending
    })
    .await
}

/// The numbered byte stream of the cancellation tests: byte `i` is `(i % 251) as u8`
/// (as [`pattern`]).
pub fn numbered(len: usize) -> Vec<u8> {
    pattern(len)
}

/// A thread that writes [`numbered`] bytes to `w` in `chunks` chunks of 1..=`max` bytes
/// (sizes from `seed`), sleeping `gap` between chunks, then shuts `w` down (end of stream
/// for the reader) and drops it. Returns the bytes it sent.
pub fn spawn_numbered_writer<W>(
    mut w: W,
    chunks: usize,
    max: usize,
    gap: Duration,
    seed: u64,
    shutdown: impl FnOnce(&W) + Send + 'static,
) -> std::thread::JoinHandle<Vec<u8>>
where
    W: io::Write + Send + 'static,
{
    std::thread::spawn(move || {
        let mut rng = XorShift::new(seed);
        let sizes: Vec<usize> = (0..chunks).map(|_| 1 + rng.below(max)).collect();
        let all = numbered(sizes.iter().sum());
        let mut off = 0;
        for len in sizes {
            w.write_all(&all[off..off + len]).expect("writer: write");
            off += len;
            std::thread::sleep(gap);
        }
        shutdown(&w);
        drop(w);
        all
    })
}

/// `None` when `got == sent`; else how they differ (how many bytes are missing, where the
/// first difference is).
pub fn stream_loss(got: &[u8], sent: &[u8]) -> Option<String> {
    if got == sent {
        return None;
    }
    let first = got
        .iter()
        .zip(sent)
        .position(|(a, b)| a != b)
        .unwrap_or(got.len().min(sent.len()));
    Some(format!(
        "received {} of {} bytes ({} missing); first difference at offset {first}",
        got.len(),
        sent.len(),
        sent.len() as i64 - got.len() as i64,
    ))
}
