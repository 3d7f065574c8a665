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
pub mod report;
pub mod runtime_server;
pub mod stats;
pub mod tokio_server;

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Default bytes per read call (the epoll servers' one buffer, runtime-rw's and tokio's
/// buffer per connection) and size of each buffer of the runtime server's provided-buffer
/// pool (`--read-buf`).
pub const READ_BUF: usize = 16 * 1024;
/// Default buffers in the runtime server's provided-buffer pool (`--pool-bufs`, a power of
/// two).
pub const POOL_BUFS: u16 = 1024;
/// The listen backlog of every server (the kernel caps it at `net.core.somaxconn`).
pub const BACKLOG: i32 = 4096;

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

/// The bytes of every message: connection `conn`'s message `seq` of `size` bytes is a
/// 12-byte header (`seq` as u64 LE, `conn` as u32 LE; cut short for tiny messages) and then
/// a window of a fixed random sequence whose start depends on both, so a byte echoed on the
/// wrong connection, out of order, twice or altered differs from what is expected.
pub struct Pattern {
    bytes: Vec<u8>,
    max_size: usize,
}

/// Header bytes at the start of each message.
const HEADER: usize = 12;
/// The random sequence repeats with this (prime) period.
const PERIOD: usize = 4093;

impl Pattern {
    /// A pattern for messages of up to `max_size` bytes.
    pub fn new(max_size: usize) -> Pattern {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut base = Vec::with_capacity(PERIOD);
        for _ in 0..PERIOD {
            // xorshift64*
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            base.push((x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8);
        }
        let mut bytes = Vec::with_capacity(PERIOD + max_size);
        while bytes.len() < PERIOD + max_size {
            let take = (PERIOD + max_size - bytes.len()).min(PERIOD);
            bytes.extend_from_slice(&base[..take]);
        }
        Pattern { bytes, max_size }
    }

    /// The largest message size this pattern serves.
    pub fn max_size(&self) -> usize {
        self.max_size
    }

    fn start(conn: u32, seq: u64) -> usize {
        let h = (u64::from(conn).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ seq)
            .wrapping_mul(0xBF58_476D_1CE4_E5B9);
        ((h >> 32) % PERIOD as u64) as usize
    }

    fn header(conn: u32, seq: u64) -> [u8; HEADER] {
        let mut h = [0u8; HEADER];
        h[..8].copy_from_slice(&seq.to_le_bytes());
        h[8..].copy_from_slice(&conn.to_le_bytes());
        h
    }

    /// Appends message (`conn`, `seq`) of `size` bytes to `out`.
    pub fn append(&self, conn: u32, seq: u64, size: usize, out: &mut Vec<u8>) {
        debug_assert!(size <= self.max_size);
        let h = Self::header(conn, seq);
        let hl = size.min(HEADER);
        out.extend_from_slice(&h[..hl]);
        let s = Self::start(conn, seq);
        out.extend_from_slice(&self.bytes[s + hl..s + size]);
    }

    /// Checks that `data` is bytes `off..off + data.len()` of message (`conn`, `seq`) of
    /// `size` bytes; returns the first differing offset (within the message) and the byte
    /// expected there.
    pub fn check(
        &self,
        conn: u32,
        seq: u64,
        size: usize,
        off: usize,
        data: &[u8],
    ) -> Result<(), (usize, u8)> {
        debug_assert!(off + data.len() <= size);
        let mut i = 0;
        if off < HEADER.min(size) {
            let h = Self::header(conn, seq);
            while i < data.len() && off + i < HEADER.min(size) {
                if data[i] != h[off + i] {
                    return Err((off + i, h[off + i]));
                }
                i += 1;
            }
        }
        if i < data.len() {
            let s = Self::start(conn, seq) + off + i;
            let want = &self.bytes[s..s + data.len() - i];
            if want != &data[i..] {
                let j = want
                    .iter()
                    .zip(&data[i..])
                    .position(|(a, b)| a != b)
                    .unwrap_or(0);
                return Err((off + i + j, want[j]));
            }
        }
        Ok(())
    }
}

/// Pins the calling thread to `cpu`.
///
/// # Errors
/// `sched_setaffinity(2)`'s errno (EINVAL for a CPU this machine or cgroup lacks).
pub fn pin_thread(cpu: usize) -> io::Result<()> {
    pin_to(&[cpu])
}

/// Restricts the calling thread (and threads it starts later) to `cpus`.
///
/// # Errors
/// `sched_setaffinity(2)`'s errno.
pub fn pin_to(cpus: &[usize]) -> io::Result<()> {
    // SAFETY: cpu_set_t is plain data, zeroed is an empty set; CPU_SET only writes inside
    // it (it ignores CPUs past CPU_SETSIZE); sched_setaffinity reads it for this thread.
    let rc = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &cpu in cpus {
            libc::CPU_SET(cpu, &mut set);
        }
        libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set)
    };
    if rc == 0 {
        Ok(())
    } else {
        let e = io::Error::last_os_error();
        Err(io::Error::new(
            e.kind(),
            format!("could not pin to CPUs {cpus:?}: {e}"),
        ))
    }
}

