//! The core running on this thread, if any.

use std::cell::RefCell;
use std::io;
use std::rc::Rc;

use super::core::Core;
use super::task::TaskId;
use crate::driver::{Driver, Handle};

thread_local! {
    static CURRENT: RefCell<Option<Rc<Core>>> = const { RefCell::new(None) };
}

/// Makes `core` current for the guard's lifetime.
pub(crate) struct Enter {
    previous: Option<Rc<Core>>,
}

pub(crate) fn enter(core: Rc<Core>) -> Enter {
    let previous = CURRENT.with(|c| c.borrow_mut().replace(core));
    Enter { previous }
}

impl Drop for Enter {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT.with(|c| *c.borrow_mut() = previous);
    }
}

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
    CURRENT.with(|c| {
        c.borrow()
            .as_ref()
            .map(|core| core.driver.clone())
            .ok_or_else(no_runtime)
    })
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
