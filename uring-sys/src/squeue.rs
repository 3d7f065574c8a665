//! The submission queue: SQEs are written into the shared ring and published by a Release
//! store of the tail, which the kernel reads with Acquire.

use std::rc::Rc;
use std::sync::atomic::{self, AtomicU32, Ordering};

use crate::abi::{self, io_uring_sqe};
use crate::ring::RingMaps;
use crate::sqe::Sqe;

/// The SQ has no free entry: submit (`Ring::submit`) to let the kernel consume some, then
/// push again. Carries nothing: the caller still holds the SQE it tried to push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqFull;

impl std::fmt::Display for SqFull {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("io_uring submission queue is full: submit pending entries, then retry")
    }
}

impl std::error::Error for SqFull {}

impl From<SqFull> for std::io::Error {
    fn from(e: SqFull) -> Self {
        std::io::Error::new(std::io::ErrorKind::WouldBlock, e)
    }
}

/// The submission side of a [`crate::Ring`].
///
/// Pointers point into the SQ ring and SQE mappings that `_maps` keeps alive (wherever safe
/// code moves this queue); the type is `!Send` and is only reachable through `&mut Ring`, so
/// one thread writes it.
#[derive(Debug)]
pub struct SubmissionQueue {
    pub(crate) khead: *const AtomicU32,
    pub(crate) ktail: *const AtomicU32,
    pub(crate) kflags: *const AtomicU32,
    pub(crate) kdropped: *const AtomicU32,
    pub(crate) sqes: *mut io_uring_sqe,
    pub(crate) mask: u32,
    pub(crate) entries: u32,
    /// Our tail: entries up to here are written; the kernel sees them after [`Self::sync`].
    pub(crate) tail: u32,
    pub(crate) _maps: Rc<RingMaps>,
}

impl SubmissionQueue {
    /// The kernel's head: entries before it have been consumed.
    #[inline]
    fn head(&self) -> u32 {
        // SAFETY: khead points into the SQ ring mapping that `_maps` keeps. Acquire pairs with
        // the kernel's release of the head, so the slots before it are free for reuse.
        unsafe { (*self.khead).load(Ordering::Acquire) }
    }

    /// Number of SQ entries.
    #[inline]
    pub fn capacity(&self) -> u32 {
        self.entries
    }

    /// Entries written and not yet consumed by the kernel (published or not).
    #[inline]
    pub fn len(&self) -> u32 {
        self.tail.wrapping_sub(self.head())
    }

    /// Whether no entry waits for the kernel.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Free entries right now.
    #[inline]
    pub fn space_left(&self) -> u32 {
        self.entries - self.len()
    }

    /// Whether no entry is free.
    #[inline]
    pub fn is_full(&self) -> bool {
        self.len() == self.entries
    }

    /// Copies `sqe` into the next free entry. It becomes visible to the kernel at the next
    /// [`Self::sync`] (done by every `Ring::submit*`).
    ///
    /// # Errors
    /// [`SqFull`] when every entry is taken; nothing is written.
    ///
    /// # Safety
    /// Every address in `sqe` (buffers, iovecs, sockaddrs, paths, timespecs) must stay valid,
    /// and unaliased where the kernel writes, until the CQE for it has been reaped (for a
    /// multishot or zero-copy op: its last CQE). Every fd in it must stay open until then.
    #[inline]
    pub unsafe fn push(&mut self, sqe: &Sqe) -> Result<(), SqFull> {
        if self.is_full() {
            return Err(SqFull);
        }
        // SAFETY: the slot `tail & mask` lies within the SQE array that `_maps` keeps (mask =
        // entries - 1) and is free: is_full() said the kernel consumed it (head Acquire
        // above). Only we write it.
        unsafe { self.sqes.add((self.tail & self.mask) as usize).write(sqe.0) };
        self.tail = self.tail.wrapping_add(1);
        Ok(())
    }

