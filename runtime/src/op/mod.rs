//! The public op API: [`Operation`] describes one io_uring op and owns what its SQE points to;
//! [`Op`] is the future that submits it and yields its output; [`Multishot`] is the stream of
//! a multishot op's CQEs; [`link`] chains two ops.
//!
//! This layer sits above the driver and the executor: it finds the current core's driver
//! once, at an op's first poll, and from then on holds that driver's handle, so polling,
//! dropping and cancelling the op always reach the ring that has it.
//!
//! # The cancel contract
//! Dropping an [`Op`] or [`Multishot`] before its final CQE moves the operation (with its
//! buffers, sockaddrs, paths) into the driver's slot and sends `IORING_OP_ASYNC_CANCEL`. The
//! resources are dropped only when the final CQE arrives; [`Operation::on_abandoned_cqe`]
//! sees every CQE nobody will take, so an fd the kernel created for nobody gets closed and a
//! provided buffer goes back to its ring. [`Op::cancel`] asks for the same cancellation but
//! keeps the future: awaiting it yields the op's result (or ECANCELED) with its buffer.
//!
//! This holds wherever the op goes: dropped outside `block_on` (the cancel is submitted at
//! once), inside another runtime, or after its runtime was dropped (it is then cancelled
//! and reaped on the spot).
//!
//! # Polled outside its core's loop
//! An op in flight that is polled where its core's loop does not run (outside `block_on`,
//! inside another runtime's `block_on`) cannot make progress there. It is cancelled, its
//! ring is turned until the kernel is done with it, and it completes: with its result if the
//! kernel finished first, else with an error that says so. Either way the buffer it hands
//! back is the caller's again.

mod link;
mod multishot;
pub(crate) mod polled;

use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use uring_sys::{Sqe, abi};

use crate::driver::slot::Abandoned;
pub use crate::driver::slot::Completion;
use crate::driver::{Handle, OpKey};
use crate::executor::context;
pub use link::{Linked, link, link_hard};
pub use multishot::Multishot;

/// One io_uring operation: builds its SQE and turns its CQE into an output.
///
/// # Safety
/// Every address the SQE from [`Operation::sqe`] carries (buffers, iovecs, sockaddrs,
/// msghdrs, paths, timespecs) must point into memory that `self` owns, that does not move
/// when `self` moves (heap memory: `Vec`, `Box`, `CString`, or `'static` data), and that
/// stays valid and otherwise unaccessed until `self` is dropped or consumed. Every fd in it
/// must stay open as long, and so must whatever else the SQE names: `self` holds the
/// [`BufPool`](crate::buf::BufPool) whose group it selects from, the
/// [`FixedFile`](crate::fixed_files::FixedFile) slot or the registered buffer it names (whose
/// memory must not be freed while the op is in flight). The SQE's flags must leave the
/// driver its CQE: no
/// `IOSQE_CQE_SKIP_SUCCESS` (the op would wait for ever), and `IOSQE_BUFFER_SELECT` only
/// together with [`Operation::bound_ring`] naming the ring whose buffer group it selects.
/// The runtime keeps `self` alive until the op's final CQE, even if the future is dropped,
/// which makes the kernel's use of that memory sound.
///
/// # Examples
/// A NOP, the simplest op (no memory to own):
/// ```
/// use runtime::op::{Completion, Op, Operation};
/// use uring_sys::{prep, Sqe};
///
/// struct Nop;
///
/// // SAFETY: a NOP's SQE points to no memory.
/// unsafe impl Operation for Nop {
///     type Output = std::io::Result<u32>;
///     fn sqe(&mut self) -> Sqe {
///         prep::prep_nop()
///     }
///     fn complete(self, result: std::io::Result<u32>, _cqe: Completion) -> Self::Output {
///         result
///     }
/// }
///
/// runtime::Runtime::new()?.block_on(async {
///     assert_eq!(Op::new(Nop).await?, 0);
///     Ok::<_, std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub unsafe trait Operation: 'static {
    /// What the op yields, usually `io::Result<_>` or a [`crate::buf::BufResult`].
    type Output;

    /// The SQE to submit; called once, at the first poll. Its `user_data` is set by the
    /// driver.
    fn sqe(&mut self) -> Sqe;

    /// Turns the final CQE into the output; `result` is `cqe.res` as an `io::Result`.
    /// Also called with the submission error when the op could not be submitted.
    fn complete(self, result: io::Result<u32>, cqe: Completion) -> Self::Output;

    /// Sees each CQE of an op whose future was dropped (nobody takes the result). Close
    /// here an fd the kernel created (accept, open, socket); buffers go when `self` drops.
    fn on_abandoned_cqe(&mut self, cqe: Completion) {
        let _ = cqe;
    }

    /// The ring this op must run on, when its SQE names something registered with one ring
    /// only: a fixed-file slot, a provided-buffer group, registered buffers. Submitted on
    /// any other ring it completes with an error at once, without reaching the kernel.
    /// `None` (the default): any core's ring.
    fn bound_ring(&self) -> Option<&RingHandle> {
        None
    }

    /// Whether a dropped op is left to finish in the background instead of being cancelled
    /// (its resources still stay with the driver until the final CQE). For ops whose effect
    /// should happen whole or not at all, such as a stream write, which a cancel could cut
    /// short. Default: cancelled. The runtime's shutdown cancels them all the same.
    fn finish_when_dropped(&self) -> bool {
        false
    }
}

