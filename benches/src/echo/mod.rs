//! The echo benchmark (`cargo run --release -p benches --bin echo`): TCP echo servers on
//! epoll, on this runtime and on tokio, driven over loopback by our own load generator, which
//! verifies every echoed byte.
//!
//! - Servers ([`ServerKind`]) run as child processes (the `echo` binary re-executed with
//!   `--serve KIND`), pinned to their CPUs, so their CPU time is theirs alone
//!   ([`cpu::process_cpu_ns`]): [`epoll_server`] (level- and edge-triggered flavours),
//!   [`runtime_server`] (provided-buffer multishot recv, or plain read/write), and
//!   [`tokio_server`] (current_thread).
//! - The generator ([`load`]) runs in the parent, pinned to its own CPU, with one of two
//!   engines ([`Engine`]): [`gen_epoll`] (write, then read, per connection) and
//!   [`gen_uring`] (all sends of a loop turn in one enter, multishot recv).
//! - [`stats`] keeps latency histograms and medians; [`report`] prints the table and writes
//!   the CSV and SVG files.
//! - Shared by both sides: what a run is ([`run`]), the message bytes ([`pattern`]), the
//!   server process's start and its lines to the parent ([`server`]), sockets on `libc`
//!   ([`sockopt`]); CPU lists, pinning and CPU clocks are [`crate::cpu`]'s.
//!
//! # What the numbers include
//! - Server CPU time is the server process's CPU clock over the window (all threads, exact
//!   nanoseconds), the same count as `/proc/<pid>/schedstat`; `/proc/<pid>/stat` gives the
//!   user/system split (10 ms ticks). Without `CONFIG_IRQ_TIME_ACCOUNTING` (as here) softirq
//!   work runs on the task it interrupts: over loopback the sender's CPU also does the TCP
//!   input processing and the wake-up of the receiver, so each side pays for part of the
//!   other's receive path, the same for every server.
//! - Latency runs from the moment the generator queues a message (its send may wait for the
//!   engine's next submission) to the moment its last echoed byte is verified.
//! - `noise%`: busy time of the benchmark's CPUs in `/proc/stat` beyond what the server and
//!   the generator used: other processes, which make numbers unreliable.
//! - The generator's connections close with `SO_LINGER` 0 (a reset): tens of thousands of
//!   connections per matrix leave no TIME_WAIT behind.

pub mod epoll_server;
pub mod gen_epoll;
pub mod gen_uring;
pub mod load;
pub mod pattern;
pub mod report;
pub mod run;
pub mod runtime_server;
pub mod server;
pub mod sockopt;
pub mod stats;
pub mod tokio_server;

pub use crate::cpu::{self, cpu_count, pin_thread, pin_to};
pub use pattern::Pattern;
pub use run::{Cell, Engine, Mode, Rate, ServerKind};
pub use server::{
    CONTROL_FD, METRICS, POOL_BUFS, READ_BUF, READY, ServeArgs, announce_metrics, announce_ready,
    control_fd, serve,
};
pub use sockopt::{
    BACKLOG, bind_tcp, cvt, raise_nofile, set_linger_zero, set_nodelay, set_nonblocking,
};