    /// Pushes all of `sqes` or none of them: a linked chain must not be split by a full
    /// queue.
    ///
    /// # Errors
    /// [`SqFull`] when fewer than `sqes.len()` entries are free; nothing is written.
    ///
    /// # Safety
    /// As for [`Self::push`], for every SQE.
    pub unsafe fn push_all(&mut self, sqes: &[Sqe]) -> Result<(), SqFull> {
        if (self.space_left() as usize) < sqes.len() {
            return Err(SqFull);
        }
        for sqe in sqes {
            // SAFETY: space checked above; the caller upholds the pointer contract.
            unsafe { self.push(sqe)? };
        }
        Ok(())
    }

    /// Publishes the entries pushed so far: a Release store of the tail, so the kernel (or the
    /// SQPOLL thread) that loads it with Acquire also sees the SQE contents.
    #[inline]
    pub fn sync(&mut self) {
        // SAFETY: ktail points into the SQ ring mapping that `_maps` keeps; only we write the
        // tail (the queue is reachable only through `&mut`).
        unsafe { (*self.ktail).store(self.tail, Ordering::Release) };
    }

    /// The SQ ring flags (`IORING_SQ_*`).
    #[inline]
    pub fn flags(&self) -> u32 {
        // SAFETY: kflags points into the mapping `_maps` keeps; the kernel updates it atomically.
        unsafe { (*self.kflags).load(Ordering::Relaxed) }
    }

    /// Whether the SQPOLL thread sleeps and needs `IORING_ENTER_SQ_WAKEUP`.
    ///
    /// A full fence first (as liburing's `io_uring_smp_mb`): the tail store must be visible
    /// before we read the flag, or the thread may go idle between the two and miss our SQEs.
    #[inline]
    pub fn need_wakeup(&self) -> bool {
        atomic::fence(Ordering::SeqCst);
        self.flags() & abi::IORING_SQ_NEED_WAKEUP != 0
    }

    /// Whether CQEs overflowed into the kernel's backlog (`IORING_SQ_CQ_OVERFLOW`): an enter
    /// with `IORING_ENTER_GETEVENTS` flushes them once the CQ has room.
    #[inline]
    pub fn cq_overflow(&self) -> bool {
        self.flags() & abi::IORING_SQ_CQ_OVERFLOW != 0
    }

    /// Whether task work waits for an enter (`IORING_SQ_TASKRUN`, with TASKRUN_FLAG).
    #[inline]
    pub fn taskrun(&self) -> bool {
        self.flags() & abi::IORING_SQ_TASKRUN != 0
    }

    /// The consumer's side of a user-space ring (`Ring::user_space_side`): takes the SQE at
    /// the head if one is published, and releases its entry to the producer.
    pub(crate) fn consume(&mut self) -> Option<Sqe> {
        // SAFETY: khead/ktail point into the SQ ring mapping that `_maps` keeps. Only the
        // user-space side (on this thread, through `&mut Ring`) writes the head of a
        // user-space ring. Acquire on the tail pairs with `sync`'s Release, so the entry
        // before it is fully written.
        let head = unsafe { (*self.khead).load(Ordering::Relaxed) };
        // SAFETY: as above.
        let tail = unsafe { (*self.ktail).load(Ordering::Acquire) };
        if head == tail {
            return None;
        }
        // SAFETY: the slot `head & mask` lies within the SQE array `_maps` keeps; the SQ
        // index array is the identity (set up at ring creation), so it is the entry itself.
        let sqe = unsafe { self.sqes.add((head & self.mask) as usize).read() };
        // SAFETY: as above. Release: our read of the entry happens before `push` reuses it.
        unsafe { (*self.khead).store(head.wrapping_add(1), Ordering::Release) };
        Some(Sqe(sqe))
    }

    /// Sets or clears an `IORING_SQ_*` flag (the kernel's job; for a user-space ring).
    pub(crate) fn set_flag(&mut self, flag: u32, on: bool) {
        // SAFETY: kflags points into the mapping `_maps` keeps; it is an atomic word.
        let flags = unsafe { &*self.kflags };
        if on {
            flags.fetch_or(flag, Ordering::Release);
        } else {
            flags.fetch_and(!flag, Ordering::Release);
        }
    }

    /// SQEs the kernel dropped as invalid (bad index in the SQ array).
    #[inline]
    pub fn dropped(&self) -> u32 {
        // SAFETY: kdropped points into the SQ ring mapping that `_maps` keeps.
        unsafe { (*self.kdropped).load(Ordering::Relaxed) }
    }
}
