//! The public op API: [`Operation`] describes one io_uring op and owns what its SQE points to;
//! [`Op`] is the future that submits it and yields its output; [`Multishot`] is the stream of
//! a multishot op's CQEs.
//!
//! # The cancel contract
//! Dropping an [`Op`] or [`Multishot`] before its final CQE moves the operation (with its
//! buffers, sockaddrs, paths) into the driver's slot and sends `IORING_OP_ASYNC_CANCEL`. The
//! resources are dropped only when the final CQE arrives; [`Operation::on_abandoned_cqe`]
//! sees every CQE nobody will take, so an fd the kernel created for nobody gets closed and a
//! provided buffer goes back to its ring. [`Op::cancel`] asks for the same cancellation but
//! keeps the future: awaiting it yields the op's result (or ECANCELED) with its buffer.

use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use uring_sys::Sqe;

use super::OpKey;
pub use super::slot::Completion;
use crate::executor::context;

/// One io_uring operation: builds its SQE and turns its CQE into an output.
///
/// # Safety
/// Every address the SQE from [`Operation::sqe`] carries (buffers, iovecs, sockaddrs,
/// msghdrs, paths, timespecs) must point into memory that `self` owns, that does not move
/// when `self` moves (heap memory: `Vec`, `Box`, `CString`, or `'static` data), and that
/// stays valid and otherwise unaccessed until `self` is dropped or consumed. Every fd in it
/// must stay open as long. The runtime keeps `self` alive until the op's final CQE, even if
/// the future is dropped, which makes the kernel's use of that memory sound.
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

    /// Turns the final CQE into the output; `result` is `cqe.res` as an `io::Result`.
    /// Also called with the submission error when the op could not be submitted.
    fn complete(self, result: io::Result<u32>, cqe: Completion) -> Self::Output;

    /// Sees each CQE of an op whose future was dropped (nobody takes the result). Close
    /// here an fd the kernel created (accept, open, socket); buffers go when `self` drops.
    fn on_abandoned_cqe(&mut self, cqe: Completion) {
        let _ = cqe;
    }
}

/// A multishot operation: one SQE, many CQEs (while `IORING_CQE_F_MORE`).
///
/// # Safety
/// As for [`Operation`]: every address in the SQE points into memory `self` owns, stable
/// across moves, valid until `self` is dropped.
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
}

/// Resources of an abandoned op, kept in its slot until the final CQE.
pub(crate) trait Abandoned {
    /// Sees a CQE that nobody will take.
    fn on_cqe(&mut self, cqe: Completion);
}

struct AbandonedOp<T>(T);

impl<T: Operation> Abandoned for AbandonedOp<T> {
    fn on_cqe(&mut self, cqe: Completion) {
        self.0.on_abandoned_cqe(cqe);
    }
}

struct AbandonedStream<T>(T);

impl<T: MultishotOperation> Abandoned for AbandonedStream<T> {
    fn on_cqe(&mut self, cqe: Completion) {
        self.0.on_abandoned_cqe(cqe);
    }
}

/// Where the future side of an op stands (apart from the driver's [`OpState`](super::slot)).
#[derive(Debug, Clone, Copy)]
enum Stage {
    /// Not pushed yet: the SQE is pushed at the first poll.
    Unsubmitted,
    /// Pushed; the driver's slot `OpKey` holds its state.
    InFlight(OpKey),
    /// The output was returned (or the op was never submitted and completed with an error).
    Done,
}

/// Per-op submission options: extra SQE flags and a link timeout.
#[derive(Debug, Clone, Copy, Default)]
struct Options {
    sqe_flags: u8,
    timeout: Option<Duration>,
    cancel_requested: bool,
}

/// The future of one [`Operation`]: pushes its SQE on first poll, completes with its CQE.
///
/// Dropping it before completion follows the cancel contract of this module.
#[must_use = "an op does nothing until awaited"]
pub struct Op<T: Operation> {
    stage: Stage,
    op: Option<T>,
    options: Options,
    /// Ops belong to the core whose ring has them: never Send.
    _core_bound: PhantomData<Rc<()>>,
}

