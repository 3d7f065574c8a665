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

use crate::waker_slot::set_waker;

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
    #[project = TaskStageProj]
    enum TaskStage<F: Future> {
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

impl<F: Future> ErasedTask for TaskStage<F>
where
    F::Output: 'static,
{
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let result = match self.as_mut().project() {
            TaskStageProj::Running { future } => {
                match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
                    Ok(Poll::Pending) => return Poll::Pending,
                    Ok(Poll::Ready(v)) => Ok(v),
                    Err(panic) => Err(JoinError::Panicked(panic)),
                }
            }
            TaskStageProj::Finished { .. } => return Poll::Ready(()),
        };
        self.finish(result);
        Poll::Ready(())
    }

    fn abort(mut self: Pin<&mut Self>) {
        if let TaskStageProj::Running { .. } = self.as_mut().project() {
            self.finish(Err(JoinError::Aborted));
        }
    }

    fn take_output(self: Pin<&mut Self>, slot: &mut dyn Any) {
        if let (TaskStageProj::Finished { output }, Some(slot)) = (
            self.project(),
            slot.downcast_mut::<Option<Result<F::Output, JoinError>>>(),
        ) {
            *slot = output.take();
        }
    }
}

impl<F: Future> TaskStage<F> {
    /// Drops the future and stores `output`. A panic of the future's drop is caught, as one
    /// of its poll is: the handle gets it (`JoinError::Panicked`) instead of the output, and
    /// the task still ends (an assignment whose old value's drop panics stores the new one
    /// all the same).
    fn finish(mut self: Pin<&mut Self>, output: Result<F::Output, JoinError>) {
        let dropped = catch_unwind(AssertUnwindSafe(|| {
            self.as_mut().set(TaskStage::Finished {
                output: Some(output),
            });
        }));
        if let Err(panic) = dropped {
            self.set(TaskStage::Finished {
                output: Some(Err(JoinError::Panicked(panic))),
            });
        }
    }
}

/// Boxes a future as a task: the one allocation of a spawn.
pub(crate) fn new_task<F>(future: F) -> Pin<Box<dyn ErasedTask>>
where
    F: Future + 'static,
    F::Output: 'static,
{
    Box::pin(TaskStage::Running { future })
}

/// Where a task is in its life (`TaskEntry`'s state): one byte of flags, of which only these
/// combinations occur (the constants below):
///
/// | state       | flags                              | meaning                               |
/// |-------------|------------------------------------|---------------------------------------|
/// | `IDLE`      | none                               | waiting for a wake                    |
/// | `SCHEDULED` | `QUEUED`                           | its id is in the run queue: poll it   |
/// | running     | `RUNNING` (+ `QUEUED`, + `ABORT`)  | its future is out of the slab         |
/// | `FINISHED`  | `DONE`                             | done; its output waits for the handle |
///
/// While `RUNNING` (being polled by `run_one`, or being dropped by `abort_task`), `QUEUED`
/// says it was woken meanwhile (its id was queued again) and `ABORT` that `abort_task` asked
/// during the poll. Only the owning core changes the state, on its thread, through
/// `TaskEntry`'s methods:
///
/// - spawn ([`TaskEntry::new`]): `SCHEDULED`; the spawner queues the id.
/// - [`wake`](TaskEntry::wake): `IDLE` → `SCHEDULED`, running → running + `QUEUED`; each
///   queues the id, so a task's id is queued at most once per poll.
/// - [`start`](TaskEntry::start) (`run_one` popped the id): `SCHEDULED` → `RUNNING`, the
///   future taken out to poll; any other state skips the id (stale or repeated).
/// - [`take_for_abort`](TaskEntry::take_for_abort) (`abort_task`): `IDLE`, `SCHEDULED` →
///   running (`QUEUED` kept), the future taken out to drop; running → running + `ABORT`.
/// - [`stop`](TaskEntry::stop) (the future is put back): running → `FINISHED` when done
///   (ready, or aborted), else `SCHEDULED` if `QUEUED`, else `IDLE`.
///
/// `FINISHED` is final: the entry leaves the slab when its output is taken (`poll_join`) or
/// at once if it is detached. Flags rather than an enum with fields, so each check on the
/// wake and poll path is one compare.
#[derive(Clone, Copy, PartialEq, Eq)]
struct TaskState(u8);

