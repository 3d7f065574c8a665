//! Provided-buffer pools: a per-core ring of buffers (`IORING_REGISTER_PBUF_RING`) from which
//! the kernel picks one per multishot recv completion. A received buffer is lent to the
//! caller as a [`ProvidedBuf`] and returns to the ring when dropped, so idle connections hold
//! no read buffer.
//!
//! The ring holds only a window of the free buffers ([`FIRST_WINDOW`] at first); the rest
//! wait on a stack. The kernel takes ring entries first in, first out, so with every free
//! buffer in the ring a buffer came back to a receive only after all the others: with 1,024
//! of them, each receive copied into memory last touched a thousand receives before, out of
//! cache, and a server's first thousand receives each faulted in a fresh page. With the
//! window a dropped buffer goes back to the ring (the stack once the ring holds the window),
//! and the stack refills the ring when held buffers leave it below half the window. The
//! window doubles once per shortage (the kernel found the ring empty while the stack was
//! not: see [`BufPool::poll_refilled`]) and halves again when a long stretch of hand-overs
//! never took more than a quarter of it, down to the first window.

use std::cell::RefCell;
use std::io;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use uring_sys::BufRing;

use super::io_buf::IoBuf;
use crate::op::RingHandle;

struct Pool {
    /// `None` only once dropped (the ring and memory go to the unregistering call).
    ring: Option<BufRing>,
    memory: Vec<u8>,
    buf_len: usize,
    /// Bytes from one buffer's start to the next's: see [`buf_stride`].
    stride: usize,
    count: usize,
    /// Buffers lent out as `ProvidedBuf`s now.
    lent: usize,
    /// Buffers pushed to the ring and not yet handed back by `take`/`recycle`: the most the
    /// ring holds (the kernel may have taken some whose CQEs are not reaped or not polled).
    in_ring: usize,
    /// How many buffers the ring is kept topped up to, from `spare`.
    window: usize,
    /// Free buffers outside the ring, the one returned last on top.
    spare: Vec<u16>,
    /// Buffers ever pushed to the ring: a [`RingMark`] is this count.
    pushes: u64,
    /// `pushes` when the window last doubled: one shortage doubles it once, however many
    /// receives armed before it ran into it.
    widened_at: u64,
    /// Hand-overs left before the window's use is judged, and the fewest buffers the ring
    /// held after one of them since it last was (see [`Pool::handed_over`]).
    until_judged: usize,
    low: usize,
    /// Tasks waiting for a buffer to be pushed to the ring ([`BufPool::poll_refilled`]).
    waiting: Vec<Waker>,
    /// The ring the group is registered with.
    owner: RingHandle,
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Every lent buffer and every op that may pick from this group hold the Pool, so the
        // kernel writes into none of it now. Unregister on the pool's own ring (wherever
        // this drop runs; from inside the driver, once its borrow ends), and free the memory
        // only after that: if the kernel refuses, it is leaked rather than freed.
        let Some(ring) = self.ring.take() else { return };
        let memory = std::mem::take(&mut self.memory);
        self.owner
            .0
            .with_or_defer(move |d| match d.unregister_buf_ring(ring.group()) {
                Ok(()) => drop((ring, memory)),
                Err(e) => {
                    tracing::warn!(group = ring.group(), error = %e,
                        "could not unregister a provided-buffer ring; leaking its memory");
                    std::mem::forget((ring, memory));
                }
            });
    }
}

