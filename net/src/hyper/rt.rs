//! hyper's runtime traits on this runtime: [`RuntimeExecutor`] spawns on the current core,
//! [`RuntimeTimer`] sleeps on the core's timer wheel.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// hyper's `Executor`: spawns each future as a task on the current core
/// ([`runtime::spawn`]), detached. hyper's HTTP/1 needs none; HTTP/2 and hyper-util's pools
/// use one.
///
/// # Panics
/// `execute` outside a runtime (as [`runtime::spawn`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct RuntimeExecutor;

impl<F> ::hyper::rt::Executor<F> for RuntimeExecutor
where
    F: Future + 'static,
    F::Output: 'static,
{
    fn execute(&self, future: F) {
        drop(runtime::spawn(future));
    }
}

/// hyper's `Timer` on the runtime's per-core timer wheel: what `header_read_timeout`
/// and keep-alive timeouts need. A reset moves the deadline of the same timer.
#[derive(Debug, Clone, Copy, Default)]
pub struct RuntimeTimer;

/// A runtime [`runtime::time::Sleep`] as a hyper `Sleep`.
struct HyperSleep(runtime::time::Sleep);

impl Future for HyperSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx)
    }
}

impl ::hyper::rt::Sleep for HyperSleep {}

impl ::hyper::rt::Timer for RuntimeTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn ::hyper::rt::Sleep>> {
        Box::pin(HyperSleep(runtime::time::sleep(duration)))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn ::hyper::rt::Sleep>> {
        Box::pin(HyperSleep(runtime::time::sleep_until(deadline)))
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn ::hyper::rt::Sleep>>, new_deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<HyperSleep>() {
            Some(mut s) => s.0.reset(new_deadline),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}
