//! [`set_waker`]: how a future of this crate parks its waker in a one-waker slot.

use std::task::{Context, Waker};

/// Stores `cx`'s waker in `slot`, unless the waker there already wakes the same task (which
/// saves a clone and a drop on every poll of a pending future). The runtime's own futures
/// do the same with a crate-private copy of this function.
pub(crate) fn set_waker(slot: &mut Option<Waker>, cx: &Context<'_>) {
    match slot {
        Some(w) if w.will_wake(cx.waker()) => {}
        _ => *slot = Some(cx.waker().clone()),
    }
}
