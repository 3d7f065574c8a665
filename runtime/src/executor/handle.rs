//! [`Handle`]: a core's address that any thread can hold, to spawn `Send` work onto it.

use std::fmt;
use std::future::Future;
use std::io;
use std::sync::Arc;

use super::context;
use super::join::RemoteJoinHandle;
use super::remote::{CoreShared, Remote};
use crate::sync::oneshot;

/// A handle to one core of a runtime: `Send + Sync + Clone`, so code that runs outside the
/// runtime (another thread, a blocking-pool closure, a C callback) can spawn onto the core.
///
/// Get one with [`Handle::current`] on a core (in [`Runtime::block_on`](crate::Runtime::block_on)
/// or a [`run_per_core`](crate::Runtime::run_per_core) core) or
/// [`Runtime::handle`](crate::Runtime::handle). The spawned future runs on that core, so it
/// may use its sockets and files; it must be `Send` only because it travels there.
///
/// When the core has stopped (its main future returned or panicked, or its runtime was
/// dropped), [`spawn`](Self::spawn) fails at once with [`io::ErrorKind::NotConnected`], and
/// work it had accepted but not run resolves with [`JoinError::Aborted`](crate::JoinError).
/// A [`Runtime`](crate::Runtime) runs what was spawned onto it while one of its `block_on`
/// calls runs.
///
/// # Examples
/// ```
/// let rt = runtime::Runtime::new()?;
/// let handle = rt.handle();
/// let from_thread = std::thread::spawn(move || handle.spawn(async { 6 * 7 }))
///     .join()
///     .unwrap()?;
/// assert_eq!(rt.block_on(from_thread).unwrap(), 42);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct Handle {
    core: usize,
    shared: Arc<CoreShared>,
}

impl Handle {
    pub(crate) fn new(core: usize, shared: Arc<CoreShared>) -> Handle {
        Handle { core, shared }
    }

    /// The handle of the core running on this thread.
    ///
    /// # Panics
    /// Outside a runtime; [`try_current`](Self::try_current) returns the error instead.
    #[track_caller]
    pub fn current() -> Handle {
        match Handle::try_current() {
            Ok(h) => h,
            Err(e) => panic!("runtime::Handle::current: {e}"),
        }
    }

    /// The handle of the core running on this thread.
    ///
    /// # Errors
    /// Outside a runtime (the error says so).
    pub fn try_current() -> io::Result<Handle> {
        let core = context::current()?;
        Ok(Handle::new(core.index, core.shared.clone()))
    }

    /// The core's number in its runtime (as [`core_id`](crate::core_id) gives on it).
    pub fn core_id(&self) -> usize {
        self.core
    }

    /// Whether the core still takes work (it has not stopped).
    pub fn is_running(&self) -> bool {
        self.shared.is_open()
    }

    /// Spawns `future` on this core, from any thread.
    ///
    /// # Errors
    /// [`io::ErrorKind::NotConnected`] when the core has stopped.
    pub fn spawn<F>(&self, future: F) -> io::Result<RemoteJoinHandle<F::Output>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        spawn_remote(self.core, &self.shared, future)
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("core", &self.core)
            .field("running", &self.is_running())
            .finish()
    }
}

/// Sends `future` to `target` (core number `core`) to be spawned there.
pub(crate) fn spawn_remote<F>(
    core: usize,
    target: &CoreShared,
    future: F,
) -> io::Result<RemoteJoinHandle<F::Output>>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (tx, rx) = oneshot::channel();
    let spawn = Remote::Spawn(Box::new(move || {
        let handle = super::spawn(future);
        super::spawn(async move {
            let _ = tx.send(handle.await);
        });
    }));
    // The wake-up rides on this thread's ring when it has a core (MSG_RING), else an eventfd.
    let sender = context::current().ok();
    if target.send(spawn, sender.as_ref().map(|c| &c.driver)) {
        Ok(RemoteJoinHandle::new(rx))
    } else {
        Err(stopped(core))
    }
}

/// The error for work sent to a core that has stopped.
pub(crate) fn stopped(core: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        format!(
            "core {core} has stopped (its main future returned or panicked, or its runtime \
             was dropped): spawn on a running core"
        ),
    )
}
