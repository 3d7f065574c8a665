//! A hostile reviewer's tests: safe code (plus `unsafe impl Operation` that honours its
//! documented contract) that makes the kernel write into freed memory, reaches an
//! `unreachable!`, or aborts the process.
//!
//! Kernel writes are caught canary-style ([`Victims`]): heap blocks of the freed buffer's
//! size, filled with a pattern right after the wrong free; a late kernel write changes one.
//! Tests that abort the process run their scenario in a child (this test binary, re-run with
//! `HOSTILE_CHILD` set) and check how it ended.
//!
//! Each one failed before its fix (the symptom is in its doc comment); they all pass now.

mod support;

use std::cell::RefCell;
use std::future::{Future, poll_fn};
use std::io;
use std::mem::size_of;
use std::net::TcpListener;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use runtime::op::{Completion, Multishot, MultishotOperation, Op, Operation};
use runtime::{Runtime, yield_now};
use support::{Nop, Read, Timeout, listener, loud_watchdog, pipe, poll_once, say, write_all};
use uring_sys::{Sqe, prep};

const LIMIT: Duration = Duration::from_secs(30);

fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

const VICTIM: u8 = 0xA5;
const PEER: u8 = 0x5A;

/// Heap blocks allocated right after a buffer was (wrongly) freed: blocks of the same size
/// reuse its memory, so a late kernel write lands in one of them.
struct Victims(Vec<Vec<u8>>, u8);

impl Victims {
    fn new(size: usize, count: usize) -> Victims {
        Victims::with_pattern(size, count, VICTIM)
    }

    fn with_pattern(size: usize, count: usize, pattern: u8) -> Victims {
        Victims((0..count).map(|_| vec![pattern; size]).collect(), pattern)
    }

    fn changed(&self) -> Vec<String> {
        self.0
            .iter()
            .enumerate()
            .filter_map(|(i, v)| {
                let first = v.iter().position(|&b| b != self.1)?;
                let n = v.iter().filter(|&&b| b != self.1).count();
                Some(format!(
                    "victim #{i} ({} bytes at {:p}): {n} bytes changed from offset {first}",
                    v.len(),
                    v.as_ptr()
                ))
            })
            .collect()
    }
}

thread_local! {
    /// What the next wake of a [`HookWaker`] runs (once).
    static ON_WAKE: RefCell<Option<Box<dyn FnOnce()>>> = const { RefCell::new(None) };
}

/// A waker whose wake runs the closure in [`ON_WAKE`] (on the waking thread), once.
struct HookWaker;

impl Wake for HookWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        if let Some(f) = ON_WAKE.with(|h| h.borrow_mut().take()) {
            f();
        }
    }
}

fn hook_waker(f: impl FnOnce() + 'static) -> Waker {
    ON_WAKE.with(|h| *h.borrow_mut() = Some(Box::new(f)));
    Waker::from(Arc::new(HookWaker))
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    match (p.downcast_ref::<&str>(), p.downcast_ref::<String>()) {
        (Some(s), _) => (*s).to_string(),
        (_, Some(s)) => s.clone(),
        _ => "<non-string panic>".to_string(),
    }
}