// An Op never hands out pinned references to its parts: the kernel-facing memory lives on
// the heap (Operation's contract), so moving the Op moves nothing the kernel uses.
impl<T: Operation> Unpin for Op<T> {}

impl<T: Operation> Op<T> {
    /// Wraps `op`; nothing happens until the first poll.
    pub fn new(op: T) -> Op<T> {
        Op {
            stage: Stage::Unsubmitted,
            op: Some(op),
            options: Options::default(),
            _core_bound: PhantomData,
        }
    }

    /// Ors `IOSQE_*` flags into the SQE: `IOSQE_ASYNC` (go straight to io-wq),
    /// `IOSQE_IO_DRAIN` (wait for everything before), …
    pub fn sqe_flags(mut self, flags: u8) -> Self {
        self.options.sqe_flags |= flags;
        self
    }

    /// Cancels the op if it has not completed after `timeout` (a linked
    /// `IORING_OP_LINK_TIMEOUT`): it then completes with ECANCELED.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.options.timeout = Some(timeout);
        self
    }

    /// Asks the kernel to cancel the op; keep awaiting it to get its result, which is
    /// ECANCELED unless it completed first, with the op's buffers. An op not yet submitted
    /// completes with ECANCELED without reaching the kernel.
    pub fn cancel(&mut self) {
        self.options.cancel_requested = true;
        if let Stage::InFlight(key) = self.stage {
            let _ = context::with_driver(|d| d.cancel(key));
        }
    }

    fn finish(&mut self, result: io::Result<u32>, cqe: Completion) -> T::Output {
        self.stage = Stage::Done;
        let op = self.op.take().expect("an op completes once");
        op.complete(result, cqe)
    }
}

fn cqe_result(c: Completion) -> io::Result<u32> {
    if c.res < 0 {
        Err(io::Error::from_raw_os_error(-c.res))
    } else {
        Ok(c.res as u32)
    }
}

const NO_CQE: Completion = Completion { res: 0, flags: 0 };

impl<T: Operation> Future for Op<T> {
    type Output = T::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T::Output> {
        let this = &mut *self;
        match this.stage {
            Stage::Unsubmitted => {
                if this.options.cancel_requested {
                    let e = io::Error::from_raw_os_error(libc::ECANCELED);
                    return Poll::Ready(this.finish(Err(e), NO_CQE));
                }
                let op = this
                    .op
                    .as_mut()
                    .expect("an unsubmitted op has its operation");
                let sqe = op.sqe().flags(this.options.sqe_flags);
                let timeout = this.options.timeout;
                match context::with_driver(|d| d.submit(sqe, timeout, cx.waker())).and_then(|r| r) {
                    Ok(key) => {
                        this.stage = Stage::InFlight(key);
                        Poll::Pending
                    }
                    Err(e) => Poll::Ready(this.finish(Err(e), NO_CQE)),
                }
            }
            Stage::InFlight(key) => match context::with_driver(|d| d.poll_op(key, cx)) {
                Ok(Poll::Ready(c)) => Poll::Ready(this.finish(cqe_result(c), c)),
                Ok(Poll::Pending) => Poll::Pending,
                Err(e) => Poll::Ready(this.finish(Err(e), NO_CQE)),
            },
            Stage::Done => panic!("Op polled after it completed"),
        }
    }
}

impl<T: Operation> Drop for Op<T> {
    fn drop(&mut self) {
        if let (Stage::InFlight(key), Some(op)) = (self.stage, self.op.take()) {
            context::abandon_op(key, Box::new(AbandonedOp(op)));
        }
    }
}

/// The stream of a [`MultishotOperation`]'s CQEs; ends after the final CQE (one without
/// `IORING_CQE_F_MORE`). Dropping it follows the cancel contract.
#[must_use = "a multishot op does nothing until polled"]
pub struct Multishot<T: MultishotOperation> {
    stage: Stage,
    op: Option<T>,
    _core_bound: PhantomData<Rc<()>>,
}

