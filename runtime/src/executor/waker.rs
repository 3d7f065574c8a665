//! Task wakers without allocation, and where a wake goes.
//!
//! A waker is the task's address (core, slot, generation) packed into the `RawWaker` data
//! word, never dereferenced. A wake is routed here: on the thread running the task's core
//! (found without a borrow through [`LOCAL`]) it queues the task on that core's run queue
//! (`Core::schedule`); from any other thread it sends `Remote::Wake` to the core's remote
//! queue ([`super::remote`], which only carries messages across threads and wakes the core).
//! A stale waker (its task finished and the slot was reused) at worst polls the new task
//! spuriously, which futures must tolerate; the generation makes even that rare.

use std::cell::Cell;
use std::ptr;
use std::task::{RawWaker, RawWakerVTable, Waker};

use super::core::Core;
use super::remote::{self, Remote};
use super::task::TaskId;

thread_local! {
    /// The core running on this thread, for the local wake path (null when none). Invariant:
    /// changed only by [`set_local`], whose callers (`context::enter` and `Enter`'s drop) set
    /// it together with `context`'s current core, an `Rc` that keeps the core alive until
    /// it is replaced here: so while it is not null it points to a live `Core`.
    static LOCAL: Cell<*const Core> = const { Cell::new(ptr::null()) };
}

/// Makes `core` the core that wakes on this thread queue on directly (null: none); returns
/// the previous one.
///
/// # Safety
/// `core` is null or points to a `Core` that stays alive until `set_local` replaces it.
pub(crate) unsafe fn set_local(core: *const Core) -> *const Core {
    LOCAL.with(|l| l.replace(core))
}

/// Packs `(core, task)` into a data word: core id in bits 48..64, generation in 32..48, slot
/// index in 0..32.
fn pack(core: u16, task: TaskId) -> *const () {
    (((core as usize) << 48) | ((task.generation as usize) << 32) | task.index as usize)
        as *const ()
}

fn unpack(data: *const ()) -> (u16, TaskId) {
    let bits = data as usize;
    (
        (bits >> 48) as u16,
        TaskId {
            index: bits as u32,
            generation: (bits >> 32) as u16,
        },
    )
}

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake, drop_waker);

fn clone(data: *const ()) -> RawWaker {
    RawWaker::new(data, &VTABLE)
}

fn wake(data: *const ()) {
    let (core, task) = unpack(data);
    wake_task(core, task);
}

/// Wakes task `task` of core `core`: queued directly when this thread runs that core, else
/// sent through the core's remote queue.
fn wake_task(core: u16, task: TaskId) {
    let local = LOCAL.with(Cell::get);
    // SAFETY: a non-null LOCAL points to a live core (the invariant at LOCAL), which nothing
    // here can drop: `schedule` and `send` only queue and wake.
    let local = unsafe { local.as_ref() };
    if let Some(local) = local
        && local.shared.id == core
    {
        local.schedule(task);
        return;
    }
    if let Some(shared) = remote::lookup(core) {
        // A core that stopped has no task to wake.
        let _ = shared.send(Remote::Wake(task), local.map(|c| &c.driver));
    }
}

fn drop_waker(_: *const ()) {}

/// The waker of `task` on core `core`.
pub(crate) fn task_waker(core: u16, task: TaskId) -> Waker {
    // SAFETY: the data word is plain bits that the vtable functions only unpack, never
    // dereference; they own nothing, so cloning is a copy, dropping does nothing, and any
    // thread may call them (`wake_task` routes by core id). That upholds RawWaker's contract.
    unsafe { Waker::from_raw(RawWaker::new(pack(core, task), &VTABLE)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_round_trips() {
        let t = TaskId {
            index: 0xdead_beef,
            generation: 0xabcd,
        };
        assert_eq!(unpack(pack(0x1234, t)), (0x1234, t));
    }
}
