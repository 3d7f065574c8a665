//! A bounded multi-producer, multi-consumer channel where every receiver sees every value
//! (tokio's `broadcast`), between threads or cores.
//!
//! The channel keeps the last `capacity` values; a send never waits. A receiver that falls
//! more than `capacity` values behind loses the oldest ones and is told how many
//! ([`RecvError::Lagged`]), then goes on from the oldest value kept. Each value is cloned
//! once per receiver, under the channel's lock: send `Arc`s for large values.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

struct State<T> {
    /// The values kept; `values[0]` has sequence number `head`.
    values: VecDeque<T>,
    head: u64,
    capacity: usize,
    senders: usize,
    receivers: usize,
    /// Receivers waiting for a value (woken all at once by a send).
    waiters: Vec<Waker>,
}

impl<T> State<T> {
    /// The sequence number the next value sent gets.
    fn tail(&self) -> u64 {
        self.head + self.values.len() as u64
    }
}

type Shared<T> = Arc<Mutex<State<T>>>;

fn lock<T>(shared: &Shared<T>) -> MutexGuard<'_, State<T>> {
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

/// Sends values to every receiver; clone it for more producers.
pub struct Sender<T> {
    shared: Shared<T>,
}

/// Receives every value sent after it subscribed, in order.
pub struct Receiver<T> {
    shared: Shared<T>,
    /// The sequence number of the next value to receive.
    next: u64,
}

impl<T> std::fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("broadcast::Sender").finish_non_exhaustive()
    }
}

impl<T> std::fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("broadcast::Receiver")
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

/// No receiver is left; the value comes back.
#[derive(Debug, PartialEq, Eq)]
pub struct SendError<T>(pub T);

impl<T> std::fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("no receiver is left")
    }
}

impl<T: std::fmt::Debug> std::error::Error for SendError<T> {}

/// Why `recv` returned no value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvError {
    /// Every sender is gone and this receiver has seen every value.
    Closed,
    /// This receiver fell behind and missed this many values (the oldest); the next `recv`
    /// returns the oldest value still kept.
    Lagged(u64),
}

impl std::fmt::Display for RecvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecvError::Closed => f.write_str("every sender was dropped"),
            RecvError::Lagged(n) => write!(f, "the receiver lagged behind and missed {n} values"),
        }
    }
}

impl std::error::Error for RecvError {}

/// Why `try_recv` returned no value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryRecvError {
    /// No new value yet.
    Empty,
    /// As [`RecvError::Closed`].
    Closed,
    /// As [`RecvError::Lagged`].
    Lagged(u64),
}

/// A channel keeping the last `capacity` values (at least 1; room for them is allocated as
/// they come), with one receiver; more come from [`Sender::subscribe`].
///
/// # Examples
/// ```
/// use runtime::sync::broadcast;
///
/// runtime::Runtime::new()?.block_on(async {
///     let (tx, mut a) = broadcast::channel(16);
///     let mut b = tx.subscribe();
///     tx.send("hi").unwrap();
///     assert_eq!(a.recv().await, Ok("hi"));
///     assert_eq!(b.recv().await, Ok("hi"));
///     drop(tx);
///     assert_eq!(a.recv().await, Err(broadcast::RecvError::Closed));
/// });
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn channel<T: Clone>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let capacity = capacity.max(1);
    let shared = Arc::new(Mutex::new(State {
        values: VecDeque::with_capacity(super::initial_room(capacity)),
        head: 0,
        capacity,
        senders: 1,
        receivers: 1,
        waiters: Vec::new(),
    }));
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared, next: 0 },
    )
}

impl<T> Sender<T> {
    /// Sends `value` to every receiver, dropping the oldest value kept if the channel is at
    /// capacity; returns how many receivers there are. Never waits.
    ///
    /// # Errors
    /// [`SendError`] with the value if no receiver is left.
    pub fn send(&self, value: T) -> Result<usize, SendError<T>> {
        let mut s = lock(&self.shared);
        if s.receivers == 0 {
            return Err(SendError(value));
        }
        if s.values.len() == s.capacity {
            s.values.pop_front();
            s.head += 1;
        }
        s.values.push_back(value);
        let receivers = s.receivers;
        let waiters = std::mem::take(&mut s.waiters);
        drop(s);
        waiters.into_iter().for_each(Waker::wake);
        Ok(receivers)
    }

    /// A new receiver, which gets the values sent from now on.
    pub fn subscribe(&self) -> Receiver<T> {
        let mut s = lock(&self.shared);
        s.receivers += 1;
        let next = s.tail();
        drop(s);
        Receiver {
            shared: self.shared.clone(),
            next,
        }
    }

