//! Task wakers without allocation: a waker is the task's address (core, slot, generation)
//! packed into the `RawWaker` data word, never dereferenced.
//!
//! Waking on the owning core pushes the task on its run queue; waking from another thread
//! goes through that core's remote queue (see [`super::remote`]). A stale waker (its task
//! finished and the slot was reused) at worst polls the new task spuriously, which futures
//! must tolerate; the generation makes even that rare.

use std::task::{RawWaker, RawWakerVTable, Waker};

use super::task::TaskId;

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
    super::remote::wake_task(core, task);
}

fn drop_waker(_: *const ()) {}

/// The waker of `task` on core `core`.
pub(crate) fn task_waker(core: u16, task: TaskId) -> Waker {
    // SAFETY: the data word is plain bits that the vtable functions only unpack, never
    // dereference; they own nothing, so cloning is a copy, dropping does nothing, and any
    // thread may call them (wake_task routes by core id). That upholds RawWaker's contract.
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
