//! The submission internals shared by [`Op`](crate::op::Op), [`Multishot`](crate::op::Multishot)
//! and [`link`](crate::op::link): the future side's [`Stage`], finding the ring an op may run
//! on, polling an op in flight (and settling it outside its core's loop), handing a dropped
//! op's resources to the driver; and the submissions no future awaits ([`submit_detached`],
//! [`submit_shared`], [`close_in_background`]).

use std::io;
use std::rc::Rc;
use std::task::{Context, Poll};

use uring_sys::Sqe;

use super::operation::RingHandle;
use crate::driver::slot::{Abandoned, Completion, SharedCompletion};
use crate::driver::{Handle, OpKey};
use crate::executor::context;

/// Where the future side of an op stands (apart from the driver's slot state).
#[derive(Debug)]
pub(super) enum Stage {
    /// Not pushed yet: the SQE is pushed at the first poll.
    Unsubmitted,
    /// Pushed on the ring of `Handle`; its slot `OpKey` holds the op's state.
    InFlight(Handle, OpKey),
    /// The output was returned (or the op was never submitted and completed with an error).
    Done,
}

/// The current core's driver, if the op may run there.
#[inline]
pub(super) fn ring_for(bound: Option<&RingHandle>) -> io::Result<Handle> {
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

pub(crate) const NO_CQE: Completion = Completion::new(0, 0, 0);

/// What polling an op in flight found.
pub(super) enum Polled<T> {
    Ready(T),
    Pending,
    /// Polled outside its core's loop, cancelled and settled: this was its final CQE.
    Settled(T),
}

/// Polls the slot `key` of `driver` with `poll`; outside the core's loop, settles it first
/// (cancel, then turn the ring until the kernel is done) so that it completes.
#[inline(always)]
pub(super) fn poll_in_flight<T>(
    driver: &Handle,
    key: OpKey,
    cx: &mut Context<'_>,
    poll: impl Fn(&mut crate::driver::Driver, OpKey, &mut Context<'_>) -> Poll<T>,
) -> Polled<T> {
    if !driver.is_active() {
        // Through `&dyn`: the closure then has one inlined call site, the hot one below.
        return poll_outside_loop(driver, key, cx, &poll);
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
    poll: &dyn Fn(&mut crate::driver::Driver, OpKey, &mut Context<'_>) -> Poll<T>,
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

/// Hands an abandoned op's resources to its own driver, which keeps them until the final
/// CQE (now, or once the driver's current borrow ends), and cancels it if `cancel`.
pub(super) fn abandon(driver: &Handle, key: OpKey, resources: Box<dyn Abandoned>, cancel: bool) {
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
    driver.try_with(|d| d.submit_detached(sqe))
}

/// Pushes `sqe` on the current core's ring for an op that no future awaits: `owner` shares
/// the op's memory, the ring holds one reference to it until the op is over, and shows it
/// each CQE ([`SharedCompletion::on_cqe`], in the loop's reap). It goes out with the next
/// loop turn's enter. For writes whose caller does not wait for them (a send queue): the
/// completion wakes nobody and costs no task poll; the owner releases the op's buffers
/// and wakes whoever waits. Ops so submitted are not cancelled, except by the core's
/// shutdown (ECANCELED).
///
/// Called while the driver is busy (from `on_cqe`, to send the rest of a short send), the
/// push waits until the reap is over; if it then fails, `owner` sees a CQE with the error.
///
/// # Errors
/// No runtime runs on this thread, or the ring refused the push: nothing was pushed, and
/// `owner` sees nothing.
///
/// # Safety
/// Every address in `sqe` must point into memory that `owner` keeps valid and in place,
/// and that nothing but the kernel writes (or reads, where the kernel writes), until
/// `owner` has seen the op's final CQE (one without `F_MORE`); `sqe`'s fd must stay open as
/// long.
pub unsafe fn submit_shared(sqe: Sqe, owner: Rc<dyn SharedCompletion>) -> io::Result<()> {
    let driver = context::current_driver()?;
    push_shared(&driver, sqe, owner)
}

/// [`submit_shared`] on `ring` instead of the current core's ring: for an owner whose ops
/// all belong to one ring (they select from its buffer pool, say), whichever ring's reap
/// runs the `on_cqe` that pushes the next one.
///
/// # Errors
/// As [`submit_shared`].
///
/// # Safety
/// As [`submit_shared`].
pub unsafe fn submit_shared_on(
    ring: &RingHandle,
    sqe: Sqe,
    owner: Rc<dyn SharedCompletion>,
) -> io::Result<()> {
    push_shared(&ring.0, sqe, owner)
}

/// Pushes a shared op now, or once the driver's current borrow ends (from an `on_cqe`).
fn push_shared(driver: &Handle, sqe: Sqe, owner: Rc<dyn SharedCompletion>) -> io::Result<()> {
    if !driver.is_busy() {
        return driver.try_with(|d| d.submit_shared(sqe, owner)).map(drop);
    }
    driver.defer_shared(sqe, owner);
    Ok(())
}

/// [`submit_shared_on`] for an op its owner may want to stop (a multishot receive): returns
/// a [`SharedOp`] that asks the kernel to cancel it.
///
/// Outside the core's loop (a drop the runtime's shutdown runs, a poll outside `block_on`)
/// the driver submits and reaps at once: `owner` may see the op's CQEs, its final one too,
/// before this returns, so it must record the op's end in its own state rather than infer
/// it from holding the `SharedOp`.
///
/// # Errors
/// As [`submit_shared`]; also an error when called from inside the driver (from an
/// `on_cqe`), where the op could only be pushed later and so has no key yet: arm such ops
/// from a task.
///
/// # Safety
/// As [`submit_shared`].
pub unsafe fn submit_shared_cancelable(
    ring: &RingHandle,
    sqe: Sqe,
    owner: Rc<dyn SharedCompletion>,
) -> io::Result<SharedOp> {
    let key = ring.0.try_with(|d| d.submit_shared(sqe, owner))?;
    Ok(SharedOp {
        driver: ring.0.clone(),
        key,
    })
}

/// A shared op pushed by [`submit_shared_cancelable`]; clones name the same op.
#[derive(Clone)]
pub struct SharedOp {
    driver: Handle,
    key: OpKey,
}

impl SharedOp {
    /// Asks the kernel to cancel the op if it is still in flight: its owner still sees its
    /// final CQE (`ECANCELED`, or the result it had reached), and keeps its memory until
    /// then. Does nothing once the op is over. From any context, on the op's own ring.
    pub fn cancel(&self) {
        let key = self.key;
        self.driver
            .with_or_defer(move |d| d.cancel_if_in_flight(key));
    }
}

impl std::fmt::Debug for SharedOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedOp").field("key", &self.key).finish()
    }
}

/// Closes `fd` without blocking the core: an `IORING_OP_CLOSE` pushed on this core's ring
/// (submitted with the next loop turn, or at once outside the loop; its result is not
/// awaited), or `close(2)` right away outside a runtime, and for an anonymous-inode fd
/// (an io_uring instance, which CLOSE refuses and would leave open; an eventfd, an epoll
/// set: nothing whose close can block; see [`crate::fd::is_anon_inode`]). Use
/// [`Op`](crate::op::Op) with `prep_close` instead to learn the close's result.
pub fn close_in_background(fd: std::os::fd::OwnedFd) {
    use std::os::fd::AsFd;
    let Ok(driver) = context::current_driver() else {
        return drop(fd);
    };
    if crate::fd::is_anon_inode(fd.as_fd()) {
        return drop(fd);
    }
    // A failed push closes the fd inside `close_detached` (its drop); a busy driver never
    // runs the closure, and the fd is closed here.
    let mut fd = Some(fd);
    let pushed = driver.try_with(|d| d.close_detached(fd.take().expect("taken once")));
    if pushed.is_err() {
        drop(fd);
    }
}
