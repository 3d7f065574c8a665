//! Channels for `Send` values between cores (and threads): [`oneshot`] and bounded [`mpsc`].
//!
//! A receiver parked on one core is woken through its task waker, which crosses cores via
//! the target core's remote queue (MSG_RING or eventfd): no busy waiting.

pub mod mpsc;
pub mod oneshot;