/// The number of CPUs this process may use.
pub fn cpu_count() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Raises `RLIMIT_NOFILE`'s soft limit to its hard limit (thousands of connections need as
/// many fds); returns the new soft limit.
///
/// # Errors
/// `getrlimit`/`setrlimit`'s errno.
pub fn raise_nofile() -> io::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid rlimit for the kernel to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if lim.rlim_cur < lim.rlim_max {
        lim.rlim_cur = lim.rlim_max;
        // SAFETY: `lim` is a valid rlimit for the kernel to read.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(lim.rlim_cur)
}

/// Turns a `-1` return into the errno.
pub fn cvt(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

fn set_int_opt(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: the option value is a c_int that lives across the call, with its size.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// `TCP_NODELAY` on.
///
/// # Errors
/// `setsockopt(2)`'s errno.
pub fn set_nodelay(fd: RawFd) -> io::Result<()> {
    set_int_opt(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1)
}

/// `SO_LINGER` with a zero timeout: `close` resets the connection instead of leaving it in
/// TIME_WAIT (a benchmark opens tens of thousands of connections).
///
/// # Errors
/// `setsockopt(2)`'s errno.
pub fn set_linger_zero(fd: RawFd) -> io::Result<()> {
    let l = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: the option value is a linger struct that lives across the call, with its size.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&l as *const libc::linger).cast(),
            size_of::<libc::linger>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// Sets or clears `O_NONBLOCK`.
///
/// # Errors
/// `fcntl(2)`'s errno.
pub fn set_nonblocking(fd: RawFd, on: bool) -> io::Result<()> {
    // SAFETY: F_GETFL/F_SETFL take and return plain ints.
    unsafe {
        let flags = cvt(libc::fcntl(fd, libc::F_GETFL))?;
        let flags = if on {
            flags | libc::O_NONBLOCK
        } else {
            flags & !libc::O_NONBLOCK
        };
        cvt(libc::fcntl(fd, libc::F_SETFL, flags)).map(drop)
    }
}

fn sockaddr_v4(port: u16) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(std::net::Ipv4Addr::LOCALHOST).to_be(),
        },
        sin_zero: [0; 8],
    }
}

/// A TCP socket bound to `127.0.0.1:port` (0: the kernel picks), with `SO_REUSEADDR` and,
/// when `reuseport`, `SO_REUSEPORT`; listening with [`BACKLOG`] when `listen`. Returns it
/// and its port.
///
/// A bound socket that does not listen reserves a port for a group of `SO_REUSEPORT`
/// listeners without taking connections itself.
///
/// # Errors
/// `socket`/`setsockopt`/`bind`/`listen`'s errno.
pub fn bind_tcp(port: u16, reuseport: bool, listen: bool) -> io::Result<(OwnedFd, u16)> {
    // SAFETY: socket(2) takes plain ints; the fd is checked and owned right after.
    let fd = cvt(unsafe {
        libc::socket(
            libc::AF_INET,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            libc::IPPROTO_TCP,
        )
    })?;
    // SAFETY: a fresh fd that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    set_int_opt(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    if reuseport {
        set_int_opt(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)?;
    }
    let addr = sockaddr_v4(port);
    // SAFETY: `addr` is a sockaddr_in that lives across the call, with its size.
    cvt(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_in).cast(),
            size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    })?;
    if listen {
        // SAFETY: listen(2) takes plain ints.
        cvt(unsafe { libc::listen(fd.as_raw_fd(), BACKLOG) })?;
    }
    let mut out: libc::sockaddr_in = sockaddr_v4(0);
    let mut len = size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: `out` and `len` are valid for the kernel to fill (len says out's size).
    cvt(unsafe {
        libc::getsockname(
            fd.as_raw_fd(),
            (&mut out as *mut libc::sockaddr_in).cast(),
            &mut len,
        )
    })?;
    Ok((fd, u16::from_be(out.sin_port)))
}

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
        ServerKind::Runtime | ServerKind::RuntimeRw => runtime_server::serve(args),
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

/// CPU time.
pub mod cpu {
    use std::io;

    /// CPU time (user + system, all threads, live or exited) of process `pid`, in ns: the
    /// process CPU clock (`clock_getcpuclockid`), which reads the scheduler's exact
    /// per-thread runtime that `/proc/<pid>/schedstat` shows, rather than the 10 ms ticks of
    /// `/proc/<pid>/stat`.
    ///
    /// # Errors
    /// ESRCH when the process is gone.
    pub fn process_cpu_ns(pid: u32) -> io::Result<u64> {
        let mut clock: libc::clockid_t = 0;
        // SAFETY: `clock` is valid for the call to fill.
        let rc = unsafe { libc::clock_getcpuclockid(pid as libc::pid_t, &mut clock) };
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        clock_ns(clock)
    }

    /// CPU time of the calling thread, in ns.
    pub fn thread_cpu_ns() -> u64 {
        clock_ns(libc::CLOCK_THREAD_CPUTIME_ID).unwrap_or(0)
    }