impl<T: MultishotOperation> Unpin for Multishot<T> {}

impl<T: MultishotOperation> Multishot<T> {
    /// Wraps `op`; the SQE is pushed at the first poll.
    pub fn new(op: T) -> Multishot<T> {
        Multishot {
            stage: Stage::Unsubmitted,
            op: Some(op),
            _core_bound: PhantomData,
        }
    }

    /// Whether the kernel ended the stream (the last item was its final CQE): re-arm by
    /// making a new one.
    pub fn is_ended(&self) -> bool {
        matches!(self.stage, Stage::Done)
    }

    /// Asks the kernel to stop; the stream ends after the final CQE.
    pub fn cancel(&mut self) {
        if let Stage::InFlight(key) = self.stage {
            let _ = context::with_driver(|d| d.cancel(key));
        }
    }

    /// The operation, e.g. to re-arm it after the stream ended.
    pub fn operation_mut(&mut self) -> Option<&mut T> {
        self.op.as_mut()
    }

    /// Polls for the next item; `None` after the final CQE.
    pub fn poll_next_item(&mut self, cx: &mut Context<'_>) -> Poll<Option<T::Item>> {
        let key = match self.stage {
            Stage::Done => return Poll::Ready(None),
            Stage::InFlight(key) => key,
            Stage::Unsubmitted => {
                let op = self
                    .op
                    .as_mut()
                    .expect("an unsubmitted op has its operation");
                let sqe = op.sqe();
                match context::with_driver(|d| d.submit(sqe, None, cx.waker())).and_then(|r| r) {
                    Ok(key) => {
                        self.stage = Stage::InFlight(key);
                        key
                    }
                    Err(e) => {
                        self.stage = Stage::Done;
                        return Poll::Ready(Some(op.next(Err(e), NO_CQE)));
                    }
                }
            }
        };
        match context::with_driver(|d| d.poll_next_op(key, cx)) {
            Ok(Poll::Ready(Some(c))) => {
                let op = self.op.as_mut().expect("a streaming op has its operation");
                Poll::Ready(Some(op.next(cqe_result(c), c)))
            }
            Ok(Poll::Ready(None)) => {
                self.stage = Stage::Done;
                Poll::Ready(None)
            }
            Ok(Poll::Pending) => Poll::Pending,
            Err(_) => {
                self.stage = Stage::Done;
                Poll::Ready(None)
            }
        }
    }
}

impl<T: MultishotOperation> futures_core::Stream for Multishot<T> {
    type Item = T::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T::Item>> {
        self.poll_next_item(cx)
    }
}

impl<T: MultishotOperation> Drop for Multishot<T> {
    fn drop(&mut self) {
        if let (Stage::InFlight(key), Some(op)) = (self.stage, self.op.take()) {
            context::abandon_op(key, Box::new(AbandonedStream(op)));
        }
    }
}

/// Pushes a fire-and-forget SQE whose completion nobody awaits (e.g. closing an fd on drop,
/// without blocking the core). Falls back to `Err` when no runtime runs on this thread.
///
/// # Safety
/// The SQE must point to no memory at all (a close, a cancel), since nothing keeps memory
/// alive for it.
pub unsafe fn submit_detached(sqe: Sqe) -> io::Result<()> {
    context::with_driver(|d| d.submit_detached(sqe)).and_then(|r| r)
}

/// Closes `fd` without blocking the core: an `IORING_OP_CLOSE` pushed on this core's ring
/// (submitted with the next loop turn; its result is not awaited), or `close(2)` right away
/// outside a runtime. Use [`Op`] with `prep_close` instead to learn the close's result.
pub fn close_in_background(fd: std::os::fd::OwnedFd) {
    use std::os::fd::{FromRawFd, IntoRawFd};
    let raw = fd.into_raw_fd();
    // SAFETY: a CLOSE SQE points to no memory, and we own `raw` (taken from the OwnedFd):
    // nobody else closes or uses it after this.
    if unsafe { submit_detached(uring_sys::prep::prep_close(raw)) }.is_err() {
        // SAFETY: the push failed, so the fd is still ours; the OwnedFd closes it on drop.
        drop(unsafe { std::os::fd::OwnedFd::from_raw_fd(raw) });
    }
}

