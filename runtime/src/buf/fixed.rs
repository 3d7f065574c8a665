//! Registered (fixed) buffers for READ_FIXED/WRITE_FIXED: registered once with the core's
//! ring, so the kernel skips pinning pages per op.

use std::cell::RefCell;
use std::io;
use std::rc::Rc;

use super::io_buf::{IoBuf, IoBufMut, Slice};
use crate::op::RingHandle;

struct Registry {
    buffers: Vec<Vec<u8>>,
    checked_out: Vec<bool>,
    /// The ring the buffers are registered with.
    ring: RingHandle,
}

impl Drop for Registry {
    fn drop(&mut self) {
        // Every FixedBuf (and so every op using one) is gone: the kernel uses none of them.
        // Unregister on the registry's own ring (wherever this drop runs; from inside the
        // driver, once its borrow ends); the kernel keeps the pages pinned until then, so
        // the memory is freed only after it (or leaked if the kernel refuses).
        let buffers = std::mem::take(&mut self.buffers);
        self.ring
            .0
            .with_or_defer(move |d| match d.unregister_buffers() {
                Ok(()) => drop(buffers),
                Err(e) => {
                    tracing::warn!(error = %e, "could not unregister fixed buffers; leaking them");
                    std::mem::forget(buffers);
                }
            });
    }
}

/// The buffers registered with the current core's ring. One registry per core at a time.
#[derive(Clone)]
pub struct FixedBufRegistry {
    inner: Rc<RefCell<Registry>>,
}

impl std::fmt::Debug for FixedBufRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FixedBufRegistry")
            .field("buffers", &self.inner.borrow().buffers.len())
            .finish()
    }
}

impl FixedBufRegistry {
    /// Registers `count` zeroed buffers of `len` bytes with the current core's ring.
    ///
    /// # Errors
    /// `InvalidInput` for a `count` outside 1..=16384 or a `len` outside 1..=1 GiB (the
    /// kernel's limits, checked before anything is allocated) or for `count * len` bytes
    /// past the machine's memory; `OutOfMemory` when they cannot be allocated (a memory
    /// limit); outside a runtime; EBUSY if this core already has registered buffers; ENOMEM
    /// when the memory cannot be pinned (RLIMIT_MEMLOCK before 5.12).
    pub fn new(count: usize, len: usize) -> io::Result<FixedBufRegistry> {
        // `IORING_MAX_REG_BUFFERS` and the kernel's 1 GiB per buffer (io_buffer_validate).
        const MAX_COUNT: usize = 1 << 14;
        const MAX_LEN: usize = 1 << 30;
        if !(1..=MAX_COUNT).contains(&count) || !(1..=MAX_LEN).contains(&len) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "FixedBufRegistry: {count} buffers of {len} bytes; the kernel takes 1 to \
                     {MAX_COUNT} buffers of 1 byte to 1 GiB"
                ),
            ));
        }
        let what = format!("FixedBufRegistry: {count} buffers of {len} bytes");
        super::check_fits_in_memory(count.checked_mul(len), &what)?;
        let mut buffers = (0..count)
            .map(|_| super::zeroed_memory(len, &what))
            .collect::<io::Result<Vec<Vec<u8>>>>()?;
        let iovecs: Vec<libc::iovec> = buffers
            .iter_mut()
            .map(|b| libc::iovec {
                iov_base: b.as_mut_ptr().cast(),
                iov_len: b.len(),
            })
            .collect();
        let ring = RingHandle::current()?;
        ring.0.try_with(|d| {
            // SAFETY: the iovecs describe the Vecs' heap blocks, which the Registry owns and
            // frees only after its Drop unregistered them from this same ring.
            unsafe { d.register_buffers(&iovecs) }
        })?;
        Ok(FixedBufRegistry {
            inner: Rc::new(RefCell::new(Registry {
                checked_out: vec![false; count],
                buffers,
                ring,
            })),
        })
    }

    /// Takes buffer `index` out for an op, or `None` if it is out already (or no such index).
    pub fn check_out(&self, index: usize) -> Option<FixedBuf> {
        let mut r = self.inner.borrow_mut();
        if *r.checked_out.get(index)? {
            return None;
        }
        r.checked_out[index] = true;
        let ring = r.ring.clone();
        let buf = &mut r.buffers[index];
        let (ptr, cap) = (buf.as_mut_ptr(), buf.len());
        Some(FixedBuf {
            registry: self.inner.clone(),
            ring,
            index: index as u16,
            ptr,
            cap,
            init: cap,
        })
    }
}

/// One registered buffer, lent by a [`FixedBufRegistry`]; goes back when dropped.
pub struct FixedBuf {
    registry: Rc<RefCell<Registry>>,
    ring: RingHandle,
    index: u16,
    ptr: *mut u8,
    cap: usize,
    init: usize,
}

impl FixedBuf {
    /// The registered buffer index (for `sqe.buf_index`).
    pub fn buf_index(&self) -> u16 {
        self.index
    }

    /// The ring the buffer is registered with: an op naming its index returns it from
    /// [`bound_ring`](crate::op::Operation::bound_ring).
    pub fn ring(&self) -> &RingHandle {
        &self.ring
    }

    /// The initialized bytes.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: ptr..ptr+init is inside the registry's Vec, alive while we hold the Rc, and
        // lent only to us (checked_out).
        unsafe { std::slice::from_raw_parts(self.ptr, self.init) }
    }

    /// The whole buffer, writable.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as above, for the whole (zero-initialized) capacity; we hold it exclusively.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.cap) }
    }
}

/// A registered buffer: which one, for `READ_FIXED`/`WRITE_FIXED`.
///
/// Implemented for [`FixedBuf`] and slices of it. The kernel checks that the memory lies
/// inside registered buffer [`FixedIoBuf::buf_index`] (EFAULT otherwise), so a wrong index is
/// an error, never a stray access.
pub trait FixedIoBuf: IoBuf {
    /// The index of the registered buffer holding this memory.
    fn buf_index(&self) -> u16;
}

impl FixedIoBuf for FixedBuf {
    fn buf_index(&self) -> u16 {
        FixedBuf::buf_index(self)
    }
}

impl FixedIoBuf for Slice<FixedBuf> {
    fn buf_index(&self) -> u16 {
        self.get_ref().buf_index()
    }
}

impl std::fmt::Debug for FixedBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FixedBuf")
            .field("index", &self.index)
            .field("len", &self.init)
            .finish()
    }
}

impl Drop for FixedBuf {
    fn drop(&mut self) {
        self.registry.borrow_mut().checked_out[self.index as usize] = false;
    }
}

// SAFETY: the memory is the registry's Vec, which never moves or reallocates and lives while
// this FixedBuf holds the registry.
unsafe impl IoBuf for FixedBuf {
    fn stable_ptr(&self) -> *const u8 {
        self.ptr
    }
    fn bytes_init(&self) -> usize {
        self.init
    }
    fn bytes_total(&self) -> usize {
        self.cap
    }
}

// SAFETY: as above; the buffer was zero-filled, so all of it is initialized.
unsafe impl IoBufMut for FixedBuf {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.ptr
    }
    unsafe fn set_init(&mut self, n: usize) {
        self.init = n.min(self.cap);
    }
}
