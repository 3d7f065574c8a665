//! Sizes at and past their limits: clear `InvalidInput` errors or clamping, never a panic or
//! an abort.

use std::io;

use runtime::buf::BufPool;
use runtime::{Builder, Runtime};

/// `entries(u32::MAX)` is clamped by the kernel (`IORING_SETUP_CLAMP`), and the op table is
/// sized by what was granted: before, it tried to allocate for 4 billion ops and aborted.
#[test]
fn entries_of_u32_max_are_clamped() {
    let rt = Builder::new()
        .entries(u32::MAX)
        .build()
        .expect("a clamped ring");
    let v = rt.block_on(async { runtime::spawn(async { 7 }).await.unwrap() });
    assert_eq!(v, 7);
}

/// A pool of zero-byte buffers made a receive stream end while bytes were waiting; counts the
/// kernel cannot take and lengths past its 32-bit field are refused up front.
#[test]
fn buffer_pool_geometries_out_of_range_are_invalid_input() {
    Runtime::new().unwrap().block_on(async {
        for (count, len) in [
            (8, 0),
            (0, 64),
            (3, 64),
            (8, 1usize << 32),
            (32768, usize::MAX / 2),
        ] {
            let e = BufPool::new(0x4c1, count, len).unwrap_err();
            assert_eq!(
                e.kind(),
                io::ErrorKind::InvalidInput,
                "count {count}, len {len}: {e}"
            );
        }
        // The limits themselves are fine.
        BufPool::new(0x4c1, 1, 1).expect("one buffer of one byte");
    });
}
