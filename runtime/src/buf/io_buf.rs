//! The [`IoBuf`]/[`IoBufMut`] traits, their impls for std's heap buffers and `'static`
//! data, and [`Slice`], a range of an owned buffer.

use std::io;
use std::ops::{Bound, RangeBounds};

/// An op's result together with the buffer it used.
pub type BufResult<T, B> = (io::Result<T>, B);

/// A buffer the kernel may read from while an op is in flight.
///
/// # Safety
/// [`IoBuf::stable_ptr`] must point to [`IoBuf::bytes_total`] bytes (of which the first
/// [`IoBuf::bytes_init`] are initialized) that stay valid and do not move when `self` moves,
/// until `self` is dropped.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be handed to the kernel: an io_uring op needs an owned buffer",
    label = "pass an owned buffer here, such as `Vec<u8>`",
    note = "the kernel reads the buffer until the op completes, so the op takes it and gives \
            it back with the result: `let (res, buf) = stream.write_all(buf).await;`",
    note = "owned buffers: `Vec<u8>` (`b\"ping\".to_vec()`), `Box<[u8]>`, `&'static [u8]`, \
            `&'static str`, and a range of one with `buf.slice(..)`"
)]
pub unsafe trait IoBuf: 'static {
    /// The first byte.
    fn stable_ptr(&self) -> *const u8;
    /// Initialized bytes (what a write sends).
    fn bytes_init(&self) -> usize;
    /// Capacity in bytes.
    fn bytes_total(&self) -> usize;

    /// A view of `range` of this buffer (within its capacity), still owning it.
    ///
    /// # Panics
    /// If the range is out of the capacity.
    fn slice(self, range: impl RangeBounds<usize>) -> Slice<Self>
    where
        Self: Sized,
    {
        let begin = match range.start_bound() {
            Bound::Included(&n) => n,
            // Saturated: a wrapped bound would pass the check below as a wrong range.
            Bound::Excluded(&n) => n.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&n) => n.saturating_add(1),
            Bound::Excluded(&n) => n,
            Bound::Unbounded => self.bytes_total(),
        };
        assert!(
            begin <= end && end <= self.bytes_total(),
            "slice {begin}..{end} out of a {}-byte buffer",
            self.bytes_total()
        );
        Slice {
            buf: self,
            begin,
            end,
        }
    }
}

/// A buffer the kernel may write into while an op is in flight.
///
/// # Safety
/// As [`IoBuf`], and [`IoBufMut::stable_mut_ptr`] points to the same memory, writable.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be filled by the kernel: an io_uring read needs an owned buffer",
    label = "pass an owned buffer here, such as `Vec::with_capacity(4096)`",
    note = "the kernel writes into the buffer until the op completes, so the op takes it and \
            gives it back with the result: `let (res, buf) = stream.read(buf).await;` \
            then `&buf[..res?]` are the bytes read",
    note = "owned buffers: `Vec<u8>` (filled up to its capacity), `Box<[u8]>`, and a range of \
            one with `buf.slice(..)`"
)]
pub unsafe trait IoBufMut: IoBuf {
    /// The first byte, writable.
    fn stable_mut_ptr(&mut self) -> *mut u8;

    /// Marks the first `n` bytes as the buffer's contents, after the kernel wrote them (a
    /// `Vec`'s length becomes `n`).
    ///
    /// # Safety
    /// The first `n` bytes must be initialized and `n <= bytes_total()`.
    unsafe fn set_init(&mut self, n: usize);
}

/// Implements [`IoBuf`] for a byte container addressed by `as_ptr`, whose initialized bytes
/// and capacity are given by the methods `init` and `total`; with `mut: initialized`, also
/// [`IoBufMut`] for a container that is always fully initialized and writable through
/// `as_mut_ptr` (its `set_init` has nothing to mark). Each use says in its own `SAFETY`
/// comment why the type meets the traits' contracts.
macro_rules! impl_io_buf {
    ([$($g:tt)*] $ty:ty, init: $init:ident, total: $total:ident) => {
        // SAFETY: each use of this macro below states why `$ty`'s memory does not move when
        // the value moves and stays valid until it drops; `as_ptr` points to its first byte,
        // `$init` counts its initialized bytes and `$total` its capacity.
        unsafe impl<$($g)*> IoBuf for $ty {
            fn stable_ptr(&self) -> *const u8 {
                self.as_ptr()
            }
            fn bytes_init(&self) -> usize {
                self.$init()
            }
            fn bytes_total(&self) -> usize {
                self.$total()
            }
        }
    };
    ([$($g:tt)*] $ty:ty, init: $init:ident, total: $total:ident, mut: initialized) => {
        impl_io_buf!([$($g)*] $ty, init: $init, total: $total);

        // SAFETY: as for its IoBuf impl (each use below says why); `as_mut_ptr` points to
        // the same memory, all of it initialized and writable, so there is nothing to mark.
        unsafe impl<$($g)*> IoBufMut for $ty {
            fn stable_mut_ptr(&mut self) -> *mut u8 {
                self.as_mut_ptr()
            }
            unsafe fn set_init(&mut self, _: usize) {}
        }
    };
}