/// Two ops linked into one chain: the kernel starts `second` only after `first` completed
/// successfully (with [`link_hard`]: completed at all); otherwise `second` completes with
/// ECANCELED. Both outputs are delivered. Built by [`link`].
///
/// Dropping it follows the cancel contract for both ops. Link timeouts ([`Op::timeout`]) are
/// not supported inside a chain and are ignored there.
#[must_use = "a chain does nothing until awaited"]
pub struct Linked<A: Operation, B: Operation> {
    first: Op<A>,
    second: Op<B>,
    hard: bool,
    first_out: Option<A::Output>,
    second_out: Option<B::Output>,
}

impl<A: Operation, B: Operation> Unpin for Linked<A, B> {}

/// Chains `first` then `second` (`IOSQE_IO_LINK`), e.g. a write then an fsync, submitted in
/// the same enter.
///
/// # Examples
/// ```
/// use runtime::op::{link, Completion, Op, Operation};
/// use uring_sys::{prep, Sqe};
///
/// struct Nop;
/// // SAFETY: a NOP's SQE points to no memory.
/// unsafe impl Operation for Nop {
///     type Output = std::io::Result<u32>;
///     fn sqe(&mut self) -> Sqe { prep::prep_nop() }
///     fn complete(self, r: std::io::Result<u32>, _: Completion) -> Self::Output { r }
/// }
///
/// runtime::Runtime::new()?.block_on(async {
///     let (a, b) = link(Op::new(Nop), Op::new(Nop)).await;
///     assert_eq!((a?, b?), (0, 0));
///     Ok::<_, std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn link<A: Operation, B: Operation>(first: Op<A>, second: Op<B>) -> Linked<A, B> {
    Linked {
        first,
        second,
        hard: false,
        first_out: None,
        second_out: None,
    }
}

/// Like [`link`] with `IOSQE_IO_HARDLINK`: `second` runs whatever `first` returned.
pub fn link_hard<A: Operation, B: Operation>(first: Op<A>, second: Op<B>) -> Linked<A, B> {
    Linked {
        first,
        second,
        hard: true,
        first_out: None,
        second_out: None,
    }
}

impl<A: Operation, B: Operation> Future for Linked<A, B> {
    type Output = (A::Output, B::Output);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if let (Stage::Unsubmitted, Stage::Unsubmitted) = (this.first.stage, this.second.stage) {
            let (a, b) = (this.first.op.as_mut(), this.second.op.as_mut());
            let (Some(a), Some(b)) = (a, b) else {
                unreachable!("unsubmitted ops hold their operations")
            };
            let sqes = [
                a.sqe().flags(this.first.options.sqe_flags),
                b.sqe().flags(this.second.options.sqe_flags),
            ];
            let hard = this.hard;
            match context::with_driver(|d| d.submit_chain(sqes, hard, cx.waker())).and_then(|r| r) {
                Ok([ka, kb]) => {
                    this.first.stage = Stage::InFlight(ka);
                    this.second.stage = Stage::InFlight(kb);
                }
                Err(e) => {
                    let e2 = io::Error::new(e.kind(), e.to_string());
                    let a = this.first.finish(Err(e), NO_CQE);
                    let b = this.second.finish(Err(e2), NO_CQE);
                    return Poll::Ready((a, b));
                }
            }
        }
        if this.first_out.is_none()
            && let Poll::Ready(out) = Pin::new(&mut this.first).poll(cx)
        {
            this.first_out = Some(out);
        }
        if this.second_out.is_none()
            && let Poll::Ready(out) = Pin::new(&mut this.second).poll(cx)
        {
            this.second_out = Some(out);
        }
        match (this.first_out.take(), this.second_out.take()) {
            (Some(a), Some(b)) => Poll::Ready((a, b)),
            (a, b) => {
                this.first_out = a;
                this.second_out = b;
                Poll::Pending
            }
        }
    }
}
