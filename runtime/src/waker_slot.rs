//! [`set_waker`]: how a future parks its waker in a one-waker slot (an op's slot, a join
//! handle, a channel's receiver).

use std::task::{Context, Waker};

/// Stores `cx`'s waker in `slot`, unless the waker there already wakes the same task (which
/// saves a clone and a drop on every poll of a pending future). Returns the waker it
/// replaced: a caller inside a borrow that the waker's drop could reach drops it after.
#[inline]
pub(crate) fn set_waker(slot: &mut Option<Waker>, cx: &Context<'_>) -> Option<Waker> {
    match slot {
        Some(w) if w.will_wake(cx.waker()) => None,
        _ => slot.replace(cx.waker().clone()),
    }
}