impl TaskState {
    const IDLE: TaskState = TaskState(0);
    const SCHEDULED: TaskState = TaskState(Self::QUEUED);
    const FINISHED: TaskState = TaskState(Self::DONE);

    /// Its id is in the run queue (and not yet popped, or queued again while running).
    const QUEUED: u8 = 1;
    /// Its future is out of the slab.
    const RUNNING: u8 = 2;
    /// Abort once the poll returns (only with `RUNNING`).
    const ABORT: u8 = 4;
    /// Done (only alone).
    const DONE: u8 = 8;
}

impl fmt::Debug for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            TaskState::IDLE => f.write_str("Idle"),
            TaskState::SCHEDULED => f.write_str("Scheduled"),
            TaskState::FINISHED => f.write_str("Finished"),
            TaskState(bits) => f
                .debug_struct("Running")
                .field("woken", &(bits & TaskState::QUEUED != 0))
                .field("abort", &(bits & TaskState::ABORT != 0))
                .finish(),
        }
    }
}

/// A task's slab entry.
pub(crate) struct TaskEntry {
    pub(crate) generation: u16,
    /// The future, then its output. `None` exactly while running: taken out so that polling
    /// or dropping it may spawn, wake and drop handles while the slab is not borrowed.
    task: Option<Pin<Box<dyn ErasedTask>>>,
    state: TaskState,
    /// Set once, in any state, by the `JoinHandle`'s drop (`Core::detach_task`): nobody will
    /// take the output, so the entry is removed as soon as it is `FINISHED`, by `detach_task`
    /// itself or by the `run_one` or `abort_task` that finishes it. A detached `FINISHED`
    /// entry never outlives the core method that made it so.
    pub(crate) detached: bool,
    /// The `JoinHandle`'s waker, taken (to be woken outside the slab borrow) by the `stop`
    /// that makes the task `FINISHED`.
    join_waker: Option<Waker>,
}

impl TaskEntry {
    /// A spawned task: `SCHEDULED`, its id queued by the spawner.
    pub(crate) fn new(generation: u16, task: Pin<Box<dyn ErasedTask>>) -> TaskEntry {
        TaskEntry {
            generation,
            task: Some(task),
            state: TaskState::SCHEDULED,
            detached: false,
            join_waker: None,
        }
    }

    /// A wake: whether to queue the task's id (it was `IDLE`, or running and not yet woken).
    #[inline]
    pub(crate) fn wake(&mut self) -> bool {
        if self.state.0 & (TaskState::QUEUED | TaskState::DONE) != 0 {
            return false;
        }
        self.state.0 |= TaskState::QUEUED;
        true
    }

    /// The task's id was popped from the run queue: a `SCHEDULED` task starts running and its
    /// future is handed out to poll. `None` in any other state (a stale or repeated id).
    #[inline]
    pub(crate) fn start(&mut self) -> Option<Pin<Box<dyn ErasedTask>>> {
        if self.state != TaskState::SCHEDULED {
            return None;
        }
        self.state = TaskState(TaskState::RUNNING);
        self.task.take()
    }

    /// Whether `abort_task` asked, while the task was running, to abort it.
    #[inline]
    pub(crate) fn abort_requested(&self) -> bool {
        self.state.0 & TaskState::ABORT != 0
    }

