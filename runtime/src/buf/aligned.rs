//! [`AlignedBuf`]: a buffer whose start is aligned, for O_DIRECT transfers (the `fs` crate
//! knows each file's alignment and checks transfers against it).

use std::ops::{Deref, DerefMut};

use super::io_buf::{IoBuf, IoBufMut};

/// A zeroed byte buffer whose start is aligned to `align` bytes, for O_DIRECT reads and
/// writes. Its length is fixed; it reads as `[u8]` (`Deref`), and ops take it by value like
/// any owned buffer.
///
/// # Examples
/// ```
/// let mut buf = runtime::buf::AlignedBuf::new(8192, 4096);
/// assert_eq!(buf.as_ptr() as usize % 4096, 0);
/// buf[..5].copy_from_slice(b"hello");
/// assert_eq!(buf.len(), 8192);
/// ```
pub struct AlignedBuf {
    /// `len + align` bytes, so that an aligned start with `len` bytes after it fits.
    storage: Vec<u8>,
    start: usize,
    len: usize,
    align: usize,
}

impl AlignedBuf {
    /// `len` zero bytes starting at a multiple of `align`.
    ///
    /// # Panics
    /// If `align` is not a power of two, or `len + align` bytes cannot be allocated (past
    /// `isize::MAX`, as `Vec::with_capacity`).
    pub fn new(len: usize, align: usize) -> AlignedBuf {
        assert!(
            align.is_power_of_two(),
            "alignment {align} is not a power of two"
        );
        // Checked: a wrapped size would give a small block with a huge `len`, which the
        // kernel would be told to fill.
        let size = len
            .checked_add(align)
            .filter(|&n| n <= isize::MAX as usize)
            .unwrap_or_else(|| panic!("AlignedBuf of {len} bytes aligned to {align}: too large"));
        let storage = vec![0u8; size];
        let addr = storage.as_ptr() as usize;
        let start = (align - addr % align) % align;
        AlignedBuf {
            storage,
            start,
            len,
            align,
        }
    }

    /// The alignment of the start.
    pub fn align(&self) -> usize {
        self.align
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.storage[self.start..self.start + self.len]
    }

    /// The bytes, writable.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.storage[self.start..self.start + self.len]
    }
}

impl Deref for AlignedBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl DerefMut for AlignedBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.as_mut_slice()
    }
}

impl std::fmt::Debug for AlignedBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlignedBuf")
            .field("len", &self.len)
            .field("align", &self.align)
            .finish()
    }
}

// SAFETY: the bytes live in `storage`'s heap block, which never reallocates (its length is
// fixed at creation) and does not move when the AlignedBuf moves; `start + len` is within it.
// All of it is initialized (zeroed at creation).
unsafe impl IoBuf for AlignedBuf {
    fn stable_ptr(&self) -> *const u8 {
        self.as_slice().as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len
    }
    fn bytes_total(&self) -> usize {
        self.len
    }
}

// SAFETY: as for IoBuf; the same memory, writable through `&mut self`.
unsafe impl IoBufMut for AlignedBuf {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_slice().as_mut_ptr()
    }
    unsafe fn set_init(&mut self, _: usize) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_start_aligned() {
        for align in [1, 512, 4096, 65536] {
            let b = AlignedBuf::new(100, align);
            assert_eq!(b.as_ptr() as usize % align, 0);
            assert_eq!(b.len(), 100);
        }
    }
}
