//! Buffers the kernel may use while an op is in flight.
//!
//! Ops take buffers by value and give them back with the result ([`BufResult`]): the kernel
//! may write into a buffer until the CQE, so nobody else may hold it meanwhile, and if the op
//! is dropped the buffer stays in the driver's slot until the CQE. [`IoBuf`]/[`IoBufMut`]
//! say which types are safe to hand over: their memory must not move when the value moves
//! (heap memory), which is why `Box<[u8; N]>` qualifies and a bare `[u8; N]` cannot.

use std::io;

mod aligned;
mod fixed;
mod io_buf;
mod provided;

pub use aligned::AlignedBuf;
pub use fixed::{FixedBuf, FixedBufRegistry, FixedIoBuf};
pub use io_buf::{BufResult, IoBuf, IoBufMut, Slice};
pub use provided::{BufPool, ProvidedBuf, RingMark};

/// `len` zeroed bytes of buffer memory for `what` (a pool or registry, named in errors),
/// allocated without aborting: a block the allocator refuses (a memory limit, `RLIMIT_AS`,
/// strict overcommit) is `OutOfMemory`. Callers first refuse totals past the machine with
/// [`check_fits_in_memory`] (once per pool or registry, not per buffer: it asks the
/// kernel). Like `vec![0; len]` it asks for zeroed pages, so untouched memory costs no RSS.
pub(crate) fn zeroed_memory(len: usize, what: &str) -> io::Result<Vec<u8>> {
    if len == 0 {
        return Ok(Vec::new());
    }
    let layout = std::alloc::Layout::array::<u8>(len)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("{what}: too large")))?;
    // SAFETY: the layout's size is not zero (checked above).
    let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
    if ptr.is_null() {
        return Err(io::Error::new(
            io::ErrorKind::OutOfMemory,
            format!(
                "{what}: could not allocate {len} bytes; use fewer or smaller buffers, or \
                 raise the process's memory limit"
            ),
        ));
    }
    // SAFETY: `ptr` is a block of the global allocator with the layout of `len` u8s (what a
    // `Vec<u8>` of capacity `len` frees with), and all `len` bytes are initialized (zeroed).
    Ok(unsafe { Vec::from_raw_parts(ptr, len, len) })
}

/// Refuses buffer memory of `total` bytes (`None`: past `usize`) larger than the machine's
/// physical memory with `InvalidInput`: the kernel writes into every buffer, so such a pool
/// could never be used, and asking the allocator for it could abort the process.
pub(crate) fn check_fits_in_memory(total: Option<usize>, what: &str) -> io::Result<()> {
    // SAFETY: sysconf only reads its argument.
    let (pages, page) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    let memory = usize::try_from(pages)
        .ok()
        .zip(usize::try_from(page).ok())
        .map_or(isize::MAX as usize, |(pages, page)| {
            pages.saturating_mul(page).min(isize::MAX as usize)
        });
    match total {
        Some(total) if total <= memory => Ok(()),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{what}: {} bytes in all, more than this machine's memory ({memory} bytes); \
                 use fewer or smaller buffers",
                total.map_or_else(|| "more than usize::MAX".to_string(), |t| t.to_string())
            ),
        )),
    }
}
