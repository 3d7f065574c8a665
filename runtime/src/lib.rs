//! A thread-per-core async runtime on Linux io_uring.
//!
//! Each core (a worker thread, pinned to a CPU) owns one ring, one op slab, one run queue and
//! one timer wheel; nothing of it is shared, so the per-core path takes no lock. Futures of
//! ops push SQEs; one `io_uring_enter` per loop turn submits them all and, when the core is
//! idle, waits for completions; each CQE's `user_data` names the op slot whose waker it wakes.
//!
//! # A tour
//! - Start: [`Runtime::block_on`], [`Runtime::run_per_core`], or `#[runtime::main]`.
//! - Tasks: [`spawn`] (`!Send`, this core), [`spawn_on`] (`Send`, another core),
//!   [`spawn_blocking`], [`yield_now`], [`JoinHandle`].
//! - Ops: [`op::Operation`] and [`op::Op`] — how `net`, `fs` and you define io_uring ops,
//!   with a uniform cancel contract (a dropped op keeps its buffers until the kernel is done).
//! - Buffers: [`buf::IoBuf`]/[`buf::IoBufMut`], fixed and provided buffers.
//! - Generic I/O on owned buffers: [`io`] (`AsyncRead`/`AsyncWrite`, `BufReader`, lines,
//!   `copy`, `split`); [`select!`] and [`join!`] over this runtime's cancel-safe futures.
//! - Timers: [`time`]. Channels between cores: [`sync`] (`mpsc`, `oneshot`, `broadcast`).
//!   Signals: [`signal`] (`ctrl_c`). Counters: [`metrics()`].
//!
//! ```
//! use std::time::Duration;
//!
//! let rt = runtime::Runtime::new()?;
//! rt.block_on(async {
//!     let a = runtime::spawn(async {
//!         runtime::time::sleep(Duration::from_millis(1)).await;
//!         1
//!     });
//!     assert_eq!(a.await.unwrap(), 1);
//! });
//! # Ok::<(), std::io::Error>(())
//! ```

pub mod buf;
mod builder;
mod driver;
mod executor;
pub mod fd;
pub mod fixed_files;
pub mod io;
/// Ops run synchronously on a polled ring of their own (`IORING_SETUP_IOPOLL`).
pub mod iopoll {
    pub use crate::op::polled::PolledRing;
}
mod metrics;
pub mod op;
mod select;
pub mod signal;
pub mod sync;
pub mod time;
mod waker_slot;

pub use builder::{Builder, DriverChoice, DriverKind, Runtime};
#[cfg(feature = "fault-injection")]
pub use driver::faults::Faults;
pub use executor::metrics;
pub use executor::{
    BlockingHandle, Handle, JoinError, JoinHandle, NoRuntime, RemoteJoinHandle, core_id, spawn,
    spawn_blocking, spawn_on, yield_now,
};
pub use metrics::Metrics;
pub use runtime_macros::{main, test};
#[doc(hidden)]
pub use select::__private;

/// Whether the current core's kernel supports `opcode` (`uring_sys::abi::IORING_OP_*`), by
/// its probe. `None` outside a runtime or on kernels without probing (before 5.6). Use it to
/// pick a fallback (the blocking pool) for ops the kernel lacks.
pub fn op_supported(opcode: u8) -> Option<bool> {
    executor::context::with_driver(|d| d.probe().map(|p| p.is_supported(opcode)))
        .ok()
        .flatten()
}

/// Which driver the current core runs, or `None` outside a runtime. A core runs the
/// [fallback](DriverKind::Fallback) where io_uring is blocked or missing (see
/// [`Builder::driver`]).
///
/// # Examples
/// ```
/// runtime::Runtime::new()?.block_on(async {
///     assert!(runtime::driver_kind().is_some());
/// });
/// assert_eq!(runtime::driver_kind(), None);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn driver_kind() -> Option<DriverKind> {
    executor::context::with_driver(|d| d.kind()).ok()
}
