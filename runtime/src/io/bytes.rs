//! Copies between owned buffers and byte slices, for the readers and writers that hand out or
//! take bytes they hold themselves ([`BufReader`](super::BufReader), `&[u8]`, `Vec<u8>`).

use crate::buf::{IoBuf, IoBufMut};

/// `buf`'s initialized bytes (what a write sends).
pub(crate) fn init_bytes<B: IoBuf>(buf: &B) -> &[u8] {
    // SAFETY: by IoBuf's contract `stable_ptr` points to `bytes_total` valid bytes of which
    // the first `bytes_init` are initialized, and they stay valid while `buf` is borrowed.
    unsafe { std::slice::from_raw_parts(buf.stable_ptr(), buf.bytes_init()) }
}

/// Copies as much of `src` as fits into `buf`, from its start, and marks it initialized, as a
/// read does (a `Vec`'s length becomes the count); returns the count.
pub(crate) fn fill_from<B: IoBufMut>(buf: &mut B, src: &[u8]) -> usize {
    let n = src.len().min(buf.bytes_total());
    // SAFETY: by IoBufMut's contract `stable_mut_ptr` points to `bytes_total` >= n writable
    // bytes (`ptr::copy` allows overlap, so nothing is assumed of where `src` lives). The n
    // bytes are then written, so marking them initialized (n <= bytes_total) holds.
    unsafe {
        std::ptr::copy(src.as_ptr(), buf.stable_mut_ptr(), n);
        buf.set_init(n);
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_from_fills_from_the_start_and_sets_the_length() {
        let mut v = vec![9u8; 3];
        v.reserve(5);
        let cap = v.capacity();
        assert_eq!(fill_from(&mut v, b"ab"), 2);
        assert_eq!(v, b"ab");
        let long = vec![1u8; cap + 10];
        assert_eq!(fill_from(&mut v, &long), cap);
        assert_eq!(v.len(), cap);
        assert_eq!(init_bytes(&v), &long[..cap]);
    }

    #[test]
    fn fill_from_a_slice_view_writes_only_its_range() {
        let v = vec![0u8; 6];
        let mut s = v.slice(2..4);
        assert_eq!(fill_from(&mut s, b"xyz"), 2);
        assert_eq!(s.into_inner(), b"\0\0xy\0\0");
    }
}
