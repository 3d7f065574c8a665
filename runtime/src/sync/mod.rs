//! Channels for `Send` values between cores (and threads): [`oneshot`], bounded [`mpsc`] and
//! [`broadcast`].
//!
//! A receiver parked on one core is woken through its task waker, which crosses cores via
//! the target core's remote queue (MSG_RING or eventfd): no busy waiting.
//!
//! Code outside the runtime (a std thread, a `spawn_blocking` closure) uses the `blocking_`
//! methods (`mpsc::Sender::blocking_send`, `blocking_recv` on every receiver), which park the
//! thread until the channel is ready; on a core's thread they panic with a message that
//! says to `.await` instead, since blocking there would stall the whole core.

mod blocking;
pub mod broadcast;
pub mod mpsc;
pub mod oneshot;

/// The room a bounded channel of `capacity` values allocates up front: it grows on demand
/// up to `capacity`, so a huge capacity (`usize::MAX`, or `1 << 40` values) costs nothing
/// until the values are there, instead of a capacity-overflow panic or terabytes at once.
fn initial_room(capacity: usize) -> usize {
    capacity.min(64)
}
