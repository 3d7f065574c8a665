//! A bounded multi-producer, single-consumer channel between threads or cores, with
//! back-pressure: `send` waits while the channel is full.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use crate::waker_slot::set_waker;

struct State<T> {
    queue: VecDeque<T>,
    capacity: usize,
    rx_waker: Option<Waker>,
    tx_wakers: VecDeque<Waker>,
    senders: usize,
    receiver_gone: bool,
}

type Shared<T> = Arc<Mutex<State<T>>>;

/// Sends values; clone it for more producers.
pub struct Sender<T> {
    shared: Shared<T>,
}

/// Receives values in order.
pub struct Receiver<T> {
    shared: Shared<T>,
}

/// The receiver is gone; the value comes back.
#[derive(Debug, PartialEq, Eq)]
pub struct SendError<T>(pub T);

impl<T> std::fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the receiver was dropped")
    }
}

impl<T: std::fmt::Debug> std::error::Error for SendError<T> {}

/// Why `try_send` failed.
#[derive(Debug, PartialEq, Eq)]
pub enum TrySendError<T> {
    /// The channel is at capacity.
    Full(T),
    /// The receiver is gone.
    Closed(T),
}

/// A channel holding at most `capacity` values (at least 1; room for them is allocated as
/// they come, so any capacity is fine).
///
/// # Examples
/// ```
/// runtime::Runtime::new()?.block_on(async {
///     let (tx, mut rx) = runtime::sync::mpsc::channel(2);
///     runtime::spawn(async move {
///         for i in 0..5 {
///             tx.send(i).await.unwrap();
///         }
///     });
///     let mut got = Vec::new();
///     while let Some(v) = rx.recv().await {
///         got.push(v);
///     }
///     assert_eq!(got, [0, 1, 2, 3, 4]);
/// });
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn channel<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let capacity = capacity.max(1);
    let shared = Arc::new(Mutex::new(State {
        queue: VecDeque::with_capacity(super::initial_room(capacity)),
        capacity,
        rx_waker: None,
        tx_wakers: VecDeque::new(),
        senders: 1,
        receiver_gone: false,
    }));
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared },
    )
}

fn lock<T>(shared: &Shared<T>) -> std::sync::MutexGuard<'_, State<T>> {
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

impl<T> Sender<T> {
    /// Sends `value`, waiting while the channel is full.
    ///
    /// # Errors
    /// [`SendError`] with the value if the receiver is gone.
    pub async fn send(&self, value: T) -> Result<(), SendError<T>> {
        let mut value = Some(value);
        poll_fn(|cx| self.poll_send(cx, &mut value)).await
    }

    fn poll_send(
        &self,
        cx: &mut Context<'_>,
        value: &mut Option<T>,
    ) -> Poll<Result<(), SendError<T>>> {
        let mut s = lock(&self.shared);
        let v = value.take().expect("polled after completion");
        if s.receiver_gone {
            return Poll::Ready(Err(SendError(v)));
        }
        if s.queue.len() < s.capacity {
            s.queue.push_back(v);
            let w = s.rx_waker.take();
            drop(s);
            if let Some(w) = w {
                w.wake();
            }
            return Poll::Ready(Ok(()));
        }
        *value = Some(v);
        if !s.tx_wakers.iter().any(|w| w.will_wake(cx.waker())) {
            s.tx_wakers.push_back(cx.waker().clone());
        }
        Poll::Pending
    }

