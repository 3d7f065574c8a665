//! Handles that await a task's output: [`JoinHandle`] for a task of this core (it asks the
//! core's task slab), [`RemoteJoinHandle`] for work run on another thread (a task spawned on
//! another core, or a closure on the blocking pool), whose result comes over a oneshot.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use super::core::Core;
use super::task::{JoinError, TaskId};
use crate::sync::oneshot;

/// Owns the right to a spawned task's output: await it for `Result<T, JoinError>`.
///
/// Dropping the handle **detaches** the task: it keeps running to completion and its output
/// is dropped. Call [`JoinHandle::abort`] to stop it instead.
pub struct JoinHandle<T> {
    core: Rc<Core>,
    id: TaskId,
    done: Cell<bool>,
    _output: PhantomData<T>,
}

impl<T: 'static> JoinHandle<T> {
    pub(crate) fn new(core: Rc<Core>, id: TaskId) -> Self {
        JoinHandle {
            core,
            id,
            done: Cell::new(false),
            _output: PhantomData,
        }
    }

    /// Stops the task: its future is dropped on its core (now, or right after its current
    /// poll), and the handle yields `Err(JoinError::Aborted)` unless it had finished.
    pub fn abort(&self) {
        // Once the output was taken, the id may name a later task (the slab reuses it).
        if !self.done.get() {
            self.core.abort_task(self.id);
        }
    }

    /// Whether the task has finished (its output is ready to take, or was taken).
    pub fn is_finished(&self) -> bool {
        self.done.get() || self.core.task_finished(self.id)
    }
}

impl<T: 'static> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        assert!(!self.done.get(), "JoinHandle polled after completion");
        let mut slot: Option<Result<T, JoinError>> = None;
        if self.core.poll_join(self.id, cx, &mut slot) {
            self.done.set(true);
            Poll::Ready(slot.unwrap_or(Err(JoinError::Aborted)))
        } else {
            Poll::Pending
        }
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        if !self.done.get() {
            self.core.detach_task(self.id);
        }
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle").field("id", &self.id).finish()
    }
}

/// The output of work run on another thread: a task spawned on another core with
/// [`spawn_on`](crate::spawn_on), or a closure run on the blocking pool with
/// [`spawn_blocking`](crate::spawn_blocking) (there it is also named
/// [`BlockingHandle`](crate::BlockingHandle)). Await it for `Result<T, JoinError>`: a panic
/// gives `JoinError::Panicked`, work dropped unfinished (its core shut down) gives
/// `JoinError::Aborted`. Dropping the handle detaches the work.
pub struct RemoteJoinHandle<T> {
    rx: oneshot::Receiver<Result<T, JoinError>>,
}

impl<T> RemoteJoinHandle<T> {
    /// The handle of the work that sends its result on `rx`'s sender.
    pub(crate) fn new(rx: oneshot::Receiver<Result<T, JoinError>>) -> Self {
        RemoteJoinHandle { rx }
    }
}

impl<T: Send> Future for RemoteJoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.rx)
            .poll(cx)
            .map(|r| r.unwrap_or(Err(JoinError::Aborted)))
    }
}