    /// The end of a running spell: puts the future (or output) back, and makes the task
    /// `FINISHED` if `done`, else `SCHEDULED` if it was woken meanwhile, else `IDLE`. Returns
    /// the waker of the handle to wake, once the slab is no longer borrowed, when `done`.
    #[inline]
    pub(crate) fn stop(&mut self, task: Pin<Box<dyn ErasedTask>>, done: bool) -> Option<Waker> {
        debug_assert!(self.state.0 & TaskState::RUNNING != 0, "{:?}", self.state);
        self.task = Some(task);
        if done {
            self.state = TaskState::FINISHED;
            return self.join_waker.take();
        }
        self.state = TaskState(self.state.0 & TaskState::QUEUED);
        None
    }

    /// `abort_task`: an `IDLE` or `SCHEDULED` task starts running (its id stays queued if it
    /// was) and its future is handed out to be dropped, then `stop(task, true)`. A running
    /// task is being polled: it is asked to abort at the poll's end, and `None` is returned,
    /// as for a `FINISHED` one.
    pub(crate) fn take_for_abort(&mut self) -> Option<Pin<Box<dyn ErasedTask>>> {
        if self.state == TaskState::FINISHED {
            None
        } else if self.state.0 & TaskState::RUNNING != 0 {
            self.state.0 |= TaskState::ABORT;
            None
        } else {
            self.state.0 |= TaskState::RUNNING;
            self.task.take()
        }
    }

    /// Whether the task is `FINISHED`.
    pub(crate) fn is_finished(&self) -> bool {
        self.state == TaskState::FINISHED
    }

    /// For the `JoinHandle`: a `FINISHED` task's output is moved into `slot` (an
    /// `Option<Result<T, JoinError>>` of its type) and true returned; otherwise `cx`'s waker
    /// is kept to be woken when it finishes.
    /// The `JoinHandle`'s waker, for a core dropping its tasks: the handle, awaited
    /// elsewhere, then finds the task gone (`Aborted`).
    pub(crate) fn take_join_waker(&mut self) -> Option<Waker> {
        self.join_waker.take()
    }

    /// Takes the output into `slot` once `FINISHED` (true); else stores the handle's waker,
    /// putting the one it replaces in `replaced` (dropped by the caller after the slab's
    /// borrow: a waker's drop may spawn).
    pub(crate) fn join(
        &mut self,
        cx: &Context<'_>,
        slot: &mut dyn Any,
        replaced: &mut Option<Waker>,
    ) -> bool {
        if self.state == TaskState::FINISHED {
            if let Some(t) = self.task.as_mut() {
                t.as_mut().take_output(slot);
            }
            return true;
        }
        *replaced = set_waker(&mut self.join_waker, cx);
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> TaskEntry {
        TaskEntry::new(0, new_task(std::future::pending::<()>()))
    }

    #[test]
    fn a_task_is_queued_at_most_once_per_poll() {
        let mut e = entry();
        assert!(!e.wake(), "spawned tasks are queued by the spawner");
        let task = e.start().expect("Scheduled starts");
        assert!(e.start().is_none(), "a repeated id does not poll it twice");
        assert!(e.wake(), "woken while polled: queued once more");
        assert!(!e.wake());
        assert!(e.stop(task, false).is_none());
        let task = e.start().expect("woken while polled: Scheduled after");
        e.stop(task, false);
        assert!(e.start().is_none(), "Idle: a stale id is skipped");
        assert!(e.wake());
        assert!(!e.wake());
    }

    #[test]
    fn abort_takes_an_idle_task_and_marks_a_running_one() {
        let mut e = entry();
        let task = e.start().unwrap();
        assert!(
            e.take_for_abort().is_none(),
            "being polled: aborted after the poll"
        );
        assert!(e.abort_requested());
        e.stop(task, true);
        assert!(e.is_finished());
        assert!(!e.wake() && e.start().is_none() && e.take_for_abort().is_none());

        let mut e = entry();
        let task = e.take_for_abort().expect("Scheduled: taken to be dropped");
        assert!(!e.wake(), "its id is queued already");
        e.stop(task, true);
        assert!(e.is_finished() && e.start().is_none());
    }
}
