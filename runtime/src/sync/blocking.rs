//! [`block_on_thread`]: waits for a channel future on a thread that is not a core, parking
//! the thread until the future's waker unparks it.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;

/// Unparks the waiting thread.
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs `future` to completion on this thread, parked while it is pending.
///
/// # Panics
/// On a core's thread (inside `block_on` or a task): blocking there stalls every task of
/// the core, and deadlocks if the other end of the channel is one of them. `what` names the
/// method in the message.
#[track_caller]
pub(super) fn block_on_thread<F: Future>(what: &str, future: F) -> F::Output {
    // The one upward look from `sync`: whether this thread runs a core.
    if crate::executor::context::in_runtime() {
        panic!(
            "{what} called on a runtime core's thread, where blocking would stall every task \
             of the core (and deadlock if the other end is one of them): use `.await` there, \
             and the blocking methods on other threads (std threads, spawn_blocking)"
        );
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(v) = future.as_mut().poll(&mut cx) {
            return v;
        }
        // A wake that came before this park makes it return at once (the unpark token).
        std::thread::park();
    }
}
