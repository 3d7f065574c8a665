//! [`Handle`]: a strong, single-thread handle to one core's driver.
//!
//! Every op, stream, buffer pool, registered-buffer set and fixed-file slot holds the handle
//! of the driver it was created on, instead of looking up the thread's current core when it
//! is polled or dropped. So poll, drop, cancel and unregister always reach the right ring,
//! wherever they happen: inside its core's loop, outside `block_on`, inside another
//! runtime's `block_on`, after the `Runtime` value was dropped. The driver (its ring, its
//! registered memory and its op slots) lives until the last handle is gone and its final
//! CQEs are reaped. The handle is an `Rc`, so it never leaves the thread of its ring.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::rc::Rc;

use uring_sys::Sqe;

use super::Driver;
use super::slot::{Completion, SharedCompletion};

/// The error of a call that found the driver borrowed: it came from inside the driver (a
/// waker or a drop that the driver ran), where the call cannot be made.
pub(crate) fn busy() -> io::Error {
    io::Error::other(
        "io_uring driver re-entered while busy: called from inside the driver (a waker or a \
         drop it ran)",
    )
}

/// A strong handle to one core's driver; see the module docs.
#[derive(Clone)]
pub(crate) struct Handle(Rc<Shared>);

struct Shared {
    driver: RefCell<Driver>,
    /// Work that arrived while the driver was borrowed (a drop run from inside the driver,
    /// e.g. resources freed by a CQE): done as soon as the borrow ends, by the same call.
    deferred: RefCell<Vec<Deferred>>,
    /// Shared ops pushed while the driver was borrowed (from a completion's `on_cqe`: the
    /// rest of a short send, a forward's next send), pushed when the borrow ends. A list of
    /// their own, whose capacity is kept, so that such a push allocates nothing.
    deferred_shared: RefCell<Vec<DeferredShared>>,
    /// [`ACTIVE`] and [`DEFERRED`] bits, so the hot path tests one word.
    state: Cell<u8>,
}

/// The core's loop runs (inside its own `block_on`): a loop turn follows whatever is pushed.
/// Otherwise pushed SQEs are submitted at once, by [`Handle::with`].
const ACTIVE: u8 = 1;
/// `deferred` may hold work.
const DEFERRED: u8 = 2;

type Deferred = Box<dyn FnOnce(&mut Driver)>;
type DeferredShared = (Sqe, Rc<dyn SharedCompletion>);

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Handle({:p})", Rc::as_ptr(&self.0))
    }
}

impl Handle {
    pub(crate) fn new(driver: Driver) -> Handle {
        Handle(Rc::new(Shared {
            driver: RefCell::new(driver),
            deferred: RefCell::new(Vec::new()),
            deferred_shared: RefCell::new(Vec::new()),
            state: Cell::new(0),
        }))
    }

    /// The driver's address, for [`Handle::clone_from_ptr`].
    pub(crate) fn as_ptr(&self) -> *const () {
        Rc::as_ptr(&self.0).cast()
    }

    /// Another handle to the driver at `ptr`.
    ///
    /// # Safety
    /// `ptr` came from [`Handle::as_ptr`] of a handle that is alive now, on this thread.
    #[inline]
    pub(crate) unsafe fn clone_from_ptr(ptr: *const ()) -> Handle {
        let ptr = ptr.cast::<Shared>();
        // SAFETY: the caller says `ptr` is `Rc::as_ptr` of a live `Rc<Shared>` of this
        // thread: taking one more strong count and making an `Rc` of it is what `clone` does.
        unsafe {
            Rc::increment_strong_count(ptr);
            Handle(Rc::from_raw(ptr))
        }
    }

