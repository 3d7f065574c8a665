//! What one run of the matrix is: the server under test ([`ServerKind`]), and the cell
//! ([`Cell`]) the generator drives it with: its engine ([`Engine`]), connections, message
//! size and [`Mode`].

use std::fmt;

/// A server implementation under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ServerKind {
    /// epoll on `libc`, level-triggered, one read per readiness event.
    EpollLt,
    /// epoll on `libc`, edge-triggered, reading until `EAGAIN`.
    EpollEt,
    /// This runtime, idiomatic: a task per connection on multishot accept, multishot recv on
    /// the provided-buffer ring, and the received buffers sent back as they are, through a
    /// `SendQueue` (the task does not wait for the send).
    Runtime,
    /// This runtime, the plainest loop: `read(Vec)` then `write_all`.
    RuntimeRw,
    /// tokio's current_thread runtime: a task per connection, split read/`write_all`.
    Tokio,
    /// `runtime` with `RUNTIME_DRIVER=fallback` in its environment: the runtime's fallback
    /// driver under the same idiomatic server. Only run when asked for
    /// (`--servers ...,runtime-fallback`).
    RuntimeFallback,
    /// The C reference on liburing (`benches/c/echo_liburing.c`, one core): multishot
    /// accept and recv on a provided-buffer ring, each buffer sent back as is. Built with
    /// `cc` when a C compiler and liburing's headers are present, skipped with a note when
    /// not.
    CLiburing,
    /// A deliberately broken epoll server (it flips a bit now and then), to check that the
    /// generator's verification fails loudly. Never part of a matrix unless asked for.
    Faulty,
}

impl ServerKind {
    /// Every server of the full matrix, in the order they alternate (`c-liburing` only when
    /// it could be built).
    pub const ALL: [ServerKind; 6] = [
        ServerKind::EpollLt,
        ServerKind::EpollEt,
        ServerKind::Runtime,
        ServerKind::RuntimeRw,
        ServerKind::Tokio,
        ServerKind::CLiburing,
    ];

    /// The servers of the quick matrix: the baselines, ours, tokio and the C reference.
    pub const QUICK: [ServerKind; 5] = [
        ServerKind::EpollLt,
        ServerKind::EpollEt,
        ServerKind::Runtime,
        ServerKind::Tokio,
        ServerKind::CLiburing,
    ];

    /// The name used on the command line, in tables and files.
    pub fn name(self) -> &'static str {
        match self {
            ServerKind::EpollLt => "epoll-lt",
            ServerKind::EpollEt => "epoll-et",
            ServerKind::Runtime => "runtime",
            ServerKind::RuntimeRw => "runtime-rw",
            ServerKind::Tokio => "tokio",
            ServerKind::RuntimeFallback => "runtime-fallback",
            ServerKind::CLiburing => "c-liburing",
            ServerKind::Faulty => "faulty",
        }
    }

    /// Parses [`ServerKind::name`].
    pub fn parse(s: &str) -> Option<ServerKind> {
        [
            ServerKind::EpollLt,
            ServerKind::EpollEt,
            ServerKind::Runtime,
            ServerKind::RuntimeRw,
            ServerKind::Tokio,
            ServerKind::RuntimeFallback,
            ServerKind::CLiburing,
            ServerKind::Faulty,
        ]
        .into_iter()
        .find(|k| k.name() == s)
    }

    /// Whether this is one of the two epoll baselines.
    pub fn is_epoll_baseline(self) -> bool {
        matches!(self, ServerKind::EpollLt | ServerKind::EpollEt)
    }

    /// Whether this server runs on this runtime (the servers the verdicts are about).
    pub fn is_ours(self) -> bool {
        matches!(
            self,
            ServerKind::Runtime | ServerKind::RuntimeRw | ServerKind::RuntimeFallback
        )
    }

    /// Environment variables the server process gets.
    pub fn env(self) -> &'static [(&'static str, &'static str)] {
        match self {
            ServerKind::RuntimeFallback => &[("RUNTIME_DRIVER", "fallback")],
            _ => &[],
        }
    }
}

