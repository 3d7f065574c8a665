//! Small coordination tools the examples share: [`Signal`], a one-way event that any core can
//! fire and any task on any core can await (a stop request, "all cores listen"), and
//! [`race`]/[`join`] for two futures on one task.
//!
//! The runtime has no `select!`; [`race`] is the part of it the examples need: "serve until
//! told to stop" is `race(stop.wait(), incoming.next())`, and the loser is dropped, which
//! cancels its op (the runtime's cancel contract). A dropped `Incoming::next` loses no
//! connection: the multishot accept lives in the `Incoming`, not in the `next` future.
//! [`accept_until`] is that loop, shared by the servers.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};

/// A one-way event shared across cores: fired once (by [`Signal::fire`], or by the `n`th
/// [`Signal::count`] of a signal made with [`Signal::after`]), awaited by any number of tasks
/// with [`Signal::wait`]. Clones share the event.
///
/// # Examples
/// ```
/// use examples::signal::Signal;
///
/// runtime::Runtime::new()?.block_on(async {
///     let served = Signal::after(Some(2));
///     let waiter = runtime::spawn({
///         let served = served.clone();
///         async move { served.wait().await }
///     });
///     served.count();
///     assert!(!served.fired());
///     served.count();
///     waiter.await?;
///     assert_eq!(served.counted(), 2);
///     Ok::<_, std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct Signal {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Fire at this count; `None`: only [`Signal::fire`] fires it.
    limit: Option<usize>,
    counted: AtomicUsize,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    fired: bool,
    waiters: Vec<Waker>,
}

impl Signal {
    /// A signal that fires only by [`Signal::fire`].
    pub fn new() -> Signal {
        Signal::default()
    }

    /// A signal that fires at the `n`th [`Signal::count`] (never by counting if `None`; at
    /// once if `Some(0)`).
    pub fn after(n: Option<usize>) -> Signal {
        let s = Signal {
            inner: Arc::new(Inner {
                limit: n,
                ..Inner::default()
            }),
        };
        if n == Some(0) {
            s.fire();
        }
        s
    }

    /// Counts one event (a connection served, a core ready); fires the signal when the count
    /// reaches the limit given to [`Signal::after`].
    pub fn count(&self) {
        let n = self.inner.counted.fetch_add(1, Ordering::AcqRel) + 1;
        if self.inner.limit == Some(n) {
            self.fire();
        }
    }

    /// How many events were counted.
    pub fn counted(&self) -> usize {
        self.inner.counted.load(Ordering::Acquire)
    }

    /// Fires the signal: every waiter, on whatever core, is woken.
    pub fn fire(&self) {
        let waiters = {
            let mut s = self.inner.state.lock().unwrap_or_else(|e| e.into_inner());
            s.fired = true;
            std::mem::take(&mut s.waiters)
        };
        waiters.into_iter().for_each(Waker::wake);
    }

    /// Whether it fired.
    pub fn fired(&self) -> bool {
        self.inner
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .fired
    }

    /// Completes once the signal fired (at once if it did already).
    pub async fn wait(&self) {
        std::future::poll_fn(|cx| {
            let mut s = self.inner.state.lock().unwrap_or_else(|e| e.into_inner());
            if s.fired {
                return Poll::Ready(());
            }
            if !s.waiters.iter().any(|w| w.will_wake(cx.waker())) {
                s.waiters.push(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }
}

/// Which of two futures finished first (see [`race`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Either<A, B> {
    /// The first future's output.
    Left(A),
    /// The second future's output.
    Right(B),
}

/// Polls `a` and `b` together and returns the output of the first to finish (`a` wins a tie);
/// the other is dropped, which cancels whatever op it had in flight.
pub async fn race<A: Future, B: Future>(a: A, b: B) -> Either<A::Output, B::Output> {
    let (mut a, mut b) = (pin!(a), pin!(b));
    std::future::poll_fn(|cx| {
        if let Poll::Ready(v) = a.as_mut().poll(cx) {
            return Poll::Ready(Either::Left(v));
        }
        b.as_mut().poll(cx).map(Either::Right)
    })
    .await
}

/// Polls `a` and `b` together until both are done (on this task: no spawn, so they may
/// borrow).
pub async fn join<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let (mut a, mut b) = (pin!(a), pin!(b));
    let (mut out_a, mut out_b) = (None, None);
    std::future::poll_fn(|cx| {
        if out_a.is_none()
            && let Poll::Ready(v) = a.as_mut().poll(cx)
        {
            out_a = Some(v);
        }
        if out_b.is_none()
            && let Poll::Ready(v) = b.as_mut().poll(cx)
        {
            out_b = Some(v);
        }
        if out_a.is_some() && out_b.is_some() {
            Poll::Ready((out_a.take().unwrap(), out_b.take().unwrap()))
        } else {
            Poll::Pending
        }
    })
    .await
}

/// Accepts on `listener` until `stop` fires, and runs `connection(stream)` for each accepted
/// stream as a task of its own, counting it on `stop` when it ends (so
/// [`Signal::after`]`(Some(n))` stops after `n` connections). Accept errors (EMFILE, …) are
/// reported on stderr as `NAME: accept: ERROR` and accepting goes on. Returns the number of
/// connections accepted.
///
/// Connections still open when it returns keep their tasks; they end with the runtime.
pub async fn accept_until<F, Fut>(
    listener: net::TcpListener,
    stop: Signal,
    name: &str,
    mut connection: F,
) -> usize
where
    F: FnMut(net::TcpStream) -> Fut,
    Fut: Future<Output = ()> + 'static,
{
    let mut incoming = listener.incoming();
    let mut accepted = 0;
    loop {
        let stream = match race(stop.wait(), incoming.next()).await {
            Either::Left(()) | Either::Right(None) => return accepted,
            Either::Right(Some(Ok(stream))) => stream,
            Either::Right(Some(Err(e))) => {
                eprintln!("{name}: accept: {e}");
                continue;
            }
        };
        accepted += 1;
        let task = connection(stream);
        let stop = stop.clone();
        runtime::spawn(async move {
            task.await;
            stop.count();
        });
    }
}
