//! The core running on this thread, if any.

use std::cell::RefCell;
use std::io;
use std::rc::Rc;

use super::core::Core;
use super::task::TaskId;
use crate::driver::Driver;

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

/// Runs `f` on the current core's driver.
///
/// # Errors
/// When no runtime runs on this thread, or the driver is busy (a re-entrant call from inside
/// the driver, which would be a bug).
#[inline]
pub(crate) fn with_driver<R>(f: impl FnOnce(&mut Driver) -> R) -> io::Result<R> {
    CURRENT.with(|c| {
        let core = c.borrow();
        let core = core.as_ref().ok_or_else(no_runtime)?;
        let mut driver = core
            .driver
            .try_borrow_mut()
            .map_err(|_| io::Error::other("io_uring driver re-entered while busy"))?;
        Ok(f(&mut driver))
    })
}

/// Hands an abandoned op's resources to the driver, which keeps them until the final CQE.
///
/// Without a core on this thread the driver is gone, and it drained every op before going,
/// so the kernel uses nothing of them any more: they are dropped. If the driver is busy (an
/// op dropped from inside the driver, which should not happen), they are leaked rather than
/// freed while the kernel may still write to them.
pub(crate) fn abandon_op(
    key: crate::driver::OpKey,
    resources: Box<dyn crate::driver::op::Abandoned>,
) {
    CURRENT.with(|c| {
        let core = c.borrow();
        match core.as_ref().map(|core| core.driver.try_borrow_mut()) {
            Some(Ok(mut driver)) => driver.abandon(key, resources),
            Some(Err(_)) => {
                tracing::debug!("op dropped while the driver was busy; leaking its resources");
                std::mem::forget(resources);
            }
            None => drop(resources),
        }
    })
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
