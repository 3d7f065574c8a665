//! Buffers the kernel may use while an op is in flight.
//!
//! Ops take buffers by value and give them back with the result ([`BufResult`]): the kernel
//! may write into a buffer until the CQE, so nobody else may hold it meanwhile, and if the op
//! is dropped the buffer stays in the driver's slot until the CQE. [`IoBuf`]/[`IoBufMut`]
//! say which types are safe to hand over: their memory must not move when the value moves
//! (heap memory), which is why `Box<[u8; N]>` qualifies and a bare `[u8; N]` cannot.

mod aligned;
mod fixed;
mod io_buf;
mod provided;

pub use aligned::AlignedBuf;
pub use fixed::{FixedBuf, FixedBufRegistry, FixedIoBuf};
pub use io_buf::{BufResult, IoBuf, IoBufMut, Slice};
pub use provided::{BufPool, ProvidedBuf};
