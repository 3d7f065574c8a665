//! One core: its driver, task slab, run queue and timers, and the loop that drives them.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use slab::Slab;

use super::remote::{CoreShared, Remote, RuntimeShared};
use super::task::{TaskEntry, TaskId, new_task};
use super::timer_wheel::TimerWheel;
use super::waker::task_waker;
use crate::driver::{Driver, DriverConfig, Handle};
use crate::metrics::Counters;

/// The main future's pseudo task id: its waker sets `main_woken` instead of queueing.
pub(crate) const MAIN_TASK: TaskId = TaskId {
    index: u32::MAX,
    generation: 0,
};

/// Per-core state. Lives in an `Rc` on its thread; nothing here is shared with other cores
/// except `shared` (the remote queue).
pub(crate) struct Core {
    /// This core's number within its runtime (0 for `block_on`).
    pub(crate) index: usize,
    /// This core's driver; ops, pools and slots created here hold clones of it.
    pub(crate) driver: Handle,
    tasks: RefCell<Slab<TaskEntry>>,
    run_queue: RefCell<VecDeque<TaskId>>,
    next_generation: Cell<u16>,
    main_woken: Cell<bool>,
    pub(crate) timers: RefCell<TimerWheel>,
    /// The wakers of the timers one turn fired, woken after the wheel's borrow (kept).
    fired: Cell<Vec<Waker>>,
    pub(crate) shared: Arc<CoreShared>,
    pub(crate) runtime: Option<Arc<RuntimeShared>>,
    pub(crate) counters: Rc<Counters>,
    budget: usize,
    /// Shutting down: spawns are refused (their futures dropped, their handles `Aborted`),
    /// so dropping the tasks ends even if their drops spawn again.
    closed: Cell<bool>,
    /// A refused spawn's future is being dropped: one spawned by that drop is leaked instead,
    /// so a future that respawns itself on drop cannot recurse for ever.
    refusing: Cell<bool>,
}

/// The id a refused spawn's handle gets: no task has it, so the handle reports `Aborted`.
const REFUSED: TaskId = TaskId {
    index: u32::MAX - 1,
    generation: 0,
};

impl Core {
    pub(crate) fn new(
        index: usize,
        config: &DriverConfig,
        budget: usize,
        runtime: Option<Arc<RuntimeShared>>,
    ) -> io::Result<Rc<Core>> {
        let counters = Rc::new(Counters::default());
        let driver = Driver::new(config, counters.clone())?;
        let shared = CoreShared::register(&driver)?;
        Ok(Rc::new(Core {
            index,
            driver: Handle::new(driver),
            tasks: RefCell::new(Slab::new()),
            run_queue: RefCell::new(VecDeque::with_capacity(256)),
            next_generation: Cell::new(0),
            main_woken: Cell::new(true),
            timers: RefCell::new(TimerWheel::new(Instant::now())),
            fired: Cell::new(Vec::new()),
            shared,
            runtime,
            counters,
            budget,
            closed: Cell::new(false),
            refusing: Cell::new(false),
        }))
    }

    /// Queues a task of this core to be polled (from a waker on this thread).
    pub(crate) fn schedule(&self, id: TaskId) {
        if id == MAIN_TASK {
            self.main_woken.set(true);
            return;
        }
        if let Ok(mut tasks) = self.tasks.try_borrow_mut() {
            match tasks.get_mut(id.index as usize) {
                Some(e) if e.generation == id.generation => {
                    if !e.wake() {
                        return;
                    }
                }
                _ => return,
            }
        }
        self.run_queue.borrow_mut().push_back(id);
    }

