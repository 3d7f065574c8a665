//! Allocation counts on the hot paths, with a counting global allocator: one allocation per
//! spawn, none per op, per wake or per poll once the core's tables have grown.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io;

use runtime::op::{Completion, Op, Operation};
use uring_sys::{Sqe, prep};

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator unchanged; it only counts calls on this thread.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|a| a.set(a.get() + 1));
        // SAFETY: the caller upholds `alloc`'s contract, which we pass on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above, for `dealloc`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCS.try_with(|a| a.set(a.get() + 1));
        // SAFETY: as above, for `realloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocs() -> u64 {
    ALLOCS.with(Cell::get)
}

struct Nop;

// SAFETY: a NOP's SQE points to no memory.
unsafe impl Operation for Nop {
    type Output = io::Result<u32>;
    fn sqe(&mut self) -> Sqe {
        prep::prep_nop()
    }
    fn complete(self, result: io::Result<u32>, _: Completion) -> Self::Output {
        result
    }
}

#[test]
fn a_spawn_allocates_once_and_an_op_not_at_all() {
    let rt = runtime::Runtime::new().unwrap();
    rt.block_on(async {
        // Grow the task slab, run queue and op slab first.
        for _ in 0..2 {
            let handles: Vec<_> = (0..1000)
                .map(|i| runtime::spawn(async move { Op::new(Nop).await.unwrap() + i }))
                .collect();
            for h in handles {
                h.await.unwrap();
            }
        }

        let before = allocs();
        for i in 0..1000u32 {
            let h = runtime::spawn(async move { i });
            assert_eq!(h.await.unwrap(), i);
        }
        let per_spawn = (allocs() - before) as f64 / 1000.0;
        assert_eq!(per_spawn, 1.0, "allocations per spawn+join");

        let before = allocs();
        for _ in 0..1000 {
            assert_eq!(Op::new(Nop).await.unwrap(), 0);
        }
        assert_eq!(
            allocs() - before,
            0,
            "allocations for 1000 NOP ops (submit, wake, poll, complete)"
        );

        let before = allocs();
        for _ in 0..1000 {
            runtime::yield_now().await;
        }
        assert_eq!(allocs() - before, 0, "allocations for 1000 wakes and polls");
    });
}
