//! What other threads can reach of a core: its remote queue (wakes and spawns) and the means
//! to wake it: `IORING_OP_MSG_RING` from another core's ring where the kernel has it (no
//! syscall of its own: it rides on the sender's next enter), an eventfd write otherwise.
//!
//! The per-core path never touches this: only cross-thread wakes and spawns take its lock.
//! Which wakes come here is decided by [`super::waker`]; this module knows nothing of the
//! core running on the calling thread beyond the driver the sender hands to [`CoreShared::send`].

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use slab::Slab;

use super::task::TaskId;
use crate::driver::{Driver, Handle, MSG_RING_WAKE};

/// A message for a core from another thread.
pub(crate) enum Remote {
    /// Wake one of its tasks.
    Wake(TaskId),
    /// Run this on the core (it spawns the task there).
    Spawn(Box<dyn FnOnce() + Send>),
}

/// The part of a core that other threads can reach.
pub(crate) struct CoreShared {
    /// Process-wide id of this core, packed into its wakers.
    pub(crate) id: u16,
    queue: Mutex<Vec<Remote>>,
    /// Set when `queue` may be non-empty, so the core checks it without taking the lock.
    pending: AtomicBool,
    /// True while the core is awake or already notified: senders then skip the wake-up.
    notified: AtomicBool,
    /// The core has stopped (its main future returned or panicked, or its runtime was
    /// dropped): messages are dropped instead of queued, so a spawn's handle reports
    /// `Aborted` at once instead of waiting for a core that will never run it.
    closed: AtomicBool,
    eventfd: OwnedFd,
    msg_ring_fd: Option<Arc<OwnedFd>>,
}

/// Live cores by id, for wakers fired on other threads. Ids are reused after a core exits;
/// a stale waker then wakes a task on the new core at worst (a spurious poll).
fn registry() -> &'static RwLock<Slab<Arc<CoreShared>>> {
    static REGISTRY: OnceLock<RwLock<Slab<Arc<CoreShared>>>> = OnceLock::new();
    REGISTRY.get_or_init(|| RwLock::new(Slab::new()))
}

impl CoreShared {
    pub(crate) fn register(driver: &Driver) -> io::Result<Arc<CoreShared>> {
        let eventfd = dup(driver.eventfd())?;
        let mut reg = registry().write().unwrap_or_else(|e| e.into_inner());
        let entry = reg.vacant_entry();
        let id = u16::try_from(entry.key())
            .map_err(|_| io::Error::other("more than 65536 runtime cores alive in one process"))?;
        let shared = Arc::new(CoreShared {
            id,
            queue: Mutex::new(Vec::new()),
            pending: AtomicBool::new(false),
            notified: AtomicBool::new(true),
            closed: AtomicBool::new(false),
            eventfd,
            msg_ring_fd: driver.msg_ring_fd.clone(),
        });
        entry.insert(shared.clone());
        Ok(shared)
    }

    /// Removes the core from the registry (it is shutting down).
    pub(crate) fn unregister(&self) {
        let mut reg = registry().write().unwrap_or_else(|e| e.into_inner());
        if reg
            .get(self.id as usize)
            .is_some_and(|s| std::ptr::eq(&**s, self))
        {
            reg.remove(self.id as usize);
        }
    }

    /// Queues a message and wakes the core if it may be asleep. `sender` is the driver of
    /// the core running on the calling thread, if any: the wake-up goes from its ring.
    ///
    /// Returns false if the core has stopped: the message is dropped (here, or by whichever
    /// of this call and [`close`](Self::close) sees it last), never left in the queue.
    pub(crate) fn send(&self, msg: Remote, sender: Option<&Handle>) -> bool {
        if self.closed.load(Ordering::SeqCst) {
            return false;
        }
        self.queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(msg);
        // A `close` between the check above and the push did not see this message: drop it
        // here. Both sides test the flag after touching the queue, so one of them takes it.
        if self.closed.load(Ordering::SeqCst) {
            drop(self.take_queue());
            return true;
        }
        // After the push, so a core that sees `pending` finds the message (or took it
        // already); before `notified`, so a core about to sleep either sees it or is woken.
        self.pending.store(true, Ordering::SeqCst);
        if !self.notified.swap(true, Ordering::SeqCst) {
            self.wake_up(sender);
        }
        true
    }

