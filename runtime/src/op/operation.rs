//! The traits an op implements ([`Operation`], [`MultishotOperation`]), the ring an op may
//! be bound to ([`RingHandle`]) and the SQE flags it may add ([`SqeFlags`]).

use std::io;

use uring_sys::{Sqe, abi};

use crate::driver::Handle;
use crate::driver::slot::Completion;
use crate::executor::context;

/// One io_uring operation: builds its SQE and turns its CQE into an output.
///
/// # Safety
/// Every address the SQE from [`Operation::sqe`] carries (buffers, iovecs, sockaddrs,
/// msghdrs, paths, timespecs) must point into memory that `self` owns, that does not move
/// when `self` moves (heap memory: `Vec`, `Box`, `CString`, or `'static` data), and that
/// stays valid and otherwise unaccessed until `self` is dropped or consumed. Every fd in it
/// must stay open as long, and so must whatever else the SQE names: `self` holds the
/// [`BufPool`](crate::buf::BufPool) whose group it selects from, the
/// [`FixedFile`](crate::fixed_files::FixedFile) slot or the registered buffer it names (whose
/// memory must not be freed while the op is in flight). The SQE's flags must leave the
/// driver its CQE: no
/// `IOSQE_CQE_SKIP_SUCCESS` (the op would wait for ever), and `IOSQE_BUFFER_SELECT` only
/// together with [`Operation::bound_ring`] naming the ring whose buffer group it selects.
/// The runtime keeps `self` alive until the op's final CQE, even if the future is dropped,
/// which makes the kernel's use of that memory sound.
///
/// # Examples
/// A NOP, the simplest op (no memory to own):
/// ```
/// use runtime::op::{Completion, Op, Operation};
/// use uring_sys::{prep, Sqe};
///
/// struct Nop;
///
/// // SAFETY: a NOP's SQE points to no memory.
/// unsafe impl Operation for Nop {
///     type Output = std::io::Result<u32>;
///     fn sqe(&mut self) -> Sqe {
///         prep::prep_nop()
///     }
///     fn complete(self, result: std::io::Result<u32>, _cqe: Completion) -> Self::Output {
///         result
///     }
/// }
///
/// runtime::Runtime::new()?.block_on(async {
///     assert_eq!(Op::new(Nop).await?, 0);
///     Ok::<_, std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub unsafe trait Operation: 'static {
    /// What the op yields, usually `io::Result<_>` or a [`crate::buf::BufResult`].
    type Output;

    /// The SQE to submit; called once, at the first poll. Its `user_data` is set by the
    /// driver.
    fn sqe(&mut self) -> Sqe;

    /// Turns the final CQE into the output; `result` is `cqe.res()` as an `io::Result`.
    /// Also called with the submission error when the op could not be submitted.
    fn complete(self, result: io::Result<u32>, cqe: Completion) -> Self::Output;

    /// Sees each CQE of an op whose future was dropped (nobody takes the result). Close
    /// here an fd the kernel created (accept, open, socket); buffers go when `self` drops.
    fn on_abandoned_cqe(&mut self, cqe: Completion) {
        let _ = cqe;
    }

    /// The ring this op must run on, when its SQE names something registered with one ring
    /// only: a fixed-file slot, a provided-buffer group, registered buffers. Submitted on
    /// any other ring it completes with an error at once, without reaching the kernel.
    /// `None` (the default): any core's ring.
    fn bound_ring(&self) -> Option<&RingHandle> {
        None
    }

    /// Whether a dropped op is left to finish in the background instead of being cancelled
    /// (its resources still stay with the driver until the final CQE). For ops whose effect
    /// should happen whole or not at all, such as a stream write, which a cancel could cut
    /// short. Default: cancelled. The runtime's shutdown cancels them all the same.
    fn finish_when_dropped(&self) -> bool {
        false
    }
}

/// A multishot operation: one SQE, many CQEs (while `IORING_CQE_F_MORE`).
///
/// # Safety
/// As for [`Operation`]: every address in the SQE points into memory `self` owns, stable
/// across moves, valid until `self` is dropped; the same rules for SQE flags.
pub unsafe trait MultishotOperation: 'static {
    /// What each CQE becomes.
    type Item;

    /// The SQE to submit (with the op's multishot flag set).
    fn sqe(&mut self) -> Sqe;

    /// Turns one CQE into an item.
    fn next(&mut self, result: io::Result<u32>, cqe: Completion) -> Self::Item;

    /// Sees each CQE nobody will take after the stream was dropped.
    fn on_abandoned_cqe(&mut self, cqe: Completion) {
        let _ = cqe;
    }

    /// As [`Operation::bound_ring`].
    fn bound_ring(&self) -> Option<&RingHandle> {
        None
    }
}

/// One core's ring, as what an op, a buffer pool or a fixed-file slot belongs to. Cheap to
/// clone; it keeps the ring alive, and stays on the thread of its core (`!Send`).
#[derive(Clone)]
pub struct RingHandle(pub(crate) Handle);

impl RingHandle {
    /// The ring of the core running on this thread.
    ///
    /// # Errors
    /// Outside a runtime.
    pub fn current() -> io::Result<RingHandle> {
        context::current_driver().map(RingHandle)
    }

    /// Whether this is the ring of the core running on this thread.
    pub fn is_current(&self) -> bool {
        context::current_driver().is_ok_and(|d| d.same(&self.0))
    }
}

impl PartialEq for RingHandle {
    fn eq(&self, other: &RingHandle) -> bool {
        self.0.same(&other.0)
    }
}

impl Eq for RingHandle {}

impl std::fmt::Debug for RingHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("RingHandle").field(&self.0).finish()
    }
}

/// The SQE flags an op may add: only those the driver can honour without losing the op's
/// CQE or its buffers (a typed subset of `IOSQE_*`).
///
/// Not offered: `IO_DRAIN` (a core always has its wake-up read and often multishot ops in
/// flight, which never complete, so a drained op would never start), `CQE_SKIP_SUCCESS`
/// (the op would wait for ever), `BUFFER_SELECT` and `FIXED_FILE` (they change which memory
/// and which file the SQE names: an [`Operation`] sets them itself, under its contract),
/// and the link flags ([`link`](crate::op::link) builds chains).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SqeFlags(u8);

impl SqeFlags {
    /// No extra flag.
    pub const NONE: SqeFlags = SqeFlags(0);
    /// `IOSQE_ASYNC`: skip the inline attempt and go straight to io-wq.
    pub const ASYNC: SqeFlags = SqeFlags(abi::IOSQE_ASYNC);

    /// The `IOSQE_*` bits.
    pub fn bits(self) -> u8 {
        self.0
    }
}

impl std::ops::BitOr for SqeFlags {
    type Output = SqeFlags;
    fn bitor(self, other: SqeFlags) -> SqeFlags {
        SqeFlags(self.0 | other.0)
    }
}
