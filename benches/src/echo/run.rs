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
    /// the provided-buffer ring, and the received buffer sent back as is.
    Runtime,
    /// This runtime, the plainest loop: `read(Vec)` then `write_all`.
    RuntimeRw,
    /// tokio's current_thread runtime: a task per connection, split read/`write_all`.
    Tokio,
    /// The C reference on liburing (`benches/c/echo_liburing.c`, one core): multishot
    /// accept and recv on a provided-buffer ring, each buffer sent back as is. Built with
    /// `cc` when asked for (`--servers ...,c-liburing`), never part of the default matrix.
    CLiburing,
    /// A deliberately broken epoll server (it flips a bit now and then), to check that the
    /// generator's verification fails loudly. Never part of a matrix unless asked for.
    Faulty,
}

impl ServerKind {
    /// The servers of a matrix, in the order they alternate.
    pub const ALL: [ServerKind; 5] = [
        ServerKind::EpollLt,
        ServerKind::EpollEt,
        ServerKind::Runtime,
        ServerKind::RuntimeRw,
        ServerKind::Tokio,
    ];

    /// The name used on the command line, in tables and files.
    pub fn name(self) -> &'static str {
        match self {
            ServerKind::EpollLt => "epoll-lt",
            ServerKind::EpollEt => "epoll-et",
            ServerKind::Runtime => "runtime",
            ServerKind::RuntimeRw => "runtime-rw",
            ServerKind::Tokio => "tokio",
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

/// How many messages each connection keeps in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mode {
    /// One message in flight: send, wait for its echo, send the next.
    PingPong,
    /// `depth` messages in flight: a new one goes out as each echo completes.
    Pipelined(u32),
}

impl Mode {
    /// Messages in flight per connection.
    pub fn depth(self) -> u32 {
        match self {
            Mode::PingPong => 1,
            Mode::Pipelined(k) => k.max(1),
        }
    }

    /// `pingpong` or `pipeK`.
    pub fn label(self) -> String {
        match self {
            Mode::PingPong => "pingpong".to_string(),
            Mode::Pipelined(k) => format!("pipe{k}"),
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
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "engine={} C={} S={} {}",
            self.engine.name(),
            self.conns,
            self.size,
            self.mode.label()
        )
    }
}