    /// Spawns a `!Send` future on this core; its id is for a `JoinHandle`.
    pub(crate) fn spawn<F>(&self, future: F) -> TaskId
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        if self.closed.get() {
            if self.refusing.replace(true) {
                tracing::debug!("a task spawned by a refused task's drop is leaked");
                std::mem::forget(future);
            } else {
                drop(future);
                self.refusing.set(false);
            }
            return REFUSED;
        }
        let generation = self.next_generation.get();
        self.next_generation.set(generation.wrapping_add(1));
        let index = self
            .tasks
            .borrow_mut()
            .insert(TaskEntry::new(generation, new_task(future)));
        let id = TaskId {
            index: index as u32,
            generation,
        };
        self.run_queue.borrow_mut().push_back(id);
        Counters::bump(&self.counters.tasks_spawned, 1);
        id
    }

    fn entry_mut<R>(&self, id: TaskId, f: impl FnOnce(&mut TaskEntry) -> R) -> Option<R> {
        let mut tasks = self.tasks.borrow_mut();
        match tasks.get_mut(id.index as usize) {
            Some(e) if e.generation == id.generation => Some(f(e)),
            _ => None,
        }
    }

    /// Polls one queued task. Returns false when the queue was empty.
    fn run_one(&self) -> bool {
        let Some(id) = self.run_queue.borrow_mut().pop_front() else {
            return false;
        };
        let task = self.entry_mut(id, TaskEntry::start);
        let Some(Some(mut task)) = task else {
            return true;
        };
        let waker = task_waker(self.shared.id, id);
        let mut cx = Context::from_waker(&waker);
        let done = task.as_mut().poll(&mut cx).is_ready();
        Counters::bump(&self.counters.tasks_polled, 1);
        let stopped = self.entry_mut(id, |e| {
            if !done && e.abort_requested() {
                return Err(task);
            }
            let joiner = e.stop(task, done);
            Ok((done && e.detached, joiner))
        });
        let after = match stopped {
            Some(Ok(after)) => Some(after),
            Some(Err(mut task)) => {
                // It aborted itself while polled. Drop the future outside the slab borrow,
                // as `abort_task` does: its destructor may drop join handles or spawn.
                task.as_mut().abort();
                self.entry_mut(id, |e| {
                    let joiner = e.stop(task, true);
                    (e.detached, joiner)
                })
            }
            None => None,
        };
        if let Some((remove, joiner)) = after {
            // Wake the joiner only now: `schedule` cannot mark it scheduled while the slab
            // is borrowed, and `run_one` skips an entry not marked (a lost wake-up).
            if let Some(w) = joiner {
                w.wake();
            }
            if remove {
                self.remove_task(id);
            }
        }
        true
    }

    fn remove_task(&self, id: TaskId) {
        // Take the task out before dropping it: its drop may spawn, wake or drop handles.
        let entry = self.tasks.borrow_mut().try_remove(id.index as usize);
        drop(entry);
    }

    pub(crate) fn abort_task(&self, id: TaskId) {
        // None when finished, or being polled right now (it aborts itself): then `run_one`
        // aborts it after the poll.
        let task = self.entry_mut(id, TaskEntry::take_for_abort);
        if let Some(Some(mut task)) = task {
            // Drop the future outside the slab borrow: its destructor may touch the core.
            task.as_mut().abort();
            let after = self.entry_mut(id, |e| {
                let joiner = e.stop(task, true);
                (e.detached, joiner)
            });
            if let Some((detached, joiner)) = after {
                // Woken outside the slab borrow, as in `run_one`.
                if let Some(w) = joiner {
                    w.wake();
                }
                if detached {
                    self.remove_task(id);
                }
            }
        }
    }

    pub(crate) fn task_finished(&self, id: TaskId) -> bool {
        self.entry_mut(id, |e| e.is_finished()).unwrap_or(true)
    }

    /// Takes a finished task's output into `slot` (and frees the task), or stores the waker.
    pub(crate) fn poll_join(
        &self,
        id: TaskId,
        cx: &Context<'_>,
        slot: &mut dyn std::any::Any,
    ) -> bool {
        let mut replaced = None;
        let finished = self.entry_mut(id, |e| e.join(cx, slot, &mut replaced));
        drop(replaced);
        match finished {
            Some(true) => {
                self.remove_task(id);
                true
            }
            Some(false) => false,
            None => true,
        }
    }

    pub(crate) fn detach_task(&self, id: TaskId) {
        let finished = self.entry_mut(id, |e| {
            e.detached = true;
            e.is_finished()
        });
        if finished == Some(true) {
            self.remove_task(id);
        }
    }

    /// Handles what other threads sent: wakes and spawns.
    fn drain_remote(self: &Rc<Self>) {
        if !self.shared.has_remote() {
            return;
        }
        for msg in self.shared.take_remote() {
            match msg {
                Remote::Wake(id) => self.schedule(id),
                Remote::Spawn(f) => f(),
            }
        }
    }

    /// Runs `future` to completion on this core, driving its tasks, timers and I/O.
    pub(crate) fn block_on<F: Future>(self: &Rc<Self>, future: F) -> F::Output {
        let mut future = pin!(future);
        let _loop = self.driver.enter_loop();
        let main_waker = task_waker(self.shared.id, MAIN_TASK);
        let mut cx = Context::from_waker(&main_waker);
        self.main_woken.set(true);
        loop {
            if self.main_woken.replace(false)
                && let Poll::Ready(out) = future.as_mut().poll(&mut cx)
            {
                return out;
            }
            let mut polled = 0;
            while polled < self.budget && self.run_one() {
                polled += 1;
            }
            self.drain_remote();
            // One clock read per turn serves both: the wait it bounds starts right after.
            let now = (self.timers.borrow().len() > 0).then(Instant::now);
            if let Some(now) = now {
                // Woken once the wheel is free: a waker may reach it (drop or reset a
                // `Sleep`). The list is kept, so firing allocates nothing.
                let mut fired = self.fired.take();
                self.timers.borrow_mut().process_into(now, &mut fired);
                fired.drain(..).for_each(Waker::wake);
                self.fired.set(fired);
            }
            let idle = self.run_queue.borrow().is_empty() && !self.main_woken.get();
            let timeout = match now {
                Some(now) if idle => self
                    .timers
                    .borrow_mut()
                    .next_deadline()
                    .map(|d| d.saturating_duration_since(now)),
                _ => None,
            };
            let wait = idle && self.shared.prepare_to_sleep();
            match self.driver.with(|d| d.turn(wait, timeout)) {
                Some(Ok(_)) => {}
                Some(Err(e)) => panic!("the io_uring driver failed and the core cannot go on: {e}"),
                None => panic!(
                    "the core's loop found its io_uring driver busy: block_on was entered from \
                     inside the driver (a waker or a drop it ran)"
                ),
            }
            self.shared.awake();
            Counters::bump(&self.counters.loop_turns, 1);
        }
    }

    /// Drops every task's future on this thread, then drains the driver's ops: from now on
    /// no loop turn comes, so an op abandoned later is settled on the spot.
    pub(crate) fn shutdown(&self) {
        // Other threads' spawns are refused from now on, and those queued are dropped, so
        // their handles resolve `Aborted` instead of waiting for this core.
        self.shared.close();
        self.closed.set(true);
        self.drop_tasks();
        self.driver.orphan();
    }

    fn drop_tasks(&self) {
        loop {
            let mut tasks = std::mem::take(&mut *self.tasks.borrow_mut());
            if tasks.is_empty() {
                break;
            }
            // Handles awaited elsewhere (in another runtime) are woken once their tasks
            // are gone, to find them `Aborted`; nothing else would wake them.
            let joiners: Vec<Waker> = tasks
                .iter_mut()
                .filter_map(|(_, e)| e.take_join_waker())
                .collect();
            drop(tasks);
            joiners.into_iter().for_each(Waker::wake);
        }
        self.run_queue.borrow_mut().clear();
    }
}
