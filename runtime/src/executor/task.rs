//! Spawned tasks: one allocation each (the pinned future, which later holds the output),
//! stored in the core's task slab; their slab entries and [`JoinError`]. The handles that
//! await a task are in [`super::join`].

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use pin_project_lite::pin_project;

/// A task's address in its core's slab; the generation tells reuses of a slot apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TaskId {
    pub(crate) index: u32,
    pub(crate) generation: u16,
}

/// Why a task gave no output.
pub enum JoinError {
    /// The task panicked; the payload is what `panic!` was given.
    Panicked(Box<dyn Any + Send + 'static>),
    /// The task was aborted with [`JoinHandle::abort`](super::JoinHandle::abort) (or its core
    /// shut down).
    Aborted,
}

impl JoinError {
    /// Whether the task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self, JoinError::Panicked(_))
    }

    /// The panic payload, if the task panicked (to `resume_unwind` it, for instance).
    pub fn into_panic(self) -> Option<Box<dyn Any + Send + 'static>> {
        match self {
            JoinError::Panicked(p) => Some(p),
            JoinError::Aborted => None,
        }
    }

    fn message(&self) -> String {
        match self {
            JoinError::Panicked(p) => {
                match (p.downcast_ref::<&str>(), p.downcast_ref::<String>()) {
                    (Some(s), _) => format!("task panicked: {s}"),
                    (_, Some(s)) => format!("task panicked: {s}"),
                    _ => "task panicked".to_string(),
                }
            }
            JoinError::Aborted => "task was aborted".to_string(),
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for JoinError {}

impl From<JoinError> for std::io::Error {
    fn from(e: JoinError) -> Self {
        std::io::Error::other(e.message())
    }
}

pin_project! {
    /// A task's future, then its output.
    #[project = StageProj]
    enum Stage<F: Future> {
        Running { #[pin] future: F },
        Finished { output: Option<Result<F::Output, JoinError>> },
    }
}

/// The type-erased face of a task for the core's slab.
pub(crate) trait ErasedTask {
    /// Polls the future, catching a panic; Ready once the output is stored.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()>;
    /// Drops the future now (on the owning core) and stores `JoinError::Aborted`.
    fn abort(self: Pin<&mut Self>);
    /// Moves the output into `slot`, an `Option<Result<T, JoinError>>` of the task's type.
    fn take_output(self: Pin<&mut Self>, slot: &mut dyn Any);
}

impl<F: Future> ErasedTask for Stage<F>
where
    F::Output: 'static,
{
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let result = match self.as_mut().project() {
            StageProj::Running { future } => {
                match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
                    Ok(Poll::Pending) => return Poll::Pending,
                    Ok(Poll::Ready(v)) => Ok(v),
                    Err(panic) => Err(JoinError::Panicked(panic)),
                }
            }
            StageProj::Finished { .. } => return Poll::Ready(()),
        };
        self.set(Stage::Finished {
            output: Some(result),
        });
        Poll::Ready(())
    }

    fn abort(mut self: Pin<&mut Self>) {
        if let StageProj::Running { .. } = self.as_mut().project() {
            self.set(Stage::Finished {
                output: Some(Err(JoinError::Aborted)),
            });
        }
    }

    fn take_output(self: Pin<&mut Self>, slot: &mut dyn Any) {
        if let (StageProj::Finished { output }, Some(slot)) = (
            self.project(),
            slot.downcast_mut::<Option<Result<F::Output, JoinError>>>(),
        ) {
            *slot = output.take();
        }
    }
}

/// Boxes a future as a task: the one allocation of a spawn.
pub(crate) fn new_task<F>(future: F) -> Pin<Box<dyn ErasedTask>>
where
    F: Future + 'static,
    F::Output: 'static,
{
    Box::pin(Stage::Running { future })
}

/// A task's slab entry.
pub(crate) struct TaskEntry {
    pub(crate) generation: u16,
    /// None while the task is being polled (taken out so it may spawn and wake freely).
    pub(crate) task: Option<Pin<Box<dyn ErasedTask>>>,
    pub(crate) scheduled: bool,
    pub(crate) finished: bool,
    pub(crate) detached: bool,
    pub(crate) abort_requested: bool,
    pub(crate) join_waker: Option<Waker>,
}