/// A multishot operation: one SQE, many CQEs (while `IORING_CQE_F_MORE`).
///
/// # Safety
/// As for [`Operation`]: every address in the SQE points into memory `self` owns, stable
/// across moves, valid until `self` is dropped; the same rules for SQE flags.
pub unsafe trait MultishotOperation: 'static {
    /// What each CQE becomes.
    type Item;

    /// The SQE to submit (with the op's multishot flag set).
    fn sqe(&mut self) -> Sqe;

    /// Turns one CQE into an item.
    fn next(&mut self, result: io::Result<u32>, cqe: Completion) -> Self::Item;

    /// Sees each CQE nobody will take after the stream was dropped.
    fn on_abandoned_cqe(&mut self, cqe: Completion) {
        let _ = cqe;
    }

    /// As [`Operation::bound_ring`].
    fn bound_ring(&self) -> Option<&RingHandle> {
        None
    }
}

/// One core's ring, as what an op, a buffer pool or a fixed-file slot belongs to. Cheap to
/// clone; it keeps the ring alive, and stays on the thread of its core (`!Send`).
#[derive(Clone)]
pub struct RingHandle(pub(crate) Handle);

impl RingHandle {
    /// The ring of the core running on this thread.
    ///
    /// # Errors
    /// Outside a runtime.
    pub fn current() -> io::Result<RingHandle> {
        context::current_driver().map(RingHandle)
    }

    /// Whether this is the ring of the core running on this thread.
    pub fn is_current(&self) -> bool {
        context::current_driver().is_ok_and(|d| d.same(&self.0))
    }
}

impl PartialEq for RingHandle {
    fn eq(&self, other: &RingHandle) -> bool {
        self.0.same(&other.0)
    }
}

impl Eq for RingHandle {}

impl std::fmt::Debug for RingHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("RingHandle").field(&self.0).finish()
    }
}

/// The SQE flags an op may add: only those the driver can honour without losing the op's
/// CQE or its buffers (a typed subset of `IOSQE_*`).
///
/// Not offered: `IO_DRAIN` (a core always has its wake-up read and often multishot ops in
/// flight, which never complete, so a drained op would never start), `CQE_SKIP_SUCCESS`
/// (the op would wait for ever), `BUFFER_SELECT` and `FIXED_FILE` (they change which memory
/// and which file the SQE names: an [`Operation`] sets them itself, under its contract),
/// and the link flags ([`link`] builds chains).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SqeFlags(u8);

impl SqeFlags {
    /// No extra flag.
    pub const NONE: SqeFlags = SqeFlags(0);
    /// `IOSQE_ASYNC`: skip the inline attempt and go straight to io-wq.
    pub const ASYNC: SqeFlags = SqeFlags(abi::IOSQE_ASYNC);

    /// The `IOSQE_*` bits.
    pub fn bits(self) -> u8 {
        self.0
    }
}

impl std::ops::BitOr for SqeFlags {
    type Output = SqeFlags;
    fn bitor(self, other: SqeFlags) -> SqeFlags {
        SqeFlags(self.0 | other.0)
    }
}

struct AbandonedOp<T>(T);

impl<T: Operation> Abandoned for AbandonedOp<T> {
    fn on_cqe(&mut self, cqe: Completion) {
        self.0.on_abandoned_cqe(cqe);
    }
}

/// Where the future side of an op stands (apart from the driver's slot state).
#[derive(Debug)]
enum Stage {
    /// Not pushed yet: the SQE is pushed at the first poll.
    Unsubmitted,
    /// Pushed on the ring of `Handle`; its slot `OpKey` holds the op's state.
    InFlight(Handle, OpKey),
    /// The output was returned (or the op was never submitted and completed with an error).
    Done,
}

/// Per-op submission options: extra SQE flags and a link timeout.
#[derive(Debug, Clone, Copy, Default)]
struct Options {
    sqe_flags: SqeFlags,
    timeout: Option<Duration>,
    cancel_requested: bool,
}