/// Runs the scenario of test `name` in a child process (this binary, that test only, with
/// `HOSTILE_CHILD=name`). Returns `None` in the child (run the scenario then), else the
/// child's exit status and its stderr.
fn in_child(name: &str) -> Option<(std::process::ExitStatus, String)> {
    if std::env::var("HOSTILE_CHILD").as_deref() == Ok(name) {
        return None;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            name,
            "--exact",
            "--include-ignored",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("HOSTILE_CHILD", name)
        .output()
        .expect("run the child");
    Some((
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// A NOP whose abandoned CQE handler panics (safe code; the Operation contract says nothing
/// about panics).
struct PanicOnAbandonNop;

// SAFETY: a NOP's SQE carries no address and no fd.
unsafe impl Operation for PanicOnAbandonNop {
    type Output = io::Result<u32>;
    fn sqe(&mut self) -> Sqe {
        prep::prep_nop()
    }
    fn complete(self, result: io::Result<u32>, _: Completion) -> Self::Output {
        result
    }
    fn on_abandoned_cqe(&mut self, _: Completion) {
        panic!("hostile: on_abandoned_cqe panics");
    }
}

// ---------------------------------------------------------------------------------------
// 1. A panicking deferred job drops the jobs queued after it: an abandoned op's buffer is
//    freed while the kernel still reads into it.
// ---------------------------------------------------------------------------------------

/// Inside the driver's borrow (a waker run by reap), two ops are dropped: A (already
/// completed; its `on_abandoned_cqe` panics) then B (a read of an empty pipe into a Vec).
/// Both abandons are deferred. Running A's job panics. Before the fix,
/// `Handle::run_deferred` unwound with B's job still in its `Vec`, which dropped it: B's
/// operation (and its Vec) was freed while B's READ was still in the kernel, and writing to
/// the pipe made the kernel write into the freed Vec. Now the unrun jobs go back in the
/// queue.
#[test]
fn panicking_deferred_job_frees_the_next_jobs_buffers() {
    let _s = serial();
    let _w = loud_watchdog("panicking_deferred_job_frees_the_next_jobs_buffers", LIMIT);
    const SIZE: usize = 1000;
    let rt = Runtime::new().unwrap();
    let (rfd, wfd) = pipe();
    let r = catch_unwind(AssertUnwindSafe(|| {
        rt.block_on(async {
            let mut a = Op::new(PanicOnAbandonNop);
            assert!(poll_once(&mut a).await.is_none());
            let mut b = Op::new(Read::new(rfd.clone(), Vec::with_capacity(SIZE)));
            assert!(poll_once(&mut b).await.is_none());
            let mut x = Op::new(Nop);
            // x's waker drops A then B: it runs inside reap, with the driver borrowed.
            let waker = hook_waker(move || {
                drop(a);
                drop(b);
            });
            let mut cx = Context::from_waker(&waker);
            assert!(Pin::new(&mut x).poll(&mut cx).is_pending());
            for _ in 0..10 {
                yield_now().await;
            }
            drop(x);
        })
    }));
    let panicked = r.as_ref().err().map(|p| panic_message(&**p));
    let victims = Victims::new(SIZE, 32);
    write_all(&wfd, &[PEER; SIZE]);
    let _ = catch_unwind(AssertUnwindSafe(|| {
        rt.block_on(runtime::time::sleep(Duration::from_millis(50)))
    }));
    let changed = victims.changed();
    say(&format!(
        "[panicking_deferred_job] block_on panicked: {panicked:?}; changed victims: {changed:?}"
    ));
    drop(rt);
    assert!(
        changed.is_empty(),
        "the kernel wrote into freed memory: {changed:?}"
    );
}

/// Counts the CQEs a shared op's owner sees.
struct CountingOwner(std::cell::Cell<u32>);

impl runtime::op::SharedCompletion for CountingOwner {
    fn on_cqe(self: Rc<Self>, _: Completion) {
        self.0.set(self.0.get() + 1);
    }
}

/// Inside the driver's borrow (a waker run by reap), a shared op is pushed (deferred: the
/// driver is borrowed) and then an op whose abandoned-CQE handler panics is dropped (a
/// deferred job behind it). The job's panic unwinds before the shared push: the push must
/// wait for the next borrow's end, not be stranded with its owner never seeing a CQE.
#[test]
fn a_panicking_deferred_job_leaves_no_shared_push_stranded() {
    let _s = serial();
    let _w = loud_watchdog(
        "a_panicking_deferred_job_leaves_no_shared_push_stranded",
        LIMIT,
    );
    let rt = Runtime::new().unwrap();
    let owner = Rc::new(CountingOwner(std::cell::Cell::new(0)));
    let o = owner.clone();
    let r = catch_unwind(AssertUnwindSafe(|| {
        rt.block_on(async move {
            let mut a = Op::new(PanicOnAbandonNop);
            assert!(poll_once(&mut a).await.is_none());
            let mut x = Op::new(Nop);
            let waker = hook_waker(move || {
                // SAFETY: a NOP's SQE carries no address and no fd.
                unsafe { runtime::op::submit_shared(prep::prep_nop(), o) }.expect("deferred");
                drop(a);
            });
            let mut cx = Context::from_waker(&waker);
            assert!(Pin::new(&mut x).poll(&mut cx).is_pending());
            for _ in 0..10 {
                yield_now().await;
            }
            drop(x);
        })
    }));
    let panicked = r.as_ref().err().map(|p| panic_message(&**p));
    rt.block_on(async {
        for _ in 0..10 {
            yield_now().await;
        }
        runtime::time::sleep(Duration::from_millis(20)).await;
    });
    say(&format!(
        "[panicking_deferred_job_shared] block_on panicked: {panicked:?}; CQEs seen: {}",
        owner.0.get()
    ));
    assert!(panicked.is_some(), "the deferred job did not run");
    assert_eq!(
        owner.0.get(),
        1,
        "the shared op was never pushed (or seen twice)"
    );
}

// ---------------------------------------------------------------------------------------
// 2. A panic in `on_abandoned_cqe` of an armed multishot frees its memory while the kernel
//    keeps writing into it; its next CQE then hits `unreachable!`.
// ---------------------------------------------------------------------------------------

/// Where a multishot accept writes each peer's address: one heap block (so one victim
/// size catches it; its `len` read back by the kernel decides whether it writes at all).
#[repr(C)]
struct PeerAddr {
    len: libc::socklen_t,
    addr: libc::sockaddr_storage,
}

/// Multishot ACCEPT that asks for each peer's address (the kernel writes `addr.addr` and
/// `addr.len` for every connection while armed); its `on_abandoned_cqe` closes the fd, then
/// panics.
struct PanickyAcceptMulti {
    listener: Rc<TcpListener>,
    addr: Box<PeerAddr>,
}

// SAFETY: the SQE's addresses are `self.addr` and `self.len`, Boxes whose heap blocks do not
// move with `self` and live until `self` drops; its fd is the listener's, kept open by the
// Rc the op holds.
unsafe impl MultishotOperation for PanickyAcceptMulti {
    type Item = io::Result<OwnedFd>;

    fn sqe(&mut self) -> Sqe {
        self.addr.len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        let mut sqe = prep::prep_accept_multishot(self.listener.as_raw_fd(), libc::SOCK_CLOEXEC);
        sqe.set_addr(&raw mut self.addr.addr as u64);
        sqe.set_addr2(&raw mut self.addr.len as u64);
        sqe
    }

    fn next(&mut self, result: io::Result<u32>, _cqe: Completion) -> Self::Item {
        // SAFETY: a successful accept's result is a new fd that nobody else owns.
        result.map(|fd| unsafe { OwnedFd::from_raw_fd(fd as i32) })
    }

    fn on_abandoned_cqe(&mut self, cqe: Completion) {
        if cqe.res() >= 0 {
            // SAFETY: the kernel made this fd for this op, whose owner is gone.
            unsafe { libc::close(cqe.res()) };
        }
        panic!("hostile: on_abandoned_cqe panics");
    }
}

/// One connection is accepted (its CQE, with F_MORE, waits in the stream's queue); the
/// stream is dropped. `OpState::abandon` replays the queued CQE to `on_abandoned_cqe`,
/// which panics. Before the fix the resources (with `addr`) were dropped by the unwind, the
/// slot left `Completed`, and no cancel sent, so the multishot stayed armed: a second
/// connection made the kernel write a sockaddr into the freed `addr` Box, and its CQE hit
/// `unreachable!`. Now the resources stay in the slot until the final CQE.
#[test]
fn panicking_on_abandoned_cqe_frees_an_armed_multishot() {
    let _s = serial();
    let _w = loud_watchdog("panicking_on_abandoned_cqe_frees_an_armed_multishot", LIMIT);
    let l = listener();
    let addr = l.local_addr().unwrap();
    let rt = Runtime::new().unwrap();
    let l2 = l.clone();
    let mut peers = Vec::new();
    let r = catch_unwind(AssertUnwindSafe(|| {
        rt.block_on(async {
            let mut ms = Multishot::new(PanickyAcceptMulti {
                listener: l2,
                addr: Box::new(PeerAddr {
                    len: 0,
                    // SAFETY: sockaddr_storage is plain data; all zeroes is a valid value.
                    addr: unsafe { std::mem::zeroed() },
                }),
            });
            let first = poll_fn(|cx| Poll::Ready(ms.poll_next_item(cx))).await;
            assert!(first.is_pending());
            for _ in 0..3 {
                yield_now().await;
            }
            peers.push(std::net::TcpStream::connect(addr).unwrap());
            // Let the first accept's CQE arrive (queued, not taken).
            runtime::time::sleep(Duration::from_millis(30)).await;
            drop(ms);
        })
    }));
    let first_panic = r.as_ref().err().map(|p| panic_message(&**p));
    // The Box<PeerAddr> was freed by the unwind: take its place. The pattern 0x10 reads as
    // a positive `len` (0x10101010), so the kernel accepts it and writes the address.
    let victims = Victims::with_pattern(size_of::<PeerAddr>(), 32, 0x10);
    peers.push(std::net::TcpStream::connect(addr).unwrap());
    let r2 = catch_unwind(AssertUnwindSafe(|| {
        rt.block_on(runtime::time::sleep(Duration::from_millis(50)))
    }));
    let second_panic = r2.as_ref().err().map(|p| panic_message(&**p));
    let changed = victims.changed();
    // The drain's cancel brings one more CQE for the `Completed` slot: drop panics too.
    let r3 = catch_unwind(AssertUnwindSafe(|| drop(rt)));
    let third_panic = r3.as_ref().err().map(|p| panic_message(&**p));
    say(&format!(
        "[panicking_on_abandoned_cqe] first panic: {first_panic:?}; second panic: \
         {second_panic:?}; panic dropping the runtime: {third_panic:?}; changed victims: \
         {changed:?}"
    ));
    assert!(
        changed.is_empty(),
        "the kernel wrote a sockaddr into freed memory: {changed:?}"
    );
    // The op's own callback panics again on the next CQE, and that panic is the caller's
    // to see; what must not happen is the driver failing its own invariants.
    assert!(
        second_panic
            .as_ref()
            .is_none_or(|m| format!("{m:?}").contains("hostile")),
        "a later CQE of the abandoned multishot panicked the driver: {second_panic:?}"
    );
}

// ---------------------------------------------------------------------------------------
// 3. `block_on` from a waker that an outside-the-loop settle runs: `unreachable!`.
// ---------------------------------------------------------------------------------------

/// An op submitted inside `rt` with a custom waker, then polled outside `block_on`: the
/// poll settles it (cancel, turn, reap) with the driver borrowed, and the reap wakes the
/// custom waker, which calls `rt.block_on` (allowed: no runtime is current). Its loop's
/// `driver.with(turn)` gets `None`: `unreachable!("the driver is borrowed only within a
/// call")` (and `enter_loop` silently failed to set `active` before that).
#[test]
fn block_on_from_a_waker_run_by_settle() {
    let _s = serial();
    let _w = loud_watchdog("block_on_from_a_waker_run_by_settle", LIMIT);
    let rt = Rc::new(Runtime::new().unwrap());
    let mut op = Op::new(Timeout::new(Duration::from_secs(5)));
    let rt2 = rt.clone();
    let waker = hook_waker(move || {
        rt2.block_on(yield_now());
    });
    rt.block_on(async {
        let mut cx = Context::from_waker(&waker);
        assert!(Pin::new(&mut op).poll(&mut cx).is_pending());
        yield_now().await;
    });
    let r = catch_unwind(AssertUnwindSafe(|| {
        let mut cx = Context::from_waker(Waker::noop());
        Pin::new(&mut op)
            .poll(&mut cx)
            .map(|r| r.map_err(|e| e.to_string()))
    }));
    let msg = r.as_ref().err().map(|p| panic_message(&**p));
    say(&format!(
        "[block_on_from_a_waker_run_by_settle] outcome: {:?}",
        r.as_ref().map_err(|_| msg.clone())
    ));
    drop(op);
    // Blocking inside the driver cannot work; what matters is a clear refusal, never an
    // internal invariant failing.
    assert!(
        msg.as_ref()
            .is_none_or(|m| format!("{m:?}").contains("from inside this runtime's driver")),
        "polling an op outside its loop panicked: {msg:?}"
    );
}

// ---------------------------------------------------------------------------------------
// 4. Thread-local destruction: `CURRENT.with` after `CURRENT` was destroyed aborts.
// ---------------------------------------------------------------------------------------

thread_local! {
    static TLS_RT: RefCell<Option<Runtime>> = const { RefCell::new(None) };
}

/// A runtime kept in a thread-local of a worker thread (a common pattern). At thread exit
/// `CURRENT` (registered later, at the first `block_on`) is destroyed first; then the
/// runtime's drop calls `context::enter`, whose `CURRENT.with` panics inside a TLS
/// destructor: the process aborts ("thread local panicked on drop").
#[test]
fn runtime_in_a_thread_local_dropped_at_thread_exit() {
    let Some((status, stderr)) = in_child("runtime_in_a_thread_local_dropped_at_thread_exit")
    else {
        std::thread::spawn(|| {
            TLS_RT.with(|r| *r.borrow_mut() = Some(Runtime::new().unwrap()));
            TLS_RT.with(|r| {
                let v = r.borrow().as_ref().unwrap().block_on(async { 1 + 1 });
                assert_eq!(v, 2);
            });
        })
        .join()
        .unwrap();
        say("[child] thread exited cleanly");
        return;
    };
    say(&format!(
        "[runtime_in_a_thread_local] child: {status}; stderr tail: {}",
        tail(&stderr)
    ));
    assert!(status.success(), "the child died: {status}");
}

/// Wakes its waker when dropped (as channel ends do).
struct WakeOnDrop(Waker);

impl Drop for WakeOnDrop {
    fn drop(&mut self) {
        self.0.wake_by_ref();
    }
}

thread_local! {
    static TLS_WAKER: RefCell<Option<WakeOnDrop>> = const { RefCell::new(None) };
}

/// A plain thread keeps a runtime task's waker in a thread-local value that wakes it on drop
/// (a channel end, say), and has woken it once before (so `CURRENT` is initialized, after
/// the thread-local). At thread exit `CURRENT` is destroyed first; the later wake calls
/// `schedule_local` → `CURRENT.with`, which panics in a TLS destructor: abort.
#[test]
fn task_waker_woken_during_thread_local_destruction() {
    let Some((status, stderr)) = in_child("task_waker_woken_during_thread_local_destruction")
    else {
        let rt = Runtime::new().unwrap();
        let waker = rt.block_on(poll_fn(|cx| Poll::Ready(cx.waker().clone())));
        std::thread::spawn(move || {
            TLS_WAKER.with(|w| *w.borrow_mut() = Some(WakeOnDrop(waker.clone())));
            waker.wake_by_ref();
        })
        .join()
        .unwrap();
        say("[child] thread exited cleanly");
        return;
    };
    say(&format!(
        "[task_waker_woken_during_tls] child: {status}; stderr tail: {}",
        tail(&stderr)
    ));
    assert!(status.success(), "the child died: {status}");
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(4)..].join(" | ")
}

// ---------------------------------------------------------------------------------------
// 5. `runtime::spawn` from a drop that runs during shutdown.
// ---------------------------------------------------------------------------------------

/// A future that, when dropped, spawns another like itself (a "restart on drop" supervisor).
struct Respawn;

impl Future for Respawn {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        Poll::Pending
    }
}

impl Drop for Respawn {
    fn drop(&mut self) {
        drop(runtime::spawn(Respawn));
    }
}

/// `Core::drop_tasks` loops "take every task, drop them" until the slab stays empty; a
/// task whose drop spawns a new one keeps it non-empty for ever: `drop(runtime)` never
/// returns (a spawn during shutdown is accepted instead of refused).
#[test]
fn task_that_respawns_on_drop_hangs_runtime_drop() {
    let Some((status, stderr)) = in_child("task_that_respawns_on_drop_hangs_runtime_drop") else {
        let _w = loud_watchdog(
            "task_that_respawns_on_drop_hangs_runtime_drop",
            Duration::from_secs(5),
        );
        let rt = Runtime::new().unwrap();
        rt.block_on(async {
            drop(runtime::spawn(Respawn));
            yield_now().await;
        });
        drop(rt);
        say("[child] the runtime dropped");
        return;
    };
    say(&format!(
        "[respawn_on_drop] child: {status}; stderr tail: {}",
        tail(&stderr)
    ));
    assert!(status.success(), "the child died: {status}");
}

thread_local! {
    static LATE: RefCell<Option<runtime::JoinHandle<u32>>> = const { RefCell::new(None) };
}

/// Spawns a task (and keeps its handle) when dropped.
struct SpawnOnDrop;

impl Drop for SpawnOnDrop {
    fn drop(&mut self) {
        if runtime::core_id().is_some() {
            let h = runtime::spawn(async { 7 });
            LATE.with(|l| *l.borrow_mut() = Some(h));
        }
    }
}

/// An operation that carries a [`SpawnOnDrop`].
struct WithDropHook<O> {
    inner: O,
    _hook: SpawnOnDrop,
}

// SAFETY: the SQE is `inner`'s (whose memory `inner` owns, per its own impl); the hook owns
// no memory the SQE names.
unsafe impl<O: Operation> Operation for WithDropHook<O> {
    type Output = O::Output;
    fn sqe(&mut self) -> Sqe {
        self.inner.sqe()
    }
    fn complete(self, result: io::Result<u32>, cqe: Completion) -> Self::Output {
        self.inner.complete(result, cqe)
    }
}

/// A task awaits a read of an empty pipe sent to io-wq (`SqeFlags::ASYNC`, so its cancel
/// completes asynchronously); the runtime is dropped. When the cancelled read's CQE is
/// reaped by the shutdown drain (`Handle::orphan`, after `drop_tasks`), the operation drops
/// there and its drop spawns a task (`CURRENT` is still the dying core): that task is never
/// polled nor dropped, and its JoinHandle, awaited later in another runtime, never
/// completes. (When the CQE comes early enough to be reaped inside `drop_tasks`, whose loop
/// drops the new task too, the handle reports `Aborted`: the outcome is racy.)
#[test]
fn task_spawned_during_shutdown_drain_never_completes() {
    let _s = serial();
    let _w = loud_watchdog("task_spawned_during_shutdown_drain_never_completes", LIMIT);
    let (rfd, _wfd) = pipe();
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        drop(runtime::spawn(async move {
            let _ = Op::new(WithDropHook {
                inner: Read::new(rfd, Vec::with_capacity(64)),
                _hook: SpawnOnDrop,
            })
            .sqe_flags(runtime::op::SqeFlags::ASYNC)
            .await;
        }));
        for _ in 0..3 {
            yield_now().await;
        }
    });
    drop(rt);
    let handle = LATE
        .with(|l| l.borrow_mut().take())
        .expect("the drop spawned a task");
    let rt2 = Runtime::new().unwrap();
    let out = rt2.block_on(runtime::time::timeout(Duration::from_millis(300), handle));
    say(&format!(
        "[task_spawned_during_shutdown] after 300 ms: {:?}",
        out.as_ref().map(|r| r.as_ref().map_err(|e| e.to_string()))
    ));
    assert!(
        out.is_ok(),
        "a JoinHandle of a task spawned during shutdown never completes"
    );
}

