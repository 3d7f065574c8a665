//! A server process of the benchmark: what it is given ([`ServeArgs`]), how it starts
//! ([`serve`]), and what it says to the parent on stdout ([`READY`], [`METRICS`]) and hears
//! from it ([`CONTROL_FD`]).

use std::io;
use std::os::fd::{OwnedFd, RawFd};

use super::run::ServerKind;
use super::sockopt::raise_nofile;
use super::{epoll_server, runtime_server, tokio_server};
use crate::cpu::{cpu_count, pin_to};

/// Default bytes per read call (the epoll servers' one buffer, runtime-rw's and tokio's
/// buffer per connection) and size of each buffer of the runtime server's provided-buffer
/// pool (`--read-buf`).
pub const READ_BUF: usize = 16 * 1024;
/// Default buffers in the runtime server's provided-buffer pool (`--pool-bufs`, a power of
/// two).
pub const POOL_BUFS: u16 = 1024;

/// What a server process needs: which server, where, on which CPUs.
#[derive(Debug, Clone)]
pub struct ServeArgs {
    /// The implementation.
    pub kind: ServerKind,
    /// The port (0: the server picks one and reports it).
    pub port: u16,
    /// The first CPU; per-core server `i` runs on `cpu + i` (modulo the CPU count).
    pub cpu: usize,
    /// Per-core servers, each with its own `SO_REUSEPORT` listener.
    pub cores: usize,
    /// Bytes per read (and per provided buffer).
    pub read_buf: usize,
    /// Buffers in the runtime server's provided-buffer pool.
    pub pool_bufs: u16,
}

impl ServeArgs {
    /// The CPUs of the per-core servers, in order.
    pub fn cpus(&self) -> Vec<usize> {
        let n = cpu_count();
        (0..self.cores).map(|i| (self.cpu + i) % n).collect()
    }
}

/// The line a server prints on stdout once every listener accepts connections.
pub const READY: &str = "READY";
/// The prefix of the lines a server prints on stdout when it stops (one per core).
pub const METRICS: &str = "METRICS";

/// Runs a server until its stdin (a socket from the parent) reaches end of file: prints
/// `READY <port>` once listening, and a `METRICS ...` line per core before it exits.
///
/// # Errors
/// Setup failures (bind, ring setup, pinning).
pub fn serve(args: &ServeArgs) -> io::Result<()> {
    raise_nofile()?;
    pin_to(&args.cpus())?;
    match args.kind {
        ServerKind::EpollLt | ServerKind::EpollEt | ServerKind::Faulty => epoll_server::serve(args),
        ServerKind::Runtime | ServerKind::RuntimeRw | ServerKind::RuntimeFallback => {
            runtime_server::serve(args)
        }
        ServerKind::Tokio => tokio_server::serve(args),
        ServerKind::CLiburing => Err(io::Error::other(
            "c-liburing is a C program of its own (benches/c/echo_liburing.c)",
        )),
    }
}

/// Prints the ready line (the parent waits for it before connecting).
pub fn announce_ready(port: u16) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{READY} {port}");
    let _ = out.flush();
}

/// Prints one metrics line (`METRICS core=N key=value ...`).
pub fn announce_metrics(core: usize, pairs: &[(&str, u64)]) {
    use std::io::Write;
    let mut line = format!("{METRICS} core={core}");
    for (k, v) in pairs {
        line.push_str(&format!(" {k}={v}"));
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// The control socket a server watches: its stdin, a socket whose other end the parent
/// holds; its end of stream tells the server to stop.
pub const CONTROL_FD: RawFd = 0;

/// A duplicate of the control socket.
///
/// # Errors
/// `dup(2)`'s errno.
pub fn control_fd() -> io::Result<OwnedFd> {
    // SAFETY: fd 0 stays open for the life of the process (the parent gave it to us).
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(CONTROL_FD) };
    fd.try_clone_to_owned()
}