    /// The core stops taking messages; those queued are dropped (a spawn's future and its
    /// result sender with it, so its handle resolves `Aborted`).
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        drop(self.take_queue());
    }

    /// Whether the core still takes messages.
    pub(crate) fn is_open(&self) -> bool {
        !self.closed.load(Ordering::SeqCst)
    }

    fn take_queue(&self) -> Vec<Remote> {
        std::mem::take(&mut *self.queue.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn wake_up(&self, sender: Option<&Handle>) {
        if let (Some(fd), Some(sender)) = (&self.msg_ring_fd, sender) {
            let sqe = uring_sys::prep::prep_msg_ring(fd.as_raw_fd(), 0, MSG_RING_WAKE, 0)
                .flags(uring_sys::abi::IOSQE_CQE_SKIP_SUCCESS);
            // A MSG_RING from the sender's own ring: no syscall here, it goes with the
            // sender's next enter. The fd stays valid: `fd` (an Arc) outlives the push, and a
            // later reuse of the number at worst gets a reserved user_data it ignores. Not
            // from a fallback core: its emulated ring cannot send one (the SQE would fail
            // unseen, and the wake-up with it), so that sender writes the eventfd.
            let pushed = sender.with(|d| match d.kind() {
                crate::DriverKind::Fallback => Err(io::ErrorKind::Unsupported.into()),
                _ => d.submit_detached(sqe),
            });
            if let Some(Ok(())) = pushed {
                return;
            }
        }
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to our own duplicate of the eventfd.
        let n = unsafe { libc::write(self.eventfd.as_raw_fd(), (&one as *const u64).cast(), 8) };
        if n < 0 {
            // EAGAIN: the counter is saturated, so the core is woken already.
            tracing::debug!(error = %io::Error::last_os_error(), "eventfd wake-up write failed");
        }
    }

    /// Whether messages may be queued: a plain load, where [`CoreShared::take_remote`] swaps
    /// (a locked instruction). Nothing came, as a rule; a message that lands after this
    /// said no is taken next turn, or seen by [`CoreShared::prepare_to_sleep`], as after a swap
    /// that found nothing.
    pub(crate) fn has_remote(&self) -> bool {
        self.pending.load(Ordering::SeqCst)
    }

    /// Takes the queued messages.
    pub(crate) fn take_remote(&self) -> Vec<Remote> {
        if !self.pending.swap(false, Ordering::SeqCst) {
            return Vec::new();
        }
        self.take_queue()
    }

    /// Before waiting: from now on senders must wake us. Returns false if messages arrived
    /// meanwhile (then the core must not sleep).
    pub(crate) fn prepare_to_sleep(&self) -> bool {
        self.notified.store(false, Ordering::SeqCst);
        !self.pending.load(Ordering::SeqCst)
    }

    /// After the wait: senders need not wake us.
    pub(crate) fn awake(&self) {
        self.notified.store(true, Ordering::SeqCst);
    }
}

fn dup(fd: std::os::fd::RawFd) -> io::Result<OwnedFd> {
    // SAFETY: borrows an fd the driver keeps open for this call; try_clone_to_owned dups it.
    unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) }.try_clone_to_owned()
}

/// The live core with id `id` (the id packed into wakers), if any.
pub(crate) fn lookup(id: u16) -> Option<Arc<CoreShared>> {
    registry()
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(id as usize)
        .cloned()
}

/// What the cores of one `run_per_core` call share: how to reach each other.
pub(crate) struct RuntimeShared {
    pub(crate) cores: RwLock<Vec<Option<Arc<CoreShared>>>>,
}

impl RuntimeShared {
    pub(crate) fn new(cores: usize) -> Arc<RuntimeShared> {
        Arc::new(RuntimeShared {
            cores: RwLock::new(vec![None; cores]),
        })
    }
}
