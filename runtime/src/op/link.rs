//! [`link`]: two ops chained with `IOSQE_IO_LINK`, submitted together.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::operation::Operation;
use super::single::Op;
use super::submit::{NO_CQE, Stage, ring_for};

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

impl<A: Operation, B: Operation> Linked<A, B> {
    /// Pushes both SQEs as one chain on the current core's ring.
    fn submit(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        if self.first.options.cancel_requested || self.second.options.cancel_requested {
            return Err(io::Error::from_raw_os_error(libc::ECANCELED));
        }
        let (Some(a), Some(b)) = (self.first.op.as_mut(), self.second.op.as_mut()) else {
            unreachable!("unsubmitted ops hold their operations")
        };
        let driver = ring_for(a.bound_ring())?;
        ring_for(b.bound_ring())?;
        let sqes = [
            a.sqe().flags(self.first.options.sqe_flags.bits()),
            b.sqe().flags(self.second.options.sqe_flags.bits()),
        ];
        let hard = self.hard;
        let [ka, kb] = driver.try_with(|d| d.submit_chain(sqes, hard, cx.waker()))?;
        self.first.stage = Stage::InFlight(driver.clone(), ka);
        self.second.stage = Stage::InFlight(driver, kb);
        Ok(())
    }
}

impl<A: Operation, B: Operation> Future for Linked<A, B> {
    type Output = (A::Output, B::Output);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if let (Stage::Unsubmitted, Stage::Unsubmitted) = (&this.first.stage, &this.second.stage)
            && let Err(e) = this.submit(cx)
        {
            let e2 = io::Error::new(e.kind(), e.to_string());
            let a = this.first.finish(Err(e), NO_CQE);
            let b = this.second.finish(Err(e2), NO_CQE);
            return Poll::Ready((a, b));
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
