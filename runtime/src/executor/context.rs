//! The core running on this thread, if any.

use std::cell::{Cell, RefCell};
use std::io;
use std::rc::Rc;

use super::core::Core;
use super::waker;
use crate::driver::{Driver, Handle};

thread_local! {
    static CURRENT: RefCell<Option<Rc<Core>>> = const { RefCell::new(None) };
    /// `Handle::as_ptr` of the driver of the core in `CURRENT` (null when none): every op's
    /// first poll looks it up, so it is kept apart from `CURRENT`'s `RefCell`. Invariant:
    /// set and restored together with `CURRENT`, only by [`enter`] and [`Enter`]'s drop, so
    /// while it is not null `CURRENT`'s core holds that driver's handle, keeping it alive.
    /// `waker`'s local core is kept the same way.
    static CURRENT_DRIVER: Cell<*const ()> = const { Cell::new(std::ptr::null()) };
}

/// Makes `core` current for the guard's lifetime.
pub(crate) struct Enter {
    /// `false` when the thread's locals were already destroyed (a runtime dropped at thread
    /// exit): then nothing was made current, and nothing is restored.
    entered: bool,
    previous: Option<Rc<Core>>,
    previous_driver: *const (),
    previous_local: *const Core,
}

pub(crate) fn enter(core: Rc<Core>) -> Enter {
    let driver = core.driver.as_ptr();
    let local = Rc::as_ptr(&core);
    let Ok(previous) = CURRENT.try_with(|c| c.borrow_mut().replace(core)) else {
        // At thread exit, after `CURRENT` was destroyed: no core is current, so ops fall
        // back to what works without one (their own driver handles; `close(2)`).
        return Enter {
            entered: false,
            previous: None,
            previous_driver: std::ptr::null(),
            previous_local: std::ptr::null(),
        };
    };
    let previous_driver = CURRENT_DRIVER.with(|d| d.replace(driver));
    // SAFETY: `CURRENT` now holds an `Rc` of this core, and keeps it until `Enter`'s drop,
    // which replaces the local core before it lets that `Rc` go.
    let previous_local = unsafe { waker::set_local(local) };
    Enter {
        entered: true,
        previous,
        previous_driver,
        previous_local,
    }
}

impl Drop for Enter {
    fn drop(&mut self) {
        if !self.entered {
            return;
        }
        let previous = self.previous.take();
        // SAFETY: the previous local core is null or the core of `previous`, which goes
        // back into `CURRENT` next and is kept there until it is replaced the same way.
        unsafe { waker::set_local(self.previous_local) };
        CURRENT_DRIVER.with(|d| d.set(self.previous_driver));
        // `CURRENT` outlives this guard: it was alive at `enter`, and a thread's locals are
        // destroyed only after the code that holds guards has returned.
        let _ = CURRENT.try_with(|c| *c.borrow_mut() = previous);
    }
}

/// The error of something that needs an io_uring runtime on its thread and found none: it ran
/// outside [`Runtime::block_on`](crate::Runtime::block_on), `#[ringloop::main]` and the tasks
/// spawned on a runtime (on another executor's thread, say, or on the blocking pool).
///
/// It comes inside an [`io::Error`] (of kind [`Other`](io::ErrorKind::Other)); tell it apart
/// from the kernel's errors with [`NoRuntime::is`].
///
/// ```
/// use runtime::NoRuntime;
///
/// // No runtime on this thread: the op fails at once, and says so.
/// let Err(err) = runtime::spawn_on(0, async {}) else { panic!("no runtime, yet it spawned") };
/// assert!(NoRuntime::is(&err));
/// assert!(err.to_string().contains("no io_uring runtime on this thread"));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoRuntime;

impl NoRuntime {
    /// Whether `err` is this error (and not, say, an errno from the kernel).
    pub fn is(err: &io::Error) -> bool {
        err.get_ref().is_some_and(|inner| inner.is::<NoRuntime>())
    }

    /// `Ok` when a runtime runs on this thread, else this error: for constructors (a
    /// listener's `bind`) that would otherwise succeed and leave the failure to the first op.
    ///
    /// # Errors
    /// [`NoRuntime`], outside a runtime.
    pub fn check() -> io::Result<()> {
        if in_runtime() {
            Ok(())
        } else {
            Err(no_runtime())
        }
    }
}

impl std::fmt::Display for NoRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(
            "no io_uring runtime on this thread: run this inside Runtime::block_on, \
             #[ringloop::main] (#[runtime::main]) or a task spawned on a runtime; a tokio \
             runtime does not count",
        )
    }
}

impl std::error::Error for NoRuntime {}

impl From<NoRuntime> for io::Error {
    #[cold]
    fn from(err: NoRuntime) -> io::Error {
        io::Error::other(err)
    }
}

#[cold]
fn no_runtime() -> io::Error {
    NoRuntime.into()
}

/// The current core.
///
/// # Errors
/// When no runtime runs on this thread.
pub(crate) fn current() -> io::Result<Rc<Core>> {
    CURRENT
        .try_with(|c| c.borrow().clone())
        .ok()
        .flatten()
        .ok_or_else(no_runtime)
}

/// Whether a runtime runs on this thread.
pub(crate) fn in_runtime() -> bool {
    CURRENT.try_with(|c| c.borrow().is_some()).unwrap_or(false)
}

/// The current core's driver.
///
/// # Errors
/// When no runtime runs on this thread.
#[inline]
pub(crate) fn current_driver() -> io::Result<Handle> {
    let driver = CURRENT_DRIVER.with(Cell::get);
    if driver.is_null() {
        return Err(no_runtime());
    }
    // SAFETY: a non-null CURRENT_DRIVER is the driver of the core in CURRENT, which holds
    // its handle until `Enter`'s drop resets both (the invariant at CURRENT_DRIVER).
    Ok(unsafe { Handle::clone_from_ptr(driver) })
}

/// Runs `f` on the current core's driver.
///
/// # Errors
/// When no runtime runs on this thread, or the driver is busy (a re-entrant call from inside
/// the driver).
pub(crate) fn with_driver<R>(f: impl FnOnce(&mut Driver) -> R) -> io::Result<R> {
    current_driver()?
        .with(f)
        .ok_or_else(crate::driver::handle::busy)
}