/// A pool of `count` buffers of `len` bytes registered as buffer group `group` with the
/// current core's ring. Clone it to share among ops on the same core.
#[derive(Clone)]
pub struct BufPool {
    inner: Rc<RefCell<Pool>>,
    group: u16,
    ring: RingHandle,
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
    /// `InvalidInput` for a `count` that is not a power of two, a `len` of 0 or over 32
    /// bits, or `count` buffers of `len` bytes (padded, see [`BufPool::memory_len`]) past the
    /// machine's memory; `OutOfMemory` when they cannot be allocated (a memory limit);
    /// outside a runtime; EINVAL before 5.19 (no buffer rings) or for a group in use.
    pub fn new(group: u16, count: u16, len: usize) -> io::Result<BufPool> {
        let stride = check_geometry(count, len)?;
        let owner = RingHandle::current()?;
        // Before the group is registered, so that a failure leaves nothing behind.
        let memory = super::zeroed_memory(
            count as usize * stride,
            &format!("BufPool: {count} buffers of {len} bytes"),
        )?;
        let ring = owner.0.try_with(|d| d.setup_buf_ring(count, group))?;
        let mut pool = Pool {
            ring: Some(ring),
            memory,
            buf_len: len,
            stride,
            count: count as usize,
            lent: 0,
            in_ring: 0,
            window: FIRST_WINDOW.min(count as usize),
            spare: Vec::with_capacity(count as usize),
            pushes: 0,
            widened_at: 0,
            until_judged: 4 * FIRST_WINDOW.min(count as usize),
            low: usize::MAX,
            waiting: Vec::new(),
            owner: owner.clone(),
        };
        // Buffer 0 is taken first: the spare stack is popped from its end.
        for bid in (0..count).rev() {
            pool.spare.push(bid);
        }
        pool.top_up();
        pool.publish();
        Ok(BufPool {
            inner: Rc::new(RefCell::new(pool)),
            group,
            ring: owner,
        })
    }

    /// The buffer group id to put in SQEs (`buffer_select`).
    pub fn group(&self) -> u16 {
        self.group
    }

    /// The ring the group is registered with: an op that selects from this pool returns it
    /// from [`bound_ring`](crate::op::Operation::bound_ring), since the same group id on
    /// another ring names other buffers.
    pub fn ring(&self) -> &RingHandle {
        &self.ring
    }

    /// Each buffer's size.
    pub fn buf_len(&self) -> usize {
        self.inner.borrow().buf_len
    }

    /// The bytes of memory the pool's buffers take: `count` buffers, each padded to an odd
    /// number of 64-byte cache lines (so that buffers do not all start in the same cache
    /// sets), at most 127 bytes more per buffer than `buf_len`.
    pub fn memory_len(&self) -> usize {
        self.inner.borrow().memory.len()
    }

    /// Takes buffer `bid`, which the kernel filled with `len` bytes, out of the ring; it
    /// returns to the ring when dropped.
    ///
    /// # Safety
    /// `bid` must come from a CQE (`IORING_CQE_F_BUFFER`) of an op that selected from this
    /// pool's group on this pool's [ring](BufPool::ring), and must not have been taken or
    /// recycled since: the kernel handed it over with that CQE, once. Any other `bid` may
    /// still be in the ring, where the kernel writes into it while the caller reads it.
    ///
    /// # Panics
    /// If `bid` is not a buffer of this pool.
    pub unsafe fn take(&self, bid: u16, len: usize) -> ProvidedBuf {
        let (ptr, wake) = {
            let mut p = self.inner.borrow_mut();
            p.lent += 1;
            let refilled = p.handed_over();
            (p.buf_ptr(bid), refilled && !p.waiting.is_empty())
        };
        if wake {
            self.wake_waiting();
        }
        ProvidedBuf {
            home: Home::Pool(self.inner.clone(), bid),
            ptr,
            len: len.min(self.buf_len()),
        }
    }

    /// Puts buffer `bid` back without lending it (for CQEs nobody will read).
    ///
    /// # Safety
    /// As for [`BufPool::take`]: `bid` came with a CQE of this pool's ring and was not taken
    /// or recycled since. Putting back a buffer that is in the ring or lent lets the kernel
    /// write into memory someone else reads.
    pub unsafe fn recycle(&self, bid: u16) {
        let mut p = self.inner.borrow_mut();
        p.handed_over();
        p.put_free(bid);
        p.publish();
        let waiting = std::mem::take(&mut p.waiting);
        drop(p);
        waiting.into_iter().for_each(Waker::wake);
    }

    /// Wakes the tasks waiting for a push, outside the pool's borrow (a waker may run code
    /// that uses the pool).
    #[cold]
    fn wake_waiting(&self) {
        let waiting = std::mem::take(&mut self.inner.borrow_mut().waiting);
        waiting.into_iter().for_each(Waker::wake);
    }

