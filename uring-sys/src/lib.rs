//! Our own io_uring bindings, on `libc` alone: the kernel ABI, the three syscalls, the mapped
//! rings, SQE preparation, probing and registration. Nothing clever lives here; the runtime
//! crate builds the executor on top.
//!
//! # A tour
//! - [`abi`]: `include/uapi/linux/io_uring.h` of Linux 6.18, kernel spellings.
//! - [`Ring`] (built by [`RingBuilder`]): owns the fd and mappings; [`Ring::sq`] pushes
//!   [`Sqe`]s, [`Ring::submit_and_wait`] enters the kernel, [`Ring::cq`] pops [`Cqe`]s.
//! - [`prep`]: one `prep_*` helper per opcode, like liburing's `io_uring_prep_*`.
//! - [`Probe`] ([`Ring::probe`]): which opcodes this kernel has.
//! - Registration on [`Ring`]: fixed buffers and files, eventfd, restrictions, ring fd, and
//!   provided-buffer rings ([`BufRing`]).
//!
//! ```
//! use uring_sys::{prep, Ring};
//!
//! let mut ring = Ring::builder(32).single_issuer(true).build()?;
//! let mut buf = [0u8; 16];
//! let file = std::fs::File::open("/proc/self/stat")?;
//! # use std::os::fd::AsRawFd;
//! let sqe = prep::prep_read(file.as_raw_fd(), buf.as_mut_ptr(), 16, 0).user_data(1);
//! // SAFETY: `buf` and `file` outlive the wait for the CQE below.
//! unsafe { ring.sq().push(&sqe).expect("an empty ring has room") };
//! ring.submit_and_wait(1)?;
//! let cqe = ring.cq().pop().expect("waited for one");
//! assert_eq!(cqe.result()?, 16);
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Kernel support
//! Everything here works from Linux 5.15 up. Newer features (SINGLE_ISSUER 6.0,
//! DEFER_TASKRUN 6.1, NO_SQARRAY 6.6, newer opcodes) fail with an error that names the flag
//! or are reported missing by [`Probe`]; callers pick what the kernel has.

pub mod abi;
mod buf_ring;
mod cqueue;
mod error;
pub mod mmap;
pub mod prep;
mod probe;
mod register;
mod ring;
mod sqe;
mod squeue;
pub mod syscall;

pub use buf_ring::BufRing;
pub use cqueue::CompletionQueue;
pub use error::SetupError;
pub use probe::Probe;
pub use ring::{Ring, RingBuilder, UserSpaceSide};
pub use sqe::{Cqe, Sqe};
pub use squeue::{SqFull, SubmissionQueue};
