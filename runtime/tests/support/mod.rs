//! Ops and helpers shared by the integration tests: a NOP, a kernel TIMEOUT, a read into an
//! owned buffer, an accept that closes fds nobody took, a buffer with a drop witness, and a
//! few helpers (pipes, fd counts, poll-once, a watchdog).
//!
//! Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::cell::Cell;
use std::future::{Future, poll_fn};
use std::io;
use std::net::TcpListener;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::mpsc as std_mpsc;
use std::task::Poll;
use std::time::Duration;

use runtime::buf::{IoBuf, IoBufMut};
use runtime::op::{Completion, Operation};
use uring_sys::abi::__kernel_timespec;
use uring_sys::{Sqe, prep};

/// `IORING_OP_NOP`: completes with 0 at once.
pub struct Nop;

// SAFETY: a NOP's SQE carries no address and no fd.
unsafe impl Operation for Nop {
    type Output = io::Result<u32>;

    fn sqe(&mut self) -> Sqe {
        prep::prep_nop()
    }

    fn complete(self, result: io::Result<u32>, _cqe: Completion) -> Self::Output {
        result
    }
}

/// `IORING_OP_TIMEOUT`: completes with ETIME after the duration (a kernel timer).
pub struct Timeout {
    ts: Box<__kernel_timespec>,
}

impl Timeout {
    /// A kernel timeout of `d`.
    pub fn new(d: Duration) -> Timeout {
        Timeout {
            ts: Box::new(__kernel_timespec {
                tv_sec: d.as_secs() as i64,
                tv_nsec: i64::from(d.subsec_nanos()),
            }),
        }
    }
}

// SAFETY: the SQE's only address is `self.ts`, a Box whose heap block does not move with
// `self` and lives (unaccessed by us) until `self` drops.
unsafe impl Operation for Timeout {
    type Output = io::Result<u32>;

    fn sqe(&mut self) -> Sqe {
        prep::prep_timeout(&*self.ts, 0, 0)
    }

    fn complete(self, result: io::Result<u32>, _cqe: Completion) -> Self::Output {
        result
    }
}

/// `IORING_OP_READ` from the current position of `fd` into the spare capacity of `buf`.
pub struct Read<B> {
    fd: Rc<OwnedFd>,
    buf: B,
}

impl<B: IoBufMut> Read<B> {
    /// Reads from `fd` (kept open by the op) into `buf`, from its initialized length on.
    pub fn new(fd: Rc<OwnedFd>, buf: B) -> Read<B> {
        Read { fd, buf }
    }
}

// SAFETY: the SQE's address points into `self.buf`, an `IoBufMut` whose memory is stable
// across moves and valid until `self.buf` drops (its contract); its fd is `self.fd`, kept
// open by the Rc the op holds.
unsafe impl<B: IoBufMut> Operation for Read<B> {
    type Output = (io::Result<usize>, B);

    fn sqe(&mut self) -> Sqe {
        let init = self.buf.bytes_init();
        let room = (self.buf.bytes_total() - init) as u32;
        let ptr = self.buf.stable_mut_ptr().wrapping_add(init);
        // Offset -1: the file's current position, as pipes need.
        prep::prep_read(self.fd.as_raw_fd(), ptr, room, u64::MAX)
    }

    fn complete(mut self, result: io::Result<u32>, _cqe: Completion) -> Self::Output {
        match result {
            Ok(n) => {
                let init = self.buf.bytes_init() + n as usize;
                // SAFETY: the kernel wrote `n` bytes after the initialized part, within the
                // room the SQE gave it.
                unsafe { self.buf.set_init(init) };
                (Ok(n as usize), self.buf)
            }
            Err(e) => (Err(e), self.buf),
        }
    }
}

/// `IORING_OP_ACCEPT` on a listener (no peer address asked for). An fd accepted for a
/// dropped op is closed, and counted in `late_closed`.
pub struct Accept {
    listener: Rc<TcpListener>,
    late_closed: Rc<Cell<usize>>,
}

impl Accept {
    /// Accepts one connection on `listener`; `late_closed` counts fds closed for nobody.
    pub fn new(listener: Rc<TcpListener>, late_closed: Rc<Cell<usize>>) -> Accept {
        Accept {
            listener,
            late_closed,
        }
    }
}

// SAFETY: the SQE carries no address (null sockaddr and length); its fd is the listener's,
// kept open by the Rc the op holds.
unsafe impl Operation for Accept {
    type Output = io::Result<OwnedFd>;