    /// How many receivers there are.
    pub fn receiver_count(&self) -> usize {
        lock(&self.shared).receivers
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        lock(&self.shared).senders += 1;
        Sender {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut s = lock(&self.shared);
        s.senders -= 1;
        let waiters = if s.senders == 0 {
            std::mem::take(&mut s.waiters)
        } else {
            Vec::new()
        };
        drop(s);
        waiters.into_iter().for_each(Waker::wake);
    }
}

impl<T: Clone> Receiver<T> {
    /// The next value.
    ///
    /// # Errors
    /// [`RecvError::Lagged`] after values were missed, [`RecvError::Closed`] once every
    /// sender is gone and every value was received.
    ///
    /// # Cancel safety
    /// Cancel safe: a dropped `recv` took no value.
    pub async fn recv(&mut self) -> Result<T, RecvError> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// The next value without waiting.
    ///
    /// # Errors
    /// [`TryRecvError::Empty`] when no new value is there, else as [`Receiver::recv`].
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let mut s = lock(&self.shared);
        match take(&mut self.next, &mut s) {
            Some(Ok(v)) => Ok(v),
            Some(Err(RecvError::Closed)) => Err(TryRecvError::Closed),
            Some(Err(RecvError::Lagged(n))) => Err(TryRecvError::Lagged(n)),
            None => Err(TryRecvError::Empty),
        }
    }

    /// The next value, from a thread that is not a core, blocking the thread until one
    /// comes.
    ///
    /// # Errors
    /// As [`Receiver::recv`].
    ///
    /// # Panics
    /// On a core's thread, where blocking would stall the core: use [`Receiver::recv`] there.
    #[track_caller]
    pub fn blocking_recv(&mut self) -> Result<T, RecvError> {
        super::blocking::block_on_thread("broadcast::Receiver::blocking_recv", self.recv())
    }

    /// Polls for the next value.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Result<T, RecvError>> {
        let mut s = lock(&self.shared);
        if let Some(res) = take(&mut self.next, &mut s) {
            return Poll::Ready(res);
        }
        if !s.waiters.iter().any(|w| w.will_wake(cx.waker())) {
            s.waiters.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

/// The value numbered `next` (advancing it), a lag or the end; `None` if nothing new is
/// there yet.
fn take<T: Clone>(next: &mut u64, s: &mut State<T>) -> Option<Result<T, RecvError>> {
    if *next < s.head {
        let missed = s.head - *next;
        *next = s.head;
        return Some(Err(RecvError::Lagged(missed)));
    }
    let index = usize::try_from(*next - s.head).expect("within the kept values");
    if let Some(v) = s.values.get(index) {
        *next += 1;
        return Some(Ok(v.clone()));
    }
    (s.senders == 0).then_some(Err(RecvError::Closed))
}

impl<T> Receiver<T> {
    /// A new receiver of the same channel, which gets the values sent from now on.
    pub fn resubscribe(&self) -> Receiver<T> {
        let mut s = lock(&self.shared);
        s.receivers += 1;
        let next = s.tail();
        drop(s);
        Receiver {
            shared: self.shared.clone(),
            next,
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        lock(&self.shared).receivers -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slow_receiver_is_told_how_many_it_missed_then_gets_the_oldest_kept() {
        let (tx, mut rx) = channel(2);
        for i in 0..5 {
            tx.send(i).unwrap();
        }
        assert_eq!(rx.try_recv(), Err(TryRecvError::Lagged(3)));
        assert_eq!(rx.try_recv(), Ok(3));
        assert_eq!(rx.try_recv(), Ok(4));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        drop(tx);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    }

    #[test]
    fn send_without_receivers_gives_the_value_back() {
        let (tx, rx) = channel(1);
        drop(rx);
        assert_eq!(tx.send(7), Err(SendError(7)));
        let _rx = tx.subscribe();
        assert_eq!(tx.send(8), Ok(1));
    }

    #[test]
    fn a_subscriber_sees_only_later_values() {
        let (tx, mut a) = channel(4);
        tx.send(1).unwrap();
        let mut b = tx.subscribe();
        tx.send(2).unwrap();
        assert_eq!(a.try_recv(), Ok(1));
        assert_eq!(a.try_recv(), Ok(2));
        assert_eq!(b.try_recv(), Ok(2));
        assert_eq!(b.try_recv(), Err(TryRecvError::Empty));
    }
}
