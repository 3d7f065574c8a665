//! A one-value channel between any two threads or cores.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use crate::waker_slot::set_waker;

struct Shared<T> {
    value: Option<T>,
    rx_waker: Option<Waker>,
    sender_gone: bool,
    receiver_gone: bool,
}

/// Sends the one value.
pub struct Sender<T> {
    shared: Arc<Mutex<Shared<T>>>,
}

/// Receives the one value: await it for `Result<T, RecvError>`.
pub struct Receiver<T> {
    shared: Arc<Mutex<Shared<T>>>,
}

/// The sender was dropped without sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecvError;

impl std::fmt::Display for RecvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the sender was dropped without sending")
    }
}

impl std::error::Error for RecvError {}

/// A new channel.
///
/// # Examples
/// ```
/// runtime::Runtime::new()?.block_on(async {
///     let (tx, rx) = runtime::sync::oneshot::channel();
///     std::thread::spawn(move || tx.send(7).unwrap());
///     assert_eq!(rx.await, Ok(7));
/// });
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Mutex::new(Shared {
        value: None,
        rx_waker: None,
        sender_gone: false,
        receiver_gone: false,
    }));
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared },
    )
}

impl<T> Sender<T> {
    /// Sends `value`.
    ///
    /// # Errors
    /// Gives the value back if the receiver is gone.
    pub fn send(self, value: T) -> Result<(), T> {
        let waker = {
            let mut s = self.shared.lock().unwrap_or_else(|e| e.into_inner());
            if s.receiver_gone {
                return Err(value);
            }
            s.value = Some(value);
            s.rx_waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    /// Whether the receiver was dropped.
    pub fn is_closed(&self) -> bool {
        self.shared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .receiver_gone
    }
}

impl<T> Receiver<T> {
    /// The value, from a thread that is not a core, blocking the thread until it is sent.
    ///
    /// # Errors
    /// [`RecvError`] if the sender was dropped without sending.
    ///
    /// # Panics
    /// On a core's thread, where blocking would stall the core: `.await` the receiver there.
    ///
    /// # Examples
    /// ```
    /// let (tx, rx) = runtime::sync::oneshot::channel();
    /// let t = std::thread::spawn(move || rx.blocking_recv());
    /// runtime::Runtime::new()?.block_on(async move { tx.send(1).unwrap() });
    /// assert_eq!(t.join().unwrap(), Ok(1));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[track_caller]
    pub fn blocking_recv(self) -> Result<T, RecvError> {
        super::blocking::block_on_thread("oneshot::Receiver::blocking_recv", self)
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let waker = {
            let mut s = self.shared.lock().unwrap_or_else(|e| e.into_inner());
            s.sender_gone = true;
            s.rx_waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut s = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(v) = s.value.take() {
            return Poll::Ready(Ok(v));
        }
        if s.sender_gone {
            return Poll::Ready(Err(RecvError));
        }
        set_waker(&mut s.rx_waker, cx);
        Poll::Pending
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.shared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .receiver_gone = true;
    }
}