/// The future of one [`Operation`]: pushes its SQE on first poll, completes with its CQE.
///
/// Dropping it before completion follows the cancel contract of this module.
#[must_use = "an op does nothing until awaited"]
pub struct Op<T: Operation> {
    stage: Stage,
    op: Option<T>,
    options: Options,
    /// Ops belong to the core whose ring has them: never Send.
    _core_bound: PhantomData<Rc<()>>,
}

// An Op never hands out pinned references to its parts: the kernel-facing memory lives on
// the heap (Operation's contract), so moving the Op moves nothing the kernel uses.
impl<T: Operation> Unpin for Op<T> {}

impl<T: Operation> Op<T> {
    /// Wraps `op`; nothing happens until the first poll.
    pub fn new(op: T) -> Op<T> {
        Op {
            stage: Stage::Unsubmitted,
            op: Some(op),
            options: Options::default(),
            _core_bound: PhantomData,
        }
    }

    /// Adds SQE flags: [`SqeFlags::ASYNC`] (go straight to io-wq).
    pub fn sqe_flags(mut self, flags: SqeFlags) -> Self {
        self.options.sqe_flags = self.options.sqe_flags | flags;
        self
    }

    /// Cancels the op if it has not completed after `timeout` (a linked
    /// `IORING_OP_LINK_TIMEOUT`): it then completes with ECANCELED.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.options.timeout = Some(timeout);
        self
    }

    /// Asks the kernel to cancel the op; keep awaiting it to get its result, which is
    /// ECANCELED unless it completed first, with the op's buffers. An op not yet submitted
    /// completes with ECANCELED without reaching the kernel.
    pub fn cancel(&mut self) {
        self.options.cancel_requested = true;
        if let Stage::InFlight(driver, key) = &self.stage {
            let key = *key;
            driver.with_or_defer(move |d| d.cancel(key));
        }
    }

    fn finish(&mut self, result: io::Result<u32>, cqe: Completion) -> T::Output {
        self.stage = Stage::Done;
        let op = self.op.take().expect("an op completes once");
        op.complete(result, cqe)
    }

    /// Pushes the SQE on the current core's ring.
    fn submit(&mut self, cx: &mut Context<'_>) -> Poll<T::Output> {
        if self.options.cancel_requested {
            let e = io::Error::from_raw_os_error(libc::ECANCELED);
            return Poll::Ready(self.finish(Err(e), NO_CQE));
        }
        let op = self
            .op
            .as_mut()
            .expect("an unsubmitted op has its operation");
        let driver = match ring_for(op.bound_ring()) {
            Ok(driver) => driver,
            Err(e) => return Poll::Ready(self.finish(Err(e), NO_CQE)),
        };
        let sqe = op.sqe().flags(self.options.sqe_flags.bits());
        let timeout = self.options.timeout;
        match driver.with(|d| d.submit(sqe, timeout, cx.waker())) {
            Some(Ok(key)) => {
                self.stage = Stage::InFlight(driver, key);
                Poll::Pending
            }
            Some(Err(e)) => Poll::Ready(self.finish(Err(e), NO_CQE)),
            None => Poll::Ready(self.finish(Err(busy()), NO_CQE)),
        }
    }
}

/// The current core's driver, if the op may run there.
#[inline]
fn ring_for(bound: Option<&RingHandle>) -> io::Result<Handle> {
    let driver = context::current_driver()?;
    match bound {
        Some(ring) if !ring.0.same(&driver) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "this op names a file slot, buffer group or registered buffer of another core's \
             ring (another runtime or core): run it on the core that registered it",
        )),
        _ => Ok(driver),
    }
}

fn busy() -> io::Error {
    io::Error::other("io_uring driver re-entered while busy: an op was polled from inside it")
}

pub(crate) fn cqe_result(c: Completion) -> io::Result<u32> {
    if c.res < 0 {
        Err(io::Error::from_raw_os_error(-c.res))
    } else {
        Ok(c.res as u32)
    }
}

/// The result of an op that was polled outside its core's loop and so was cancelled: its
/// own result if the kernel finished first, else an error that says what happened.
fn settled_result(c: Completion) -> io::Result<u32> {
    if c.res == -libc::ECANCELED {
        return Err(io::Error::other(
            "io_uring op polled outside the loop of the core that submitted it (outside \
             block_on, or inside another runtime): it was cancelled; await it inside its \
             own runtime",
        ));
    }
    cqe_result(c)
}

pub(crate) const NO_CQE: Completion = Completion { res: 0, flags: 0 };

/// What polling an op in flight found.
enum Polled<T> {
    Ready(T),
    Pending,
    /// Polled outside its core's loop, cancelled and settled: this was its final CQE.
    Settled(T),
}

