//! Provided-buffer pools: a per-core ring of buffers (`IORING_REGISTER_PBUF_RING`) from which
//! the kernel picks one per multishot recv completion. A received buffer is lent to the
//! caller as a [`ProvidedBuf`] and returns to the ring when dropped, so idle connections hold
//! no read buffer.

use std::cell::RefCell;
use std::io;
use std::rc::Rc;

use uring_sys::BufRing;

use crate::executor::context;

struct Pool {
    ring: BufRing,
    memory: Vec<u8>,
    buf_len: usize,
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Every lent buffer and every op that may pick from this group hold the Pool, so the
        // kernel writes into none of it now; unregister before the memory goes.
        let group = self.ring.group();
        let _ = context::with_driver(|d| d.ring().unregister_buf_ring(group));
    }
}

/// A pool of `count` buffers of `len` bytes registered as buffer group `group` with the
/// current core's ring. Clone it to share among ops on the same core.
#[derive(Clone)]
pub struct BufPool {
    inner: Rc<RefCell<Pool>>,
    group: u16,
}

impl std::fmt::Debug for BufPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BufPool")
            .field("group", &self.group)
            .finish()
    }
}

impl BufPool {
    /// Registers a pool; `count` must be a power of two (at most 32768).
    ///
    /// # Errors
    /// Outside a runtime; EINVAL before 5.19 (no buffer rings) or for a group in use.
    pub fn new(group: u16, count: u16, len: usize) -> io::Result<BufPool> {
        let ring = context::with_driver(|d| d.ring().setup_buf_ring(count, group))??;
        let mut pool = Pool {
            ring,
            memory: vec![0u8; count as usize * len],
            buf_len: len,
        };
        for bid in 0..count {
            pool.give_back(bid);
        }
        pool.ring.publish();
        Ok(BufPool {
            inner: Rc::new(RefCell::new(pool)),
            group,
        })
    }

    /// The buffer group id to put in SQEs (`buffer_select`).
    pub fn group(&self) -> u16 {
        self.group
    }

    /// Each buffer's size.
    pub fn buf_len(&self) -> usize {
        self.inner.borrow().buf_len
    }

    /// Takes buffer `bid`, which the kernel filled with `len` bytes (from a CQE with
    /// `IORING_CQE_F_BUFFER`); it returns to the ring when dropped.
    pub fn take(&self, bid: u16, len: usize) -> ProvidedBuf {
        ProvidedBuf {
            pool: self.inner.clone(),
            bid,
            len: len.min(self.buf_len()),
        }
    }

    /// Puts buffer `bid` back without lending it (for CQEs nobody will read).
    pub fn recycle(&self, bid: u16) {
        let mut p = self.inner.borrow_mut();
        p.give_back(bid);
        p.ring.publish();
    }
}

impl Pool {
    fn give_back(&mut self, bid: u16) {
        let offset = bid as usize * self.buf_len;
        let ptr = self.memory[offset..offset + self.buf_len].as_mut_ptr();
        // SAFETY: the range is buffer `bid` of our memory, which this Pool owns and frees only
        // after unregistering the ring; nobody holds it (its ProvidedBuf was dropped, or it
        // was never lent), so the kernel may write it.
        unsafe { self.ring.push(ptr, self.buf_len as u32, bid) };
    }
}

/// A buffer the kernel filled, lent from a [`BufPool`]; back to the ring on drop.
pub struct ProvidedBuf {
    pool: Rc<RefCell<Pool>>,
    bid: u16,
    len: usize,
}

impl ProvidedBuf {
    /// The received bytes, copied out into a fresh slice reference scope.
    pub fn with<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        let pool = self.pool.borrow();
        let offset = self.bid as usize * pool.buf_len;
        f(&pool.memory[offset..offset + self.len])
    }

    /// The received bytes as a new Vec.
    pub fn to_vec(&self) -> Vec<u8> {
        self.with(<[u8]>::to_vec)
    }

    /// How many bytes were received.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing was received (end of stream).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The buffer id.
    pub fn bid(&self) -> u16 {
        self.bid
    }
}

impl std::fmt::Debug for ProvidedBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProvidedBuf")
            .field("bid", &self.bid)
            .field("len", &self.len)
            .finish()
    }
}

impl Drop for ProvidedBuf {
    fn drop(&mut self) {
        let mut p = self.pool.borrow_mut();
        p.give_back(self.bid);
        p.ring.publish();
    }
}