/// A read of an empty pipe whose abandoned CQE handler panics.
struct PanicOnAbandonRead(Read<Vec<u8>>);

// SAFETY: the SQE is the inner `Read`'s, which owns what it points to (its contract).
unsafe impl Operation for PanicOnAbandonRead {
    type Output = (io::Result<usize>, Vec<u8>);
    fn sqe(&mut self) -> Sqe {
        self.0.sqe()
    }
    fn complete(self, result: io::Result<u32>, cqe: Completion) -> Self::Output {
        self.0.complete(result, cqe)
    }
    fn on_abandoned_cqe(&mut self, _: Completion) {
        panic!("hostile: on_abandoned_cqe panics");
    }
}

/// An op abandoned in flight whose handler panics on its final CQE (the cancel's ECANCELED)
/// leaves no slot behind: the reap frees the slot before the handler runs. Before, the
/// handler ran in the slot, which stayed abandoned and awaiting a CQE that never came:
/// `ops_in_flight` stayed 1 and `drop(runtime)` waited the whole settle limit.
#[test]
fn a_panic_on_an_abandoned_ops_final_cqe_leaves_no_slot() {
    let _s = serial();
    let _w = loud_watchdog(
        "a_panic_on_an_abandoned_ops_final_cqe_leaves_no_slot",
        LIMIT,
    );
    let rt = Runtime::new().unwrap();
    let (rfd, _wfd) = pipe();
    let r = catch_unwind(AssertUnwindSafe(|| {
        rt.block_on(async {
            let mut read = Op::new(PanicOnAbandonRead(Read::new(rfd, Vec::with_capacity(64))));
            assert!(poll_once(&mut read).await.is_none());
            drop(read);
            for _ in 0..10 {
                yield_now().await;
            }
        })
    }));
    assert!(r.is_err(), "the handler panicked in the reap");
    let in_flight = rt.block_on(async { runtime::metrics().expect("runtime").ops_in_flight });
    let start = std::time::Instant::now();
    drop(rt);
    assert_eq!(in_flight, 0, "the panicked op's slot stayed in flight");
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "drop(runtime) took {:?}",
        start.elapsed()
    );
}
