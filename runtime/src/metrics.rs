//! Per-core counters, kept in `Cell`s (one core writes them) and read with [`crate::metrics()`].

use std::cell::Cell;

/// The live counters of one core.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) tasks_spawned: Cell<u64>,
    pub(crate) tasks_polled: Cell<u64>,
    pub(crate) ops_submitted: Cell<u64>,
    pub(crate) ops_completed: Cell<u64>,
    pub(crate) ops_cancelled: Cell<u64>,
    pub(crate) sqes_submitted: Cell<u64>,
    pub(crate) cqes_reaped: Cell<u64>,
    pub(crate) sq_full: Cell<u64>,
    pub(crate) cq_overflows: Cell<u64>,
    pub(crate) loop_turns: Cell<u64>,
}

impl Counters {
    /// Adds `n` to one of the counters: `Counters::bump(&counters.sq_full, 1)`.
    #[inline]
    pub(crate) fn bump(cell: &Cell<u64>, n: u64) {
        cell.set(cell.get() + n);
    }
}

/// A snapshot of the current core's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metrics {
    /// Tasks spawned on this core.
    pub tasks_spawned: u64,
    /// Task polls (the main future excluded).
    pub tasks_polled: u64,
    /// Ops pushed to the ring.
    pub ops_submitted: u64,
    /// Ops whose owner took the final result.
    pub ops_completed: u64,
    /// Ops dropped (abandoned) before their final CQE.
    pub ops_cancelled: u64,
    /// Ops in flight now (slots taken, abandoned ones included).
    pub ops_in_flight: u64,
    /// `io_uring_enter` calls (with the fallback driver: its emulated enters).
    pub enter_calls: u64,
    /// SQEs the kernel consumed through those enters.
    pub sqes_submitted: u64,
    /// CQEs reaped.
    pub cqes_reaped: u64,
    /// Times the SQ was full and had to be submitted early.
    pub sq_full_events: u64,
    /// Times the kernel reported CQ overflow (CQEs kept in its backlog, none lost).
    pub cq_overflows: u64,
    /// Executor loop turns.
    pub loop_turns: u64,
    /// Timers pending on this core.
    pub timers_pending: u64,
    /// The driver this core runs.
    pub driver: crate::DriverKind,
}

impl Metrics {
    /// SQEs per enter call (0 when none).
    pub fn sqes_per_enter(&self) -> f64 {
        if self.enter_calls == 0 {
            0.0
        } else {
            self.sqes_submitted as f64 / self.enter_calls as f64
        }
    }
}