    /// Sends `value` from a thread that is not a core (a std thread, a `spawn_blocking`
    /// closure), blocking the thread while the channel is full: how code outside the runtime
    /// feeds it.
    ///
    /// # Errors
    /// [`SendError`] with the value if the receiver is gone.
    ///
    /// # Panics
    /// On a core's thread, where blocking would stall the core: use [`Sender::send`] there.
    ///
    /// # Examples
    /// ```
    /// runtime::Runtime::new()?.block_on(async {
    ///     let (tx, mut rx) = runtime::sync::mpsc::channel(1);
    ///     let t = std::thread::spawn(move || {
    ///         for i in 0..3 {
    ///             tx.blocking_send(i).unwrap();
    ///         }
    ///     });
    ///     let mut got = Vec::new();
    ///     while let Some(v) = rx.recv().await {
    ///         got.push(v);
    ///     }
    ///     t.join().unwrap();
    ///     assert_eq!(got, [0, 1, 2]);
    /// });
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[track_caller]
    pub fn blocking_send(&self, value: T) -> Result<(), SendError<T>> {
        super::blocking::block_on_thread("mpsc::Sender::blocking_send", self.send(value))
    }

    /// Sends without waiting.
    ///
    /// # Errors
    /// [`TrySendError::Full`] at capacity, [`TrySendError::Closed`] without a receiver.
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        let mut s = lock(&self.shared);
        if s.receiver_gone {
            return Err(TrySendError::Closed(value));
        }
        if s.queue.len() >= s.capacity {
            return Err(TrySendError::Full(value));
        }
        s.queue.push_back(value);
        let w = s.rx_waker.take();
        drop(s);
        if let Some(w) = w {
            w.wake();
        }
        Ok(())
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
        let w = if s.senders == 0 {
            s.rx_waker.take()
        } else {
            None
        };
        drop(s);
        if let Some(w) = w {
            w.wake();
        }
    }
}

impl<T> Receiver<T> {
    /// The next value; `None` once every sender is gone and the queue is empty.
    pub async fn recv(&mut self) -> Option<T> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// The next value, from a thread that is not a core, blocking the thread until one
    /// comes; `None` once every sender is gone and the queue is empty.
    ///
    /// # Panics
    /// On a core's thread, where blocking would stall the core: use [`Receiver::recv`] there.
    ///
    /// # Examples
    /// ```
    /// let (tx, mut rx) = runtime::sync::mpsc::channel(4);
    /// let t = std::thread::spawn(move || rx.blocking_recv());
    /// runtime::Runtime::new()?.block_on(async move { tx.send(5).await.unwrap() });
    /// assert_eq!(t.join().unwrap(), Some(5));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[track_caller]
    pub fn blocking_recv(&mut self) -> Option<T> {
        super::blocking::block_on_thread("mpsc::Receiver::blocking_recv", self.recv())
    }

    /// Takes a value without waiting: `None` when the queue is empty (whether or not the
    /// senders are gone).
    pub fn try_recv(&mut self) -> Option<T> {
        let mut s = lock(&self.shared);
        let v = s.queue.pop_front()?;
        // As in `poll_recv`: every waiting sender, since some may be dropped.
        let wakers = std::mem::take(&mut s.tx_wakers);
        drop(s);
        wakers.into_iter().for_each(Waker::wake);
        Some(v)
    }

    /// Polls for the next value.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut s = lock(&self.shared);
        if let Some(v) = s.queue.pop_front() {
            // Wake every waiting sender, not just the first: a send future dropped while it
            // waited (under a timeout, say) leaves its waker here, and a wake spent on it
            // would strand a live sender while the receiver waits. Those that find the
            // channel full again re-register.
            let wakers = std::mem::take(&mut s.tx_wakers);
            drop(s);
            wakers.into_iter().for_each(Waker::wake);
            return Poll::Ready(Some(v));
        }
        if s.senders == 0 {
            return Poll::Ready(None);
        }
        set_waker(&mut s.rx_waker, cx);
        Poll::Pending
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut s = lock(&self.shared);
        s.receiver_gone = true;
        let wakers = std::mem::take(&mut s.tx_wakers);
        // Nobody will take what is queued: it is dropped now (outside the lock: a value's
        // drop may send again), not when the last sender goes.
        let queued = std::mem::take(&mut s.queue);
        drop(s);
        drop(queued);
        wakers.into_iter().for_each(Waker::wake);
    }
}