    /// Where the ring stands now: take it before submitting an op that selects from the pool,
    /// and give it to [`BufPool::poll_refilled`] if the op gets ENOBUFS.
    pub fn mark(&self) -> RingMark {
        RingMark(self.inner.borrow().pushes)
    }

    /// After an op armed at `since` got ENOBUFS (the kernel found the ring empty; a
    /// multishot receive ends with it): Ready once a buffer went into the ring after
    /// `since`, so that the op can go again; Pending until then, woken by the next push (a
    /// dropped buffer, a refill). Buffers held anywhere, by the caller, by other receives or
    /// in CQEs not yet polled, never make it go again into another ENOBUFS at once.
    ///
    /// The ring holds a window of the free buffers, not all (see the module docs), so the
    /// kernel can find it empty while spare buffers wait. Then this doubles the window (up to
    /// every buffer) and refills the ring, once per shortage: receives armed before an
    /// earlier doubling re-arm without doubling it again. The `net` crate's receive streams
    /// call this; an op of your own that selects from the pool should too.
    pub fn poll_refilled(&self, since: RingMark, cx: &mut Context<'_>) -> Poll<()> {
        let mut p = self.inner.borrow_mut();
        if !p.spare.is_empty() && p.widened_at <= since.0 && p.window < p.count {
            p.window = (p.window * 2).min(p.count);
            p.until_judged = 4 * p.window;
            p.low = usize::MAX;
            p.top_up();
            p.publish();
            // Receives armed from here on may double it again on a shortage of their own.
            p.widened_at = p.pushes;
        }
        if p.pushes > since.0 {
            return Poll::Ready(());
        }
        if !p.waiting.iter().any(|w| w.will_wake(cx.waker())) {
            p.waiting.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

/// Refuses pool shapes the kernel cannot use or that would make a receive stream end early
/// (a zero-byte buffer reads as end of stream); returns the stride for `len`.
fn check_geometry(count: u16, len: usize) -> io::Result<usize> {
    let bad = |why: String| Err(io::Error::new(io::ErrorKind::InvalidInput, why));
    if count == 0 || !count.is_power_of_two() {
        return bad(format!(
            "BufPool: count {count} must be a power of two from 1 to 32768"
        ));
    }
    if len == 0 || len > u32::MAX as usize {
        return bad(format!(
            "BufPool: buffer length {len} must be from 1 byte to 4 GiB - 1 (the kernel's \
             buffer length is 32 bits)"
        ));
    }
    let Some(stride) = buf_stride(len) else {
        return bad(format!(
            "BufPool: a buffer of {len} bytes, padded, is past this target's address space"
        ));
    };
    super::check_fits_in_memory(
        (count as usize).checked_mul(stride),
        &format!("BufPool: {count} buffers of {len} bytes"),
    )?;
    Ok(stride)
}

/// Where a pool's ring stood when an op that selects from it was armed: see
/// [`BufPool::mark`] and [`BufPool::poll_refilled`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingMark(u64);

/// The ring's first window (see the module docs): enough for a loop turn's receives on a few
/// dozen busy connections without a refill; it widens when a turn takes more.
const FIRST_WINDOW: usize = 64;

/// A cache line, as far as buffer layout cares.
const LINE: usize = 64;

/// The distance between consecutive buffers of `len` bytes: whole cache lines, an odd number
/// of them. Caches pick a line's set from the low bits of its address, so buffers a power of
/// two apart (16 KiB) start in the same few sets, and a receive shorter than the buffer (the
/// usual case: buffers are sized for the largest) lands in a quarter or less of the cache.
/// The kernel takes buffers in ring order, so the copy of each receive missed: with 16 KiB
/// buffers and 4 KiB echoes, the receive copy was a fifth of the server's CPU. An odd number
/// of lines is coprime with every power-of-two set count, so consecutive buffers start one
/// set further on and their first lines cover every set. At most 127 bytes more than `len`;
/// `None` where that is past `usize` (only on 32-bit targets, for a `len` near 4 GiB).
fn buf_stride(len: usize) -> Option<usize> {
    let lines = len.div_ceil(LINE);
    (lines | 1).checked_mul(LINE)
}

impl Pool {
    /// The first byte of buffer `bid`, without making a reference to the memory (which the
    /// kernel and lent buffers use meanwhile): `Vec::as_mut_ptr` promises not to.
    fn buf_ptr(&mut self, bid: u16) -> *mut u8 {
        let offset = bid as usize * self.stride;
        assert!(
            offset + self.buf_len <= self.memory.len(),
            "buffer id {bid} is not in this pool"
        );
        self.memory.as_mut_ptr().wrapping_add(offset)
    }

    /// A CQE handed a buffer back: one fewer in the ring. Below half the window the ring is
    /// refilled from the spare stack; above, the buffer's own return refills it (an echo's
    /// buffer comes back within the turn), which keeps the stack out of the common path.
    /// Every `4 x window` hand-overs the window's use is judged: if the ring never held
    /// fewer than three quarters of it, a burst that doubled it is over, and it halves
    /// (down to the first window). Returns whether the ring was refilled.
    #[inline]
    fn handed_over(&mut self) -> bool {
        debug_assert!(
            self.in_ring > 0,
            "a buffer handed over that was not in the ring"
        );
        self.in_ring = self.in_ring.saturating_sub(1);
        self.low = self.low.min(self.in_ring);
        self.until_judged -= 1;
        if self.until_judged == 0 {
            self.judge_window();
        }
        if self.in_ring < self.window / 2 && !self.spare.is_empty() {
            self.top_up();
            self.publish();
            return true;
        }
        false
    }

    /// Halves a window that the last period used a quarter of at most; starts a new period.
    #[cold]
    fn judge_window(&mut self) {
        let first = FIRST_WINDOW.min(self.count);
        if self.window > first && self.low >= self.window - self.window / 4 {
            // The ring may hold more than the new window for a while: returns go to the
            // stack until the kernel has taken the excess.
            self.window /= 2;
        }
        self.until_judged = 4 * self.window;
        self.low = usize::MAX;
    }

    /// A free buffer (dropped, or handed back unread): into the ring while the ring holds
    /// fewer than the window, else on top of the spare stack. Needs a [`Pool::publish`].
    #[inline]
    fn put_free(&mut self, bid: u16) {
        if self.in_ring < self.window {
            self.give_back(bid);
        } else {
            self.spare.push(bid);
        }
    }

    /// Moves spare buffers into the ring, the top first, until it holds the window (the
    /// caller publishes).
    fn top_up(&mut self) {
        while self.in_ring < self.window {
            let Some(bid) = self.spare.pop() else { break };
            self.give_back(bid);
        }
    }

    /// Pushes `bid` to the ring (the caller publishes).
    fn give_back(&mut self, bid: u16) {
        self.in_ring += 1;
        self.pushes += 1;
        let ptr = self.buf_ptr(bid);
        let len = self.buf_len as u32;
        if let Some(ring) = self.ring.as_mut() {
            // SAFETY: the range is buffer `bid` of our memory, which this Pool owns and frees
            // only after unregistering the ring; nobody holds it (its ProvidedBuf was dropped,
            // or it was never lent, or `take`/`recycle`'s contract says the kernel returned
            // it), so the kernel may write it.
            unsafe { ring.push(ptr, len, bid) };
        }
    }

    fn publish(&mut self) {
        if let Some(ring) = self.ring.as_mut() {
            ring.publish();
        }
    }
}

/// A buffer the kernel filled, lent from a [`BufPool`]; back to the ring on drop.
///
/// It is an [`IoBuf`], so it can be written out without a copy (an echo: `write_all(buf)`);
/// it stays out of the ring until that write's op is done with it.
pub struct ProvidedBuf {
    home: Home,
    /// The first byte: buffer `bid`'s in its pool's memory, or the owned copy's.
    ptr: *mut u8,
    len: usize,
}

/// Where a [`ProvidedBuf`]'s bytes live.
enum Home {
    /// Buffer `bid` of a pool, out of the ring while lent.
    Pool(Rc<RefCell<Pool>>, u16),
    /// A heap copy: bytes that an abandoned receive took from the socket, handed to the next
    /// reader in order (see [`ProvidedBuf::from_vec`]).
    /// The copy, kept alive for `ptr` (read only through it).
    Owned { _bytes: Vec<u8> },
}

impl ProvidedBuf {
    /// Bytes received earlier and kept on the heap (not in a pool): what a receive that was
    /// dropped after the kernel delivered had taken from the socket, handed to the next
    /// receive of the same stream so nothing is lost.
    pub fn from_vec(mut bytes: Vec<u8>) -> ProvidedBuf {
        // A Vec, not a Box: moving it keeps the pointer taken here valid.
        ProvidedBuf {
            ptr: bytes.as_mut_ptr(),
            len: bytes.len(),
            home: Home::Owned { _bytes: bytes },
        }
    }

    /// Runs `f` on the received bytes.
    pub fn with<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        f(self)
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

    /// The buffer id in its pool; `None` for bytes kept on the heap
    /// ([`ProvidedBuf::from_vec`]).
    pub fn bid(&self) -> Option<u16> {
        match self.home {
            Home::Pool(_, bid) => Some(bid),
            Home::Owned { .. } => None,
        }
    }
}

impl std::fmt::Debug for ProvidedBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProvidedBuf")
            .field("bid", &self.bid())
            .field("len", &self.len)
            .finish()
    }
}

// SAFETY: with `Home::Pool`, `ptr` is buffer `bid` of the pool's memory, whose first `len`
// bytes (`len` is at most `buf_len`) are initialized (the memory starts zeroed; the kernel
// wrote the received bytes). That memory never moves (the pool never resizes its Vec) and is
// freed only with the pool, which this value keeps alive through `home` until it drops. While
// lent, the buffer is out of the ring, so the kernel does not write it, and nobody gets a
// `&mut` to it. With `Home::Owned`, `ptr..ptr + len` is the Vec this value owns: heap
// memory that does not move with it and is never written after `from_vec`.
unsafe impl IoBuf for ProvidedBuf {
    fn stable_ptr(&self) -> *const u8 {
        self.ptr
    }
    fn bytes_init(&self) -> usize {
        self.len
    }
    fn bytes_total(&self) -> usize {
        self.len
    }
}

impl std::ops::Deref for ProvidedBuf {
    type Target = [u8];