    /// Whether both handles name the same driver.
    pub(crate) fn same(&self, other: &Handle) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }

    /// Runs `f` on the driver. `None` if the driver is borrowed already: a call from inside
    /// the driver (a waker or a drop it runs), which must then defer or retry.
    ///
    /// Afterwards it runs the work deferred meanwhile and, when the core's loop is not
    /// running, submits what was pushed at once (no loop turn would).
    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut Driver) -> R) -> Option<R> {
        let mut driver = self.0.driver.try_borrow_mut().ok()?;
        let out = f(&mut driver);
        if self.0.state.get() != ACTIVE {
            self.after(&mut driver);
        }
        Some(out)
    }

    /// [`Handle::with`] for a call that can fail: a busy driver is one more `io::Error`.
    pub(crate) fn try_with<R>(
        &self,
        f: impl FnOnce(&mut Driver) -> io::Result<R>,
    ) -> io::Result<R> {
        self.with(f).unwrap_or_else(|| Err(busy()))
    }

    /// Whether the driver is borrowed now: the caller runs inside one of its calls (a waker
    /// or a drop that it ran).
    pub(crate) fn is_busy(&self) -> bool {
        self.0.driver.try_borrow_mut().is_err()
    }

    /// Whether the core's loop is running (see [`ACTIVE`]).
    #[inline]
    pub(crate) fn is_active(&self) -> bool {
        self.0.state.get() & ACTIVE != 0
    }

    fn set_state(&self, bit: u8, on: bool) {
        let state = self.0.state.get();
        self.0
            .state
            .set(if on { state | bit } else { state & !bit });
    }

    /// The end of a borrow off the hot path: deferred work, and submitting outside the loop.
    #[cold]
    fn after(&self, driver: &mut Driver) {
        loop {
            if self.0.state.get() & DEFERRED != 0 {
                self.set_state(DEFERRED, false);
                self.run_deferred(driver);
            }
            if !self.is_active() {
                // Its reap may drop resources that defer more work: loop until none is left.
                driver.submit_pending();
            }
            if self.0.state.get() & DEFERRED == 0 {
                return;
            }
        }
    }

    /// Runs `f` on the driver now, or (when it is borrowed) as soon as the borrow ends.
    /// `f` owns whatever must outlive the kernel's use (memory to free after unregistering).
    pub(crate) fn with_or_defer(&self, f: impl FnOnce(&mut Driver) + 'static) {
        if self.is_busy() {
            self.0.deferred.borrow_mut().push(Box::new(f));
            self.set_state(DEFERRED, true);
        } else {
            self.with(f);
        }
    }

    /// Pushes the shared op `sqe` (see [`Driver::submit_shared`]) once the driver's current
    /// borrow ends; if the push then fails, `owner` sees a CQE with the error.
    pub(crate) fn defer_shared(&self, sqe: Sqe, owner: Rc<dyn SharedCompletion>) {
        self.0.deferred_shared.borrow_mut().push((sqe, owner));
        self.set_state(DEFERRED, true);
    }

    fn run_deferred(&self, driver: &mut Driver) {
        loop {
            let jobs = std::mem::take(&mut *self.0.deferred.borrow_mut());
            if !jobs.is_empty() {
                let mut pending = Requeue {
                    handle: self,
                    jobs: jobs.into_iter(),
                };
                for job in pending.jobs.by_ref() {
                    job(driver);
                }
            } else if self.0.deferred_shared.borrow().is_empty() {
                return;
            }
            // The common case (a forward's next send, pushed from its `on_cqe`): no jobs.
            self.push_deferred_shared(driver);
        }
    }

    /// Pushes the shared ops deferred so far, in order.
    fn push_deferred_shared(&self, driver: &mut Driver) {
        let mut pending = RequeueShared {
            handle: self,
            ops: std::mem::take(&mut *self.0.deferred_shared.borrow_mut()),
            next: 0,
        };
        while pending.next < pending.ops.len() {
            let i = pending.next;
            pending.next += 1;
            let (sqe, owner) = &pending.ops[i];
            if let Err(e) = driver.submit_shared(*sqe, Rc::clone(owner)) {
                let errno = e.raw_os_error().unwrap_or(libc::EIO);
                Rc::clone(owner).on_cqe(Completion::new(0, -errno, 0));
            }
        }
    }

    /// Marks the core's loop as running for the guard's lifetime (see [`ACTIVE`]).
    pub(crate) fn enter_loop(&self) -> LoopGuard<'_> {
        self.set_state(ACTIVE, true);
        LoopGuard(self)
    }

    /// The runtime is gone: drains every op, and from now on settles an op the moment it
    /// is abandoned.
    pub(crate) fn orphan(&self) {
        self.with(|d| {
            d.drain();
            d.orphaned = true;
        });
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Deferred work runs before the borrow that queued it ends, so none is left unless a
        // panic cut that short. What is left may own memory still registered with the ring
        // (now closing, asynchronously): leak it rather than free it.
        let left = std::mem::take(self.deferred.get_mut());
        if !left.is_empty() {
            tracing::warn!(
                jobs = left.len(),
                "driver dropped with deferred work; leaking it"
            );
            std::mem::forget(left);
        }
    }
}

/// The deferred jobs not run yet. If one panics, the unwind puts the rest back in the queue
/// rather than dropping them: a job may own an abandoned op's memory that the kernel still
/// uses, or registered memory not yet unregistered.
struct Requeue<'a> {
    handle: &'a Handle,
    jobs: std::vec::IntoIter<Deferred>,
}

impl Drop for Requeue<'_> {
    fn drop(&mut self) {
        let rest: Vec<Deferred> = self.jobs.by_ref().collect();
        if !rest.is_empty() {
            self.handle.0.deferred.borrow_mut().extend(rest);
        }
        // Unwinding from a job: the jobs left, and the shared pushes that waited behind them
        // (none was pushed), wait for the next borrow's end. Otherwise `run_deferred` goes
        // on to both at once.
        if std::thread::panicking()
            && (!self.handle.0.deferred.borrow().is_empty()
                || !self.handle.0.deferred_shared.borrow().is_empty())
        {
            self.handle.set_state(DEFERRED, true);
        }
    }
}

/// The deferred shared ops of one [`Handle::push_deferred_shared`]: on a panic in an
/// `on_cqe`, those not pushed yet go back to the queue (their owners wait for a CQE); at the
/// end the emptied list goes back too, so its capacity serves the next ones.
struct RequeueShared<'a> {
    handle: &'a Handle,
    ops: Vec<DeferredShared>,
    next: usize,
}

impl Drop for RequeueShared<'_> {
    fn drop(&mut self) {
        let mut list = self.handle.0.deferred_shared.borrow_mut();
        if self.next < self.ops.len() {
            let rest: Vec<DeferredShared> = self.ops.drain(self.next..).collect();
            let later = std::mem::replace(&mut *list, rest);
            list.extend(later);
            drop(list);
            self.handle.set_state(DEFERRED, true);
            return;
        }
        if list.is_empty() {
            self.ops.clear();
            *list = std::mem::take(&mut self.ops);
        }
    }
}

/// See [`Handle::enter_loop`].
pub(crate) struct LoopGuard<'a>(&'a Handle);

impl Drop for LoopGuard<'_> {
    fn drop(&mut self) {
        // Leaving the loop: what the last turn left pushed (a close, a cancel) is submitted
        // now by `with`, since no turn follows.
        self.0.set_state(ACTIVE, false);
        self.0.with(|_| ());
    }
}
