//! The core running on this thread, if any.

use std::cell::{Cell, RefCell};
use std::io;
use std::rc::Rc;

use super::core::Core;
use super::task::TaskId;
use crate::driver::{Driver, Handle};

thread_local! {
    static CURRENT: RefCell<Option<Rc<Core>>> = const { RefCell::new(None) };
    /// `Handle::as_ptr` of the driver of the core in `CURRENT` (null when none): every op's
    /// first poll looks it up, so it is kept apart from `CURRENT`'s `RefCell`. Invariant:
    /// set and restored together with `CURRENT`, only by [`enter`] and [`Enter`]'s drop, so
    /// while it is not null `CURRENT`'s core holds that driver's handle, keeping it alive.
    static CURRENT_DRIVER: Cell<*const ()> = const { Cell::new(std::ptr::null()) };
}

/// Makes `core` current for the guard's lifetime.
pub(crate) struct Enter {
    previous: Option<Rc<Core>>,
    previous_driver: *const (),
}

pub(crate) fn enter(core: Rc<Core>) -> Enter {
    let driver = core.driver.as_ptr();
    let previous = CURRENT.with(|c| c.borrow_mut().replace(core));
    let previous_driver = CURRENT_DRIVER.with(|d| d.replace(driver));
    Enter {
        previous,
        previous_driver,
    }
}

impl Drop for Enter {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT_DRIVER.with(|d| d.set(self.previous_driver));
        CURRENT.with(|c| *c.borrow_mut() = previous);
    }
}

#[cold]
fn no_runtime() -> io::Error {
    io::Error::other(
        "no io_uring runtime on this thread: run this inside Runtime::block_on, \
         #[runtime::main] or a task spawned on a runtime",
    )
}

/// The current core.
///
/// # Errors
/// When no runtime runs on this thread.
pub(crate) fn current() -> io::Result<Rc<Core>> {
    CURRENT.with(|c| c.borrow().clone()).ok_or_else(no_runtime)
}

/// Whether a runtime runs on this thread.
pub(crate) fn in_runtime() -> bool {
    CURRENT.with(|c| c.borrow().is_some())
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
        .ok_or_else(|| io::Error::other("io_uring driver re-entered while busy"))
}

/// Queues `task` if this thread runs core `core`. Returns false otherwise.
pub(crate) fn schedule_local(core: u16, task: TaskId) -> bool {
    CURRENT.with(|c| match c.try_borrow() {
        Ok(current) => match current.as_ref() {
            Some(current) if current.shared.id == core => {
                current.schedule(task);
                true
            }
            _ => false,
        },
        Err(_) => false,
    })
}