    /// The received bytes.
    fn deref(&self) -> &[u8] {
        // SAFETY: `ptr..ptr + len` is this buffer's part of the pool's memory or its owned copy
        // (the IoBuf impl above says why it is valid and initialized); while lent it is out of
        // the ring, so the kernel does not write it, and nobody has a `&mut` to it. The slice
        // covers only this buffer, never the pool's other buffers the kernel may be writing.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl Drop for ProvidedBuf {
    fn drop(&mut self) {
        let Home::Pool(pool, bid) = &self.home else {
            return;
        };
        let mut p = pool.borrow_mut();
        p.lent -= 1;
        p.put_free(*bid);
        p.publish();
        // Nobody waits, as a rule: a pool rarely runs dry.
        if p.waiting.is_empty() {
            return;
        }
        // Wake outside the borrow: a waker may run code that uses the pool.
        let waiting = std::mem::take(&mut p.waiting);
        drop(p);
        waiting.into_iter().for_each(Waker::wake);
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;

    use uring_sys::{Sqe, prep};

    use super::*;
    use crate::op::{Completion, Op, Operation};

    /// A read into a buffer the kernel picks from `pool`.
    struct ReadSelect {
        fd: i32,
        pool: BufPool,
    }

    // SAFETY: the SQE names no memory but buffer group `pool.group()`, which `pool` (held
    // until the CQE) keeps registered and alive.
    unsafe impl Operation for ReadSelect {
        type Output = io::Result<ProvidedBuf>;
        fn sqe(&mut self) -> Sqe {
            let len = self.pool.buf_len() as u32;
            prep::prep_read(self.fd, std::ptr::null_mut(), len, u64::MAX)
                .buffer_select(self.pool.group())
        }
        fn complete(self, result: io::Result<u32>, cqe: Completion) -> Self::Output {
            let n = result?;
            let bid = cqe
                .buffer_id()
                .expect("a buffer-select read names its buffer");
            // SAFETY: the CQE of this op, bound to the pool's ring, handed `bid` over.
            Ok(unsafe { self.pool.take(bid, n as usize) })
        }
        fn bound_ring(&self) -> Option<&crate::op::RingHandle> {
            Some(self.pool.ring())
        }
    }

    /// A write of an owned buffer.
    struct WriteOp<B> {
        fd: i32,
        buf: B,
    }

    // SAFETY: the SQE points into `buf` (an IoBuf: stable), owned by the op until its CQE.
    unsafe impl<B: IoBuf> Operation for WriteOp<B> {
        type Output = (io::Result<u32>, B);
        fn sqe(&mut self) -> Sqe {
            prep::prep_write(
                self.fd,
                self.buf.stable_ptr(),
                self.buf.bytes_init() as u32,
                u64::MAX,
            )
        }
        fn complete(self, result: io::Result<u32>, _: Completion) -> Self::Output {
            (result, self.buf)
        }
    }

    #[test]
    fn a_lent_buffer_is_written_out_as_is() {
        let (a_rx, mut a_tx) = std::io::pipe().unwrap();
        let (mut b_rx, b_tx) = std::io::pipe().unwrap();
        crate::Runtime::new().unwrap().block_on(async {
            let pool = BufPool::new(7, 4, 64).unwrap();
            a_tx.write_all(b"hello").unwrap();
            let buf = Op::new(ReadSelect {
                fd: a_rx.as_raw_fd(),
                pool: pool.clone(),
            })
            .await
            .unwrap();
            assert_eq!((buf.len(), buf.bytes_init(), buf.bytes_total()), (5, 5, 5));
            buf.with(|b| assert_eq!((b, b.as_ptr()), (&b"hello"[..], buf.stable_ptr())));
            let (res, buf) = Op::new(WriteOp {
                fd: b_tx.as_raw_fd(),
                buf,
            })
            .await;
            assert_eq!(res.unwrap(), 5);
            drop(buf);
            // The buffer went back to the ring: the next reads can use it again.
            for round in 0..8u8 {
                a_tx.write_all(&[round; 3]).unwrap();
                let buf = Op::new(ReadSelect {
                    fd: a_rx.as_raw_fd(),
                    pool: pool.clone(),
                })
                .await
                .unwrap();
                buf.with(|b| assert_eq!(b, [round; 3]));
            }
        });
        drop(b_tx);
        let mut out = Vec::new();
        b_rx.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"hello");
    }

    #[test]
    fn a_returned_buffer_is_picked_again_before_the_rest_of_a_large_pool() {
        let (rx, mut tx) = std::io::pipe().unwrap();
        crate::Runtime::new().unwrap().block_on(async {
            let pool = BufPool::new(4, 1024, 64).unwrap();
            let mut seen = std::collections::HashSet::new();
            for round in 0..400u32 {
                tx.write_all(&round.to_le_bytes()).unwrap();
                let buf = Op::new(ReadSelect {
                    fd: rx.as_raw_fd(),
                    pool: pool.clone(),
                })
                .await
                .unwrap();
                buf.with(|b| assert_eq!(b, round.to_le_bytes()));
                seen.insert(buf.bid().unwrap());
            }
            // The ring's window: with the whole pool in the ring, first in, first out, 400
            // reads would have used 400 buffers.
            assert_eq!(seen.len(), FIRST_WINDOW, "{seen:?}");
        });
    }

    #[test]
    fn held_buffers_are_replaced_from_the_spares_below_half_the_window() {
        let (rx, mut tx) = std::io::pipe().unwrap();
        crate::Runtime::new().unwrap().block_on(async {
            let pool = BufPool::new(8, 256, 64).unwrap();
            let state = |pool: &BufPool| {
                let p = pool.inner.borrow();
                (p.in_ring, p.spare.len(), p.lent)
            };
            let mut held = Vec::new();
            for i in 0..40u8 {
                tx.write_all(&[i]).unwrap();
                let buf = Op::new(ReadSelect {
                    fd: rx.as_raw_fd(),
                    pool: pool.clone(),
                })
                .await
                .unwrap();
                buf.with(|b| assert_eq!(b, [i]));
                held.push(buf);
                let (in_ring, spare, lent) = state(&pool);
                assert_eq!(
                    in_ring + spare + lent,
                    256,
                    "a buffer in two places, or lost"
                );
                // The 33rd take left 31 in the ring: refilled to the window of 64.
                let expected = if i < 32 {
                    63 - i as usize
                } else {
                    64 - (i as usize - 32)
                };
                assert_eq!(in_ring, expected, "after {} taken", i + 1);
            }
            // A canary for a buffer published while lent: 128 more reads go through the
            // whole ring twice, and would land in it. Every held buffer still has the byte it
            // was read with.
            for _ in 0..128 {
                tx.write_all(&[0xEE]).unwrap();
                let buf = Op::new(ReadSelect {
                    fd: rx.as_raw_fd(),
                    pool: pool.clone(),
                })
                .await
                .unwrap();
                buf.with(|b| assert_eq!(b, [0xEE]));
            }
            for (i, buf) in held.iter().enumerate() {
                buf.with(|b| assert_eq!(b, [i as u8], "held buffer {i} was written"));
            }
            drop(held);
            // Back into the ring up to the window, the rest onto the spare stack.
            assert_eq!(state(&pool), (64, 192, 0));
        });
    }

    #[test]
    fn the_window_doubles_once_per_shortage() {
        crate::Runtime::new().unwrap().block_on(async {
            let pool = BufPool::new(5, 256, 64).unwrap();
            let state = |pool: &BufPool| {
                let p = pool.inner.borrow();
                (p.window, p.in_ring, p.spare.len())
            };
            assert_eq!(state(&pool), (64, 64, 192));
            let mut cx = Context::from_waker(Waker::noop());
            // Two receives armed before the same shortage: the first to see it doubles the
            // window, the second re-arms into the refilled ring without doubling it again.
            let (first, second) = (pool.mark(), pool.mark());
            assert!(pool.poll_refilled(first, &mut cx).is_ready());
            assert_eq!(state(&pool), (128, 128, 128));
            assert!(pool.poll_refilled(second, &mut cx).is_ready());
            assert_eq!(state(&pool), (128, 128, 128));
            // A receive armed after that doubling may double it for a shortage of its own.
            let third = pool.mark();
            assert!(pool.poll_refilled(third, &mut cx).is_ready());
            assert_eq!(state(&pool), (256, 256, 0));
            // The whole pool in the ring and nothing pushed since: nothing to go again for.
            let fourth = pool.mark();
            assert!(pool.poll_refilled(fourth, &mut cx).is_pending());
            assert_eq!(state(&pool), (256, 256, 0));
            // A small pool is all in the ring, as before.
            let small = BufPool::new(6, 16, 64).unwrap();
            assert_eq!(state(&small), (16, 16, 0));
        });
    }

    #[test]
    fn a_receive_waits_for_a_push_when_every_buffer_is_held() {
        let (rx, mut tx) = std::io::pipe().unwrap();
        crate::Runtime::new().unwrap().block_on(async {
            let pool = BufPool::new(9, 4, 64).unwrap();
            let mut held = Vec::new();
            for i in 0..4u8 {
                tx.write_all(&[i]).unwrap();
                held.push(
                    Op::new(ReadSelect {
                        fd: rx.as_raw_fd(),
                        pool: pool.clone(),
                    })
                    .await
                    .unwrap(),
                );
            }
            // Armed now, the receive would find the ring empty: nothing to go again for, and
            // nothing to widen (the window is the whole pool), so it waits, however often
            // it is polled, until a buffer goes back.
            let armed = pool.mark();
            let woken = std::sync::Arc::new(Flag::default());
            let waker = Waker::from(woken.clone());
            let mut cx = Context::from_waker(&waker);
            for _ in 0..3 {
                assert!(pool.poll_refilled(armed, &mut cx).is_pending());
            }
            assert!(!woken.0.load(std::sync::atomic::Ordering::SeqCst));
            held.pop();
            assert!(woken.0.load(std::sync::atomic::Ordering::SeqCst));
            assert!(pool.poll_refilled(armed, &mut cx).is_ready());
        });
    }

    #[derive(Default)]
    struct Flag(std::sync::atomic::AtomicBool);

    impl std::task::Wake for Flag {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[test]
    fn a_window_a_burst_doubled_halves_back_once_the_burst_is_over() {
        let (rx, mut tx) = std::io::pipe().unwrap();
        crate::Runtime::new().unwrap().block_on(async {
            let pool = BufPool::new(10, 1024, 64).unwrap();
            let window = |pool: &BufPool| pool.inner.borrow().window;
            let mut cx = Context::from_waker(Waker::noop());
            while window(&pool) < 1024 {
                let armed = pool.mark();
                assert!(pool.poll_refilled(armed, &mut cx).is_ready());
            }
            // One receive at a time: each period of 4 x window hand-overs uses one buffer of
            // the window, so it halves, period by period, to the first window and no further.
            let mut seen = Vec::new();
            for round in 0..9000u32 {
                tx.write_all(&[round as u8]).unwrap();
                let buf = Op::new(ReadSelect {
                    fd: rx.as_raw_fd(),
                    pool: pool.clone(),
                })
                .await
                .unwrap();
                drop(buf);
                if seen.last() != Some(&window(&pool)) {
                    seen.push(window(&pool));
                }
            }
            assert_eq!(seen, [1024, 512, 256, 128, 64]);
            let p = pool.inner.borrow();
            assert_eq!(p.in_ring + p.spare.len() + p.lent, 1024);
        });
    }

    #[test]
    fn buffers_start_an_odd_number_of_lines_apart_and_never_overlap() {
        for len in [
            1,
            63,
            64,
            65,
            100,
            128,
            1500,
            4096,
            16 * 1024,
            64 * 1024 + 1,
        ] {
            let stride = buf_stride(len).unwrap();
            assert!(stride >= len, "{len}: {stride}");
            assert_eq!(stride % LINE, 0, "{len}: {stride}");
            assert_eq!((stride / LINE) % 2, 1, "{len}: {stride}");
            assert!(stride <= len + 127, "{len}: {stride}");
        }
        assert_eq!(buf_stride(65), Some(3 * LINE));
        assert_eq!(buf_stride(usize::MAX - 10), None);
        // 16 KiB buffers: the first lines of 64 consecutive buffers fall in 64 different
        // sets of a 64-set cache (32 KiB, 8 ways), where they used to share one.
        let stride = buf_stride(16 * 1024).unwrap();
        assert_eq!(stride, 16 * 1024 + LINE);
        let sets: std::collections::HashSet<usize> =
            (0..64).map(|i| (i * stride / LINE) % 64).collect();
        assert_eq!(sets.len(), 64);

        // Every buffer of a pool filled to its last byte and all held at once: each keeps
        // its own bytes (a stride shorter than the buffer would let the next one overwrite).
        let (rx, mut tx) = std::io::pipe().unwrap();
        crate::Runtime::new().unwrap().block_on(async {
            let len = 100;
            let pool = BufPool::new(3, 4, len).unwrap();
            let mut held = Vec::new();
            for i in 0..4u8 {
                tx.write_all(&vec![i + 1; len]).unwrap();
                let buf = Op::new(ReadSelect {
                    fd: rx.as_raw_fd(),
                    pool: pool.clone(),
                })
                .await
                .unwrap();
                held.push(buf);
            }
            for (i, buf) in held.iter().enumerate() {
                buf.with(|b| assert_eq!(b, vec![i as u8 + 1; len], "buffer {i}"));
            }
        });
    }
}
