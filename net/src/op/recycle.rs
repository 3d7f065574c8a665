//! Per-thread free lists for the boxed parts that ops point the kernel at (a msghdr with its
//! iovecs, a socket address), so that a vectored write or a datagram allocates nothing once
//! warm.
//!
//! A box goes back to its list only when the [`Recycled`] holding it is dropped, and an op
//! holds it until the op itself is dropped, which is after its final CQE (an abandoned op's
//! slot keeps it until then; one the driver cannot settle is leaked with its slot, never
//! reused). So the kernel never reads or writes a box while it serves another op.

use std::cell::RefCell;
use std::ops::{Deref, DerefMut};
use std::thread::LocalKey;

/// The most boxes of one type a thread keeps (ops in flight at once beyond this allocate).
const KEPT: usize = 256;

/// The boxes of one type a thread keeps.
pub(crate) type FreeList<T> = RefCell<Vec<Box<T>>>;

/// A type whose boxes a thread keeps for reuse.
pub(crate) trait Recycle: Sized + 'static {
    /// This type's free list.
    fn free_list() -> &'static LocalKey<FreeList<Self>>;

    /// Readies a used value for its next op; `false` frees it instead (it grew large). By
    /// default nothing: the next op sets every field it uses.
    fn reset(&mut self) -> bool {
        true
    }
}

/// A box of `T` from the thread's free list, back to it when dropped.
pub(crate) struct Recycled<T: Recycle>(Option<Box<T>>);

impl<T: Recycle> Recycled<T> {
    /// A kept box, or `new()` in a new one.
    pub(crate) fn take(new: impl FnOnce() -> T) -> Recycled<T> {
        let kept = T::free_list()
            .try_with(|free| free.borrow_mut().pop())
            .ok()
            .flatten();
        Recycled(Some(kept.unwrap_or_else(|| Box::new(new()))))
    }
}

impl<T: Recycle> Deref for Recycled<T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.0.as_deref().expect("present until dropped")
    }
}

impl<T: Recycle> DerefMut for Recycled<T> {
    fn deref_mut(&mut self) -> &mut T {
        self.0.as_deref_mut().expect("present until dropped")
    }
}

impl<T: Recycle> Drop for Recycled<T> {
    fn drop(&mut self) {
        let Some(mut value) = self.0.take() else {
            return;
        };
        if !value.reset() {
            return;
        }
        // At thread exit (the list already gone) the box is simply freed.
        let _ = T::free_list().try_with(|free| {
            let mut free = free.borrow_mut();
            if free.len() < KEPT {
                free.push(value);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Probe {
        bytes: Vec<u8>,
    }

    thread_local! {
        static PROBES: FreeList<Probe> = const { RefCell::new(Vec::new()) };
    }

    impl Recycle for Probe {
        fn free_list() -> &'static LocalKey<FreeList<Probe>> {
            &PROBES
        }

        fn reset(&mut self) -> bool {
            self.bytes.clear();
            self.bytes.capacity() <= 16
        }
    }

    #[test]
    fn a_dropped_box_is_the_next_taken_unless_it_grew() {
        let mut a = Recycled::take(|| Probe {
            bytes: Vec::with_capacity(8),
        });
        a.bytes.push(1);
        let addr = std::ptr::from_ref::<Probe>(&a) as usize;
        drop(a);
        let b = Recycled::take(|| Probe { bytes: Vec::new() });
        assert_eq!(std::ptr::from_ref::<Probe>(&b) as usize, addr, "not reused");
        assert!(b.bytes.is_empty(), "not reset");
        let mut c = Recycled::take(|| Probe { bytes: Vec::new() });
        c.bytes.extend_from_slice(&[0; 64]);
        drop(b);
        drop(c);
        // `b` was kept, `c` (grown past 16) freed.
        assert_eq!(PROBES.with(|p| p.borrow().len()), 1);
    }
}
