//! The public op API: [`Operation`] describes one io_uring op and owns what its SQE points to;
//! [`Op`] is the future that submits it and yields its output; [`Multishot`] is the stream of
//! a multishot op's CQEs; [`link`] chains two ops.
//!
//! This layer sits above the driver and the executor: it finds the current core's driver
//! once, at an op's first poll, and from then on holds that driver's handle, so polling,
//! dropping and cancelling the op always reach the ring that has it.
//!
//! # The cancel contract
//! Dropping an [`Op`] or [`Multishot`] before its final CQE moves the operation (with its
//! buffers, sockaddrs, paths) into the driver's slot and sends `IORING_OP_ASYNC_CANCEL`. The
//! resources are dropped only when the final CQE arrives; [`Operation::on_abandoned_cqe`]
//! sees every CQE nobody will take, so an fd the kernel created for nobody gets closed and a
//! provided buffer goes back to its ring. [`Op::cancel`] asks for the same cancellation but
//! keeps the future: awaiting it yields the op's result (or ECANCELED) with its buffer.
//!
//! This holds wherever the op goes: dropped outside `block_on` (the cancel is submitted at
//! once), inside another runtime, or after its runtime was dropped (it is then cancelled
//! and reaped on the spot).
//!
//! # Polled outside its core's loop
//! An op in flight that is polled where its core's loop does not run (outside `block_on`,
//! inside another runtime's `block_on`) cannot make progress there. It is cancelled, its
//! ring is turned until the kernel is done with it, and it completes: with its result if the
//! kernel finished first, else with an error that says so. Either way the buffer it hands
//! back is the caller's again.

mod link;
mod multishot;
mod operation;
pub(crate) mod polled;
mod single;
mod submit;

pub use crate::driver::slot::{Completion, SharedCompletion};
pub use link::{Linked, link, link_hard};
pub use multishot::Multishot;
pub use operation::{MultishotOperation, Operation, RingHandle, SqeFlags};
pub use single::Op;
pub use submit::{
    SharedOp, close_in_background, submit_detached, submit_shared, submit_shared_cancelable,
    submit_shared_on,
};