// SAFETY: a Vec's heap block does not move when the Vec moves; it lives until the Vec drops
// (ops never grow a Vec they hold).
impl_io_buf!([] Vec<u8>, init: len, total: capacity);

// SAFETY: as for IoBuf; the spare capacity is writable memory of the same block.
unsafe impl IoBufMut for Vec<u8> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }
    unsafe fn set_init(&mut self, n: usize) {
        // A read fills the Vec from its start: its length becomes what was read, so no stale
        // bytes of an earlier read stay past it.
        // SAFETY: the caller promises the first n bytes are initialized, n <= capacity.
        unsafe { self.set_len(n) };
    }
}

// SAFETY: a Box's heap block does not move with the Box and lives until it drops; a boxed
// slice is fully initialized and writable.
impl_io_buf!([] Box<[u8]>, init: len, total: len, mut: initialized);

// SAFETY: as for Box<[u8]>: the array lives in the Box's heap block (its `len` is N).
impl_io_buf!([const N: usize] Box<[u8; N]>, init: len, total: len, mut: initialized);

// SAFETY: 'static data never moves nor goes away.
impl_io_buf!([] &'static [u8], init: len, total: len);

// SAFETY: 'static data never moves nor goes away.
impl_io_buf!([] &'static str, init: len, total: len);

/// A range of an owned buffer: ops on it use only that range.
#[derive(Debug)]
pub struct Slice<B> {
    buf: B,
    begin: usize,
    end: usize,
}

impl<B> Slice<B> {
    /// The whole buffer back.
    pub fn into_inner(self) -> B {
        self.buf
    }

    /// The buffer.
    pub fn get_ref(&self) -> &B {
        &self.buf
    }

    /// Where the slice starts in the buffer.
    pub fn begin(&self) -> usize {
        self.begin
    }

    /// Where the slice ends in the buffer.
    pub fn end(&self) -> usize {
        self.end
    }
}

// SAFETY: points into B's stable memory, at an offset within its capacity (checked in
// `IoBuf::slice`).
unsafe impl<B: IoBuf> IoBuf for Slice<B> {
    fn stable_ptr(&self) -> *const u8 {
        self.buf.stable_ptr().wrapping_add(self.begin)
    }
    fn bytes_init(&self) -> usize {
        self.buf.bytes_init().clamp(self.begin, self.end) - self.begin
    }
    fn bytes_total(&self) -> usize {
        self.end - self.begin
    }
}

// SAFETY: as for IoBuf; writable since B is.
unsafe impl<B: IoBufMut> IoBufMut for Slice<B> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.buf.stable_mut_ptr().wrapping_add(self.begin)
    }
    unsafe fn set_init(&mut self, n: usize) {
        // A slice that starts past the buffer's initialized bytes leaves a gap nobody wrote:
        // marking it initialized would expose uninitialized memory, so the buffer keeps its
        // length (the bytes are there, but not counted).
        // A slice inside the initialized bytes only replaces them: the buffer keeps its
        // length unless the slice's bytes reach past it.
        let init = self.buf.bytes_init();
        if self.begin > init || self.begin + n <= init {
            return;
        }
        // SAFETY: the caller promises the slice's first n bytes are initialized; they are the
        // buffer's begin..begin+n, and the bytes before begin are initialized (checked above).
        unsafe { self.buf.set_init(self.begin + n) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slice_set_init_grows_but_never_truncates_nor_skips_a_gap() {
        let mut v = vec![7u8; 10];
        let mut s = v.slice(2..6);
        // SAFETY: the slice's bytes are initialized (the Vec was filled).
        unsafe { s.set_init(4) };
        v = s.into_inner();
        assert_eq!(
            v.len(),
            10,
            "a read inside the contents must not truncate them"
        );
        v.truncate(4);
        let mut s = v.slice(4..8);
        // SAFETY: pretend the kernel wrote 4 bytes at 4..8 (capacity 10).
        unsafe { s.stable_mut_ptr().write_bytes(1, 4) };
        // SAFETY: those 4 bytes were just written.
        unsafe { s.set_init(4) };
        assert_eq!(s.into_inner().len(), 8);
        let mut v = Vec::with_capacity(16);
        v.push(1u8);
        let mut s = v.slice(8..12);
        // SAFETY: the slice's 4 bytes are written, but bytes 1..8 are not.
        unsafe { s.stable_mut_ptr().write_bytes(1, 4) };
        // SAFETY: as above; set_init must not expose the unwritten gap.
        unsafe { s.set_init(4) };
        assert_eq!(s.into_inner().len(), 1);
    }

    #[test]
    fn slice_views_a_range() {
        let v = vec![1u8, 2, 3, 4];
        let s = v.slice(1..3);
        assert_eq!(s.bytes_total(), 2);
        assert_eq!(s.bytes_init(), 2);
        assert_eq!(s.into_inner(), vec![1, 2, 3, 4]);
    }

    #[test]
    fn vec_set_init_sets_len() {
        let mut v = Vec::with_capacity(8);
        v.extend_from_slice(&[0u8; 8]);
        v.truncate(0);
        // SAFETY: the 8 bytes were written above.
        unsafe { v.set_init(8) };
        assert_eq!(v.len(), 8);
    }
}