    fn sqe(&mut self) -> Sqe {
        prep::prep_accept(
            self.listener.as_raw_fd(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            libc::SOCK_CLOEXEC,
        )
    }

    fn complete(self, result: io::Result<u32>, _cqe: Completion) -> Self::Output {
        // SAFETY: a successful accept's result is a new fd that nobody else owns.
        result.map(|fd| unsafe { OwnedFd::from_raw_fd(fd as i32) })
    }

    fn on_abandoned_cqe(&mut self, cqe: Completion) {
        if cqe.res() >= 0 {
            // SAFETY: the kernel made this fd for this op, whose owner is gone: nobody else
            // owns or uses it.
            unsafe { libc::close(cqe.res()) };
            self.late_closed.set(self.late_closed.get() + 1);
        }
    }
}

/// A byte buffer carrying a drop witness: while any `WitnessBuf` (or a clone of its
/// witness) lives, `Rc::strong_count(&witness)` counts it.
pub struct WitnessBuf {
    data: Vec<u8>,
    _witness: Rc<()>,
}

impl WitnessBuf {
    /// A buffer of `capacity` bytes tied to `witness`.
    pub fn new(capacity: usize, witness: &Rc<()>) -> WitnessBuf {
        WitnessBuf {
            data: Vec::with_capacity(capacity),
            _witness: witness.clone(),
        }
    }

    /// The bytes read so far.
    pub fn bytes(&self) -> &[u8] {
        &self.data
    }
}

// SAFETY: delegates to the inner Vec, whose heap block does not move when the WitnessBuf
// moves and lives until it drops; the Vec is never grown while an op holds it.
unsafe impl IoBuf for WitnessBuf {
    fn stable_ptr(&self) -> *const u8 {
        self.data.stable_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.data.bytes_init()
    }
    fn bytes_total(&self) -> usize {
        self.data.bytes_total()
    }
}

// SAFETY: as for IoBuf: the Vec's spare capacity is writable memory of the same block.
unsafe impl IoBufMut for WitnessBuf {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.data.stable_mut_ptr()
    }
    unsafe fn set_init(&mut self, n: usize) {
        // SAFETY: forwarded: the caller promises the first n bytes are initialized.
        unsafe { self.data.set_init(n) };
    }
}

/// A pipe: (read end, write end), close-on-exec.
pub fn pipe() -> (Rc<OwnedFd>, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two fds into the array we own.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(rc, 0, "pipe2: {}", io::Error::last_os_error());
    // SAFETY: both fds are fresh and owned by nobody else.
    unsafe {
        (
            Rc::new(OwnedFd::from_raw_fd(fds[0])),
            OwnedFd::from_raw_fd(fds[1]),
        )
    }
}

/// Writes all of `data` to `fd` (blocking).
pub fn write_all(fd: &OwnedFd, data: &[u8]) {
    let mut file = std::fs::File::from(fd.try_clone().expect("dup"));
    std::io::Write::write_all(&mut file, data).expect("write");
}

/// A listener on an ephemeral loopback port.
pub fn listener() -> Rc<TcpListener> {
    Rc::new(TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0"))
}

/// The number of open fds of this process (entries of /proc/self/fd, minus the one that
/// reading the directory opens).
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
        - 1
}

/// Polls `fut` once with the calling task's waker: `Some(output)` if it completed.
pub async fn poll_once<F: Future + Unpin>(fut: &mut F) -> Option<F::Output> {
    poll_fn(|cx| {
        Poll::Ready(match Pin::new(&mut *fut).poll(cx) {
            Poll::Ready(v) => Some(v),
            Poll::Pending => None,
        })
    })
    .await
}

/// A small deterministic pseudo-random generator (an LCG, Knuth's MMIX constants).
pub struct Lcg(pub u64);

impl Lcg {
    /// The next value in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// Aborts the process with a message if not dropped within `limit`: a hang becomes a
/// failure that names the test instead of a stuck `cargo test`.
pub struct Watchdog {
    done: Option<std_mpsc::Sender<()>>,
}

/// Starts a [`Watchdog`] for the test `name`.
pub fn watchdog(name: &'static str, limit: Duration) -> Watchdog {
    let (tx, rx) = std_mpsc::channel::<()>();
    std::thread::spawn(move || {
        if let Err(std_mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
            eprintln!("test {name} still running after {limit:?}: it hangs");
            std::process::abort();
        }
    });
    Watchdog { done: Some(tx) }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        // Dropping the sender ends the watchdog's wait with Disconnected.
        self.done.take();
    }
}

/// Writes `msg` straight to fd 2, past the test harness's output capture, so it survives a
/// process abort (the watchdog's, or heap corruption's).
pub fn say(msg: &str) {
    use std::io::Write;
    let mut err = io::stderr().lock();
    let _ = err.write_all(msg.as_bytes());
    let _ = err.write_all(b"\n");
    let _ = err.flush();
}

/// A [`watchdog`] whose message goes straight to fd 2 ([`say`]): it shows even when the
/// test's output is captured.
pub fn loud_watchdog(name: &'static str, limit: Duration) -> Watchdog {
    let (tx, rx) = std_mpsc::channel::<()>();
    std::thread::spawn(move || {
        if let Err(std_mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
            say(&format!(
                "test {name} still running after {limit:?}: it hangs; aborting"
            ));
            std::process::abort();
        }
    });
    Watchdog { done: Some(tx) }
}