/// Polls the slot `key` of `driver` with `poll`; outside the core's loop, settles it first
/// (cancel, then turn the ring until the kernel is done) so that it completes.
#[inline]
fn poll_in_flight<T>(
    driver: &Handle,
    key: OpKey,
    cx: &mut Context<'_>,
    poll: impl Fn(&mut crate::driver::Driver, OpKey, &mut Context<'_>) -> Poll<T>,
) -> Polled<T> {
    if !driver.is_active() {
        return poll_outside_loop(driver, key, cx, poll);
    }
    // The hot path: polled inside its own core's loop.
    match driver.with(|d| poll(d, key, cx)) {
        Some(Poll::Ready(out)) => Polled::Ready(out),
        Some(Poll::Pending) => Polled::Pending,
        None => {
            // Polled from inside the driver (a waker or drop it ran): try again later.
            cx.waker().wake_by_ref();
            Polled::Pending
        }
    }
}

#[cold]
fn poll_outside_loop<T>(
    driver: &Handle,
    key: OpKey,
    cx: &mut Context<'_>,
    poll: impl Fn(&mut crate::driver::Driver, OpKey, &mut Context<'_>) -> Poll<T>,
) -> Polled<T> {
    let polled = driver.with(|d| {
        if !d.settle(key) {
            return None;
        }
        match poll(d, key, cx) {
            Poll::Ready(out) => Some(out),
            Poll::Pending => unreachable!("a settled op has its final CQE"),
        }
    });
    match polled {
        Some(Some(out)) => Polled::Settled(out),
        Some(None) => panic!(
            "an io_uring op polled outside its core's loop could not be cancelled: its buffers \
             stay with the kernel; await ops inside their own runtime"
        ),
        None => {
            cx.waker().wake_by_ref();
            Polled::Pending
        }
    }
}

impl<T: Operation> Future for Op<T> {
    type Output = T::Output;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T::Output> {
        let this = &mut *self;
        match &this.stage {
            Stage::Unsubmitted => this.submit(cx),
            Stage::InFlight(driver, key) => {
                match poll_in_flight(driver, *key, cx, |d, k, cx| d.poll_op(k, cx)) {
                    Polled::Ready(c) => Poll::Ready(this.finish(cqe_result(c), c)),
                    Polled::Settled(c) => Poll::Ready(this.finish(settled_result(c), c)),
                    Polled::Pending => Poll::Pending,
                }
            }
            Stage::Done => panic!("Op polled after it completed"),
        }
    }
}

impl<T: Operation> Drop for Op<T> {
    fn drop(&mut self) {
        if !matches!(self.stage, Stage::InFlight(..)) {
            return;
        }
        if let (Stage::InFlight(driver, key), Some(op)) = (
            std::mem::replace(&mut self.stage, Stage::Done),
            self.op.take(),
        ) {
            let cancel = !op.finish_when_dropped();
            abandon(&driver, key, Box::new(AbandonedOp(op)), cancel);
        }
    }
}

/// Hands an abandoned op's resources to its own driver, which keeps them until the final
/// CQE (now, or once the driver's current borrow ends), and cancels it if `cancel`.
fn abandon(driver: &Handle, key: OpKey, resources: Box<dyn Abandoned>, cancel: bool) {
    driver.with_or_defer(move |d| d.abandon(key, resources, cancel));
}

/// Pushes a fire-and-forget SQE whose completion nobody awaits (e.g. closing an fd on drop,
/// without blocking the core) on the current core's ring; it is submitted with the next
/// loop turn, or at once when the loop is not running. Falls back to `Err` when no runtime
/// runs on this thread.
///
/// # Safety
/// The SQE must point to no memory at all (a close, a cancel), since nothing keeps memory
/// alive for it.
pub unsafe fn submit_detached(sqe: Sqe) -> io::Result<()> {
    let driver = context::current_driver()?;
    driver
        .with(|d| d.submit_detached(sqe))
        .unwrap_or_else(|| Err(busy()))
}

/// Closes `fd` without blocking the core: an `IORING_OP_CLOSE` pushed on this core's ring
/// (submitted with the next loop turn, or at once outside the loop; its result is not
/// awaited), or `close(2)` right away outside a runtime. Use [`Op`] with `prep_close`
/// instead to learn the close's result.
pub fn close_in_background(fd: std::os::fd::OwnedFd) {
    use std::os::fd::{FromRawFd, IntoRawFd};
    let raw = fd.into_raw_fd();
    // SAFETY: a CLOSE SQE points to no memory, and we own `raw` (taken from the OwnedFd):
    // nobody else closes or uses it after this.
    if unsafe { submit_detached(uring_sys::prep::prep_close(raw)) }.is_err() {
        // SAFETY: the push failed, so the fd is still ours; the OwnedFd closes it on drop.
        drop(unsafe { std::os::fd::OwnedFd::from_raw_fd(raw) });
    }
}