    fn clock_ns(clock: libc::clockid_t) -> io::Result<u64> {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is valid for the call to fill.
        if unsafe { libc::clock_gettime(clock, &mut ts) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
    }

    /// `utime` and `stime` of process `pid` from `/proc/<pid>/stat`, in seconds (tick
    /// resolution; for the user/system split).
    ///
    /// # Errors
    /// When the file cannot be read or parsed.
    pub fn proc_stat_times(pid: u32) -> io::Result<(f64, f64)> {
        let s = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
        // The command name (field 2) may contain spaces; fields resume after its ')'.
        let rest = s
            .rsplit_once(')')
            .map(|(_, r)| r)
            .ok_or_else(|| io::Error::other("odd /proc/pid/stat"))?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // After ')': state is field 3, so utime (14) and stime (15) are at 11 and 12.
        let tick = clock_ticks() as f64;
        let get = |i: usize| -> io::Result<f64> {
            fields
                .get(i)
                .and_then(|v| v.parse::<u64>().ok())
                .map(|v| v as f64 / tick)
                .ok_or_else(|| io::Error::other("odd /proc/pid/stat"))
        };
        Ok((get(11)?, get(12)?))
    }

    /// Context switches of process `pid`, all threads, voluntary (it slept: waited for
    /// events) plus involuntary (preempted), from `/proc/<pid>/status` (live threads only).
    ///
    /// # Errors
    /// When the file cannot be read.
    pub fn context_switches(pid: u32) -> io::Result<u64> {
        let mut total = 0;
        for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
            let Ok(status) = std::fs::read_to_string(task?.path().join("status")) else {
                continue;
            };
            for line in status.lines() {
                if let Some(v) = line
                    .strip_prefix("voluntary_ctxt_switches:")
                    .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"))
                {
                    total += v.trim().parse::<u64>().unwrap_or(0);
                }
            }
        }
        Ok(total)
    }

    /// TCP segments sent by the whole host (`OutSegs` of `/proc/net/snmp`): over loopback,
    /// the requests, the echoes and every pure ACK of both sides.
    ///
    /// # Errors
    /// When the file cannot be read or parsed.
    pub fn tcp_out_segs() -> io::Result<u64> {
        let s = std::fs::read_to_string("/proc/net/snmp")?;
        let mut tcp = s.lines().filter(|l| l.starts_with("Tcp:"));
        let (Some(names), Some(values)) = (tcp.next(), tcp.next()) else {
            return Err(io::Error::other("no Tcp lines in /proc/net/snmp"));
        };
        names
            .split_whitespace()
            .zip(values.split_whitespace())
            .find(|(n, _)| *n == "OutSegs")
            .and_then(|(_, v)| v.parse().ok())
            .ok_or_else(|| io::Error::other("no Tcp OutSegs in /proc/net/snmp"))
    }

    /// Busy time (user, nice, system, irq, softirq and steal) of each CPU in `cpus`, summed,
    /// in seconds, from `/proc/stat` (tick resolution). Against the benchmark's own CPU time
    /// it shows how much other processes (or the hypervisor) took from its CPUs.
    ///
    /// # Errors
    /// When `/proc/stat` cannot be read or parsed.
    pub fn cpus_busy_s(cpus: &[usize]) -> io::Result<f64> {
        let s = std::fs::read_to_string("/proc/stat")?;
        let tick = clock_ticks() as f64;
        let mut total = 0u64;
        for line in s.lines() {
            let mut f = line.split_whitespace();
            let Some(cpu) = f
                .next()
                .and_then(|n| n.strip_prefix("cpu"))
                .and_then(|n| n.parse::<usize>().ok())
            else {
                continue;
            };
            if !cpus.contains(&cpu) {
                continue;
            }
            let v: Vec<u64> = f.map(|x| x.parse().unwrap_or(0)).collect();
            // user nice system idle iowait irq softirq steal ...
            total += [0, 1, 2, 5, 6, 7]
                .iter()
                .map(|&i| v.get(i).copied().unwrap_or(0))
                .sum::<u64>();
        }
        Ok(total as f64 / tick)
    }

    fn clock_ticks() -> i64 {
        // SAFETY: sysconf takes a plain int.
        let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        if t > 0 { t } else { 100 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_checks_what_it_appends() {
        let p = Pattern::new(5000);
        for size in [1usize, 5, 12, 13, 64, 4999] {
            let mut v = Vec::new();
            p.append(7, 42, size, &mut v);
            assert_eq!(v.len(), size);
            assert_eq!(p.check(7, 42, size, 0, &v), Ok(()));
            // In pieces.
            let mid = size / 2;
            assert_eq!(p.check(7, 42, size, 0, &v[..mid]), Ok(()));
            assert_eq!(p.check(7, 42, size, mid, &v[mid..]), Ok(()));
            // Another connection or sequence number differs.
            if size >= 9 {
                assert!(p.check(8, 42, size, 0, &v).is_err());
            }
            assert!(p.check(7, 43, size, 0, &v).is_err());
            // One flipped byte is found where it is.
            let mut w = v.clone();
            w[size - 1] ^= 0x10;
            assert_eq!(p.check(7, 42, size, 0, &w).unwrap_err().0, size - 1);
        }
    }
}