impl fmt::Display for ServerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A load generator engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Engine {
    /// epoll, level-triggered: per ready connection one read, then the next write.
    Epoll,
    /// io_uring: multishot recv on a buffer ring, all sends of a loop turn in one enter.
    Uring,
}

impl Engine {
    /// The name used on the command line, in tables and files.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Epoll => "epoll",
            Engine::Uring => "uring",
        }
    }

    /// Parses [`Engine::name`].
    pub fn parse(s: &str) -> Option<Engine> {
        match s {
            "epoll" => Some(Engine::Epoll),
            "uring" | "io_uring" => Some(Engine::Uring),
            _ => None,
        }
    }
}

/// When the generator sends: closed loop (a message when an echo comes back) or open loop
/// (at fixed times, whatever came back).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mode {
    /// One message in flight: send, wait for its echo, send the next.
    PingPong,
    /// `depth` messages in flight: a new one goes out as each echo completes.
    Pipelined(u32),
    /// Open loop: messages go out at a fixed total rate, spread evenly over the
    /// connections, however many are in flight; latency counts from each message's intended
    /// send time.
    Fixed(Rate),
}

/// A fixed offered rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rate {
    /// Echoes per second, all connections together.
    PerSec(u64),
    /// A percentage of what the better epoll server sustained, saturated (ping-pong), with
    /// the same engine, connections and size.
    OfEpoll(u32),
}

impl Rate {
    /// Parses `90000` (echoes per second) or `50%`.
    pub fn parse(s: &str) -> Option<Rate> {
        match s.strip_suffix('%') {
            Some(p) => p.parse().ok().filter(|&p| p > 0).map(Rate::OfEpoll),
            None => s.parse().ok().filter(|&r| r > 0).map(Rate::PerSec),
        }
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rate::PerSec(r) => write!(f, "{r}/s"),
            Rate::OfEpoll(p) => write!(f, "{p}%"),
        }
    }
}

impl Mode {
    /// Messages each connection starts with (an open loop starts with none).
    pub fn depth(self) -> u32 {
        match self {
            Mode::PingPong => 1,
            Mode::Pipelined(k) => k.max(1),
            Mode::Fixed(_) => 0,
        }
    }

    /// `pingpong`, `pipeK` or `rate=R` (R as `90000/s` or `50%`), as in the CSV files.
    pub fn label(self) -> String {
        match self {
            Mode::PingPong => "pingpong".to_string(),
            Mode::Pipelined(k) => format!("pipe{k}"),
            Mode::Fixed(r) => format!("rate={r}"),
        }
    }
}

/// One cell of the matrix: what the generator does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cell {
    /// The generator engine.
    pub engine: Engine,
    /// Connections in all.
    pub conns: u32,
    /// Bytes per message.
    pub size: u32,
    /// Ping-pong or pipelined.
    pub mode: Mode,
}

impl fmt::Display for Cell {
    /// `50 x 64 B ping-pong, epoll client`: connections, size, mode, generator engine.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let size = match self.size {
            s if s >= 1024 && s % 1024 == 0 => format!("{} KiB", s / 1024),
            s => format!("{s} B"),
        };
        let mode = match self.mode {
            Mode::PingPong => "ping-pong".to_string(),
            Mode::Pipelined(k) => format!("{k} in flight"),
            Mode::Fixed(Rate::PerSec(r)) => format!("at {r}/s"),
            Mode::Fixed(Rate::OfEpoll(p)) => format!("at {p}% of epoll's max"),
        };
        write!(
            f,
            "{} x {size} {mode}, {} client",
            self.conns,
            self.engine.name()
        )
    }
}

impl Cell {
    /// The closed-loop ping-pong cell of the same shape: the one whose best epoll rate a
    /// percentage rate refers to.
    pub fn saturated(self) -> Cell {
        Cell {
            mode: Mode::PingPong,
            ..self
        }
    }
}
