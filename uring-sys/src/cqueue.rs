//! The completion queue: the kernel publishes CQEs with a Release store of the tail; we read
//! them after an Acquire load of it and hand the slots back with a Release store of the head.

use std::rc::Rc;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::abi::{self, io_uring_cqe};
use crate::ring::RingMaps;
use crate::sqe::Cqe;

/// The completion side of a [`crate::Ring`].
///
/// Pointers point into the CQ ring mapping that `_maps` keeps alive (wherever safe code moves
/// this queue); the type is `!Send` and only reachable through `&mut Ring`.
#[derive(Debug)]
pub struct CompletionQueue {
    pub(crate) khead: *const AtomicU32,
    pub(crate) ktail: *const AtomicU32,
    pub(crate) kflags: *const AtomicU32,
    pub(crate) koverflow: *const AtomicU32,
    pub(crate) cqes: *const io_uring_cqe,
    pub(crate) mask: u32,
    pub(crate) entries: u32,
    /// log2 of the CQE size in 16-byte units (1 with `IORING_SETUP_CQE32`).
    pub(crate) shift: u32,
    /// Our head; the kernel's copy is updated after each reap.
    pub(crate) head: u32,
    pub(crate) _maps: Rc<RingMaps>,
}

impl CompletionQueue {
    #[inline]
    fn tail(&self) -> u32 {
        // SAFETY: ktail points into the CQ ring mapping that `_maps` keeps. Acquire pairs with
        // the kernel's Release store, so the CQEs before the tail are fully written.
        unsafe { (*self.ktail).load(Ordering::Acquire) }
    }

    /// Number of CQ entries.
    #[inline]
    pub fn capacity(&self) -> u32 {
        self.entries
    }

    /// CQEs ready to reap.
    #[inline]
    pub fn len(&self) -> u32 {
        self.tail().wrapping_sub(self.head)
    }

    /// Whether no CQE is ready.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes the next CQE out of the ring, if any, and gives its slot back to the kernel.
    #[inline]
    pub fn pop(&mut self) -> Option<Cqe> {
        if self.head == self.tail() {
            return None;
        }
        let index = ((self.head & self.mask) << self.shift) as usize;
        // SAFETY: index is within the CQE array that `_maps` keeps (mask = entries - 1, scaled
        // for CQE32), and the entry is published: head != tail, loaded with Acquire above.
        let cqe = unsafe { self.cqes.add(index).read() };
        self.head = self.head.wrapping_add(1);
        // SAFETY: khead points into the CQ ring mapping that `_maps` keeps; only we write the
        // head. Release: our read of the entry happens before the kernel may overwrite it.
        unsafe { (*self.khead).store(self.head, Ordering::Release) };
        Some(Cqe(cqe))
    }

    /// The producer's side of a user-space ring (`Ring::user_space_side`): writes `cqe` at
    /// the tail and publishes it, or hands it back when the CQ is full.
    pub(crate) fn post(&mut self, cqe: Cqe) -> Result<(), Cqe> {
        // SAFETY: ktail/khead point into the CQ ring mapping that `_maps` keeps; only the
        // user-space side writes the tail of a user-space ring. Acquire on the head pairs
        // with `pop`'s Release: the reaper is done with the entries before it.
        let tail = unsafe { (*self.ktail).load(Ordering::Relaxed) };
        // SAFETY: as above.
        let head = unsafe { (*self.khead).load(Ordering::Acquire) };
        if tail.wrapping_sub(head) >= self.entries {
            return Err(cqe);
        }
        let index = ((tail & self.mask) << self.shift) as usize;
        // SAFETY: index is within the CQE array (mask = entries - 1) and the entry is free
        // (the check above). The pointer is only read elsewhere, never through a reference.
        unsafe { self.cqes.cast_mut().add(index).write(cqe.0) };
        // SAFETY: as above. Release: the entry is written before the reaper sees the tail.
        unsafe { (*self.ktail).store(tail.wrapping_add(1), Ordering::Release) };
        Ok(())
    }

    /// CQEs the kernel dropped because the CQ was full and it could not keep them
    /// (only without `IORING_FEAT_NODROP`, before 5.5).
    #[inline]
    pub fn overflow(&self) -> u32 {
        // SAFETY: koverflow points into the CQ ring mapping that `_maps` keeps.
        unsafe { (*self.koverflow).load(Ordering::Relaxed) }
    }

    /// Turns eventfd notifications off or on (`IORING_CQ_EVENTFD_DISABLED`).
    pub fn set_eventfd_enabled(&mut self, enabled: bool) {
        if self.kflags.is_null() {
            return;
        }
        // SAFETY: kflags points into the CQ ring mapping that `_maps` keeps; the kernel only
        // reads it.
        let flags = unsafe { &*self.kflags };
        if enabled {
            flags.fetch_and(!abi::IORING_CQ_EVENTFD_DISABLED, Ordering::Release);
        } else {
            flags.fetch_or(abi::IORING_CQ_EVENTFD_DISABLED, Ordering::Release);
        }
    }
}

impl Iterator for CompletionQueue {
    type Item = Cqe;

    fn next(&mut self) -> Option<Cqe> {
        self.pop()
    }
}
