//! The load generator's common part: connections and their verification state, the measuring
//! window, and the threads that run an engine ([`super::gen_epoll`], [`super::gen_uring`]).

use std::collections::VecDeque;
use std::io;
use std::net::{Ipv4Addr, TcpStream};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::pattern::Pattern;
use super::run::{Cell, Engine};
use super::sockopt::set_linger_zero;
use super::stats::Histogram;
use crate::cpu::{pin_thread, thread_cpu_ns};

/// With no echo at all for this long, a run fails (a hung or dead server).
const STALL: Duration = Duration::from_secs(5);
/// Messages are written into a connection's `tx` only while it holds less than this, so
/// thousands of connections with many large messages in flight need little memory.
const TX_AHEAD: usize = 64 * 1024;

/// One client connection: what it sent, what it expects back, and its unsent bytes.
pub struct Conn {
    /// Its number across the whole run (part of every message's content).
    pub id: u32,
    /// The socket (non-blocking).
    pub fd: OwnedFd,
    /// The next message to write into `tx`.
    next_seq: u64,
    /// Messages queued (in flight, stamped in `sent_at`) but not yet written into `tx`.
    owed: u32,
    /// The message being received, and how much of it arrived.
    recv_seq: u64,
    recv_off: usize,
    /// When each message in flight was queued, oldest (`recv_seq`) first.
    sent_at: VecDeque<Instant>,
    /// Bytes queued and not yet written (from `tx_off` on).
    pub tx: Vec<u8>,
    /// How much of `tx` was written.
    pub tx_off: usize,
}

impl Conn {
    fn new(id: u32, fd: OwnedFd, depth: u32, size: usize) -> Conn {
        Conn {
            id,
            fd,
            next_seq: 0,
            owed: 0,
            recv_seq: 0,
            recv_off: 0,
            sent_at: VecDeque::with_capacity(depth as usize),
            tx: Vec::with_capacity((size * depth as usize).min(TX_AHEAD + size)),
            tx_off: 0,
        }
    }

    /// The raw fd.
    pub fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Queues the next message (in flight from `now` on); [`Conn::refill`] writes it into
    /// `tx`.
    pub fn queue(&mut self, now: Instant) {
        self.sent_at.push_back(now);
        self.owed += 1;
    }

    /// Writes queued messages into `tx` while it holds less than 64 KiB unsent.
    pub fn refill(&mut self, pattern: &Pattern, size: usize) {
        if self.owed > 0 && self.tx_off >= TX_AHEAD {
            // Under steady backpressure `tx` never drains: drop the written part.
            self.tx.drain(..self.tx_off);
            self.tx_off = 0;
        }
        while self.owed > 0 && self.tx.len() - self.tx_off < TX_AHEAD {
            pattern.append(self.id, self.next_seq, size, &mut self.tx);
            self.next_seq += 1;
            self.owed -= 1;
        }
    }

    /// Whether bytes wait in `tx`.
    pub fn has_unsent(&self) -> bool {
        self.tx_off < self.tx.len()
    }

    /// Marks `n` more bytes of `tx` written; empties it once all are.
    pub fn sent(&mut self, n: usize) {
        self.tx_off += n;
        if self.tx_off >= self.tx.len() {
            self.tx.clear();
            self.tx_off = 0;
        }
    }

    /// Checks received `data` against what this connection sent, byte for byte, and counts
    /// each message it completes in `meter`. Returns how many messages completed.
    ///
    /// # Errors
    /// `InvalidData` naming the connection, message and offset of the first wrong byte, or
    /// saying that more bytes came back than were sent.
    pub fn receive(
        &mut self,
        pattern: &Pattern,
        size: usize,
        mut data: &[u8],
        now: Instant,
        meter: &mut Meter,
    ) -> io::Result<u32> {
        let mut done = 0;
        while !data.is_empty() {
            if self.recv_seq >= self.next_seq {
                return Err(verify_error(format!(
                    "connection {}: {} bytes came back beyond the {} messages sent",
                    self.id,
                    data.len(),
                    self.next_seq
                )));
            }
            let take = (size - self.recv_off).min(data.len());
            let (chunk, rest) = data.split_at(take);
            if let Err((off, want)) =
                pattern.check(self.id, self.recv_seq, size, self.recv_off, chunk)
            {
                let got = chunk[off - self.recv_off];
                return Err(verify_error(format!(
                    "connection {}, message {} of {size} bytes, byte {off}: expected {want:#04x}, \
                     got {got:#04x}",
                    self.id, self.recv_seq
                )));
            }
            self.recv_off += take;
            data = rest;
            if self.recv_off == size {
                let sent = self.sent_at.pop_front().unwrap_or(now);
                meter.echoed(now, now.saturating_duration_since(sent), size);
                self.recv_seq += 1;
                self.recv_off = 0;
                done += 1;
            }
        }
        Ok(done)
    }
}

/// A wrong echo: `InvalidData`, which the driver reports as a verification failure.
pub fn verify_error(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// The measuring window, shared by the generator threads and the thread that opens it: it
/// opens once the warm-up time has passed *and* enough echoes completed (see
/// [`Plan::warmup_echoes`]), so its edges are decided while the threads run.
pub struct Window {
    /// What the start counts from.
    base: Instant,
    /// The window's start, in ns after `base`; [`Window::UNSET`] until opened.
    start_ns: AtomicU64,
    /// Its length.
    duration: Duration,
    /// Echoes completed so far by all threads (published once a loop turn until the
    /// window opens).
    echoed: AtomicU64,
}

impl Window {
    const UNSET: u64 = u64::MAX;

    fn new(duration: Duration) -> Window {
        Window {
            base: Instant::now(),
            start_ns: AtomicU64::new(Self::UNSET),
            duration,
            echoed: AtomicU64::new(0),
        }
    }

    /// Opens the window at `start`; returns its end.
    fn open(&self, start: Instant) -> Instant {
        let ns = start.saturating_duration_since(self.base).as_nanos() as u64;
        self.start_ns.store(ns, Ordering::Relaxed);
        start + self.duration
    }

    /// The window's start and end once it is open.
    fn edges(&self) -> Option<(Instant, Instant)> {
        let ns = self.start_ns.load(Ordering::Relaxed);
        let start = self.base + Duration::from_nanos((ns != Self::UNSET).then_some(ns)?);
        Some((start, start + self.duration))
    }
}

/// Counts echoes inside the measuring window, and the generator thread's CPU time there.
pub struct Meter {
    window: Arc<Window>,
    /// The window's edges as this thread knows them: far in the future until it opens.
    warm: Instant,
    end: Instant,
    /// Echoes of this thread already added to `window.echoed`.
    published: u64,
    /// Echoes completed inside the window.
    pub echoes: u64,
    /// Payload bytes of those echoes.
    pub bytes: u64,
    /// Their latencies (ns, from queueing the message to its last echoed byte).
    pub hist: Histogram,
    /// Echoes completed (and verified) in all, warm-up included.
    pub total: u64,
    /// Thread CPU time and wall time when the window opened and closed (as the engine saw
    /// it, at its next loop turn).
    cpu_start: Option<(u64, Instant)>,
    cpu_end: Option<(u64, Instant)>,
    last_echo: Instant,
}

impl Meter {
    fn new(window: Arc<Window>) -> Meter {
        let never = Instant::now() + Duration::from_secs(86_400 * 365);
        Meter {
            window,
            warm: never,
            end: never,
            published: 0,
            echoes: 0,
            bytes: 0,
            hist: Histogram::new(),
            total: 0,
            cpu_start: None,
            cpu_end: None,
            last_echo: Instant::now(),
        }
    }

    #[inline]
    fn echoed(&mut self, now: Instant, latency: Duration, size: usize) {
        if self.cpu_start.is_none() {
            // The window may have opened since this turn's tick: its echoes count.
            self.learn_edges();
        }
        self.total += 1;
        self.last_echo = now;
        if now >= self.warm && now < self.end {
            self.echoes += 1;
            self.bytes += size as u64;
            self.hist.record(latency.as_nanos() as u64);
        }
    }

    /// Called by the engine each loop turn: takes the CPU snapshots at the window's edges.
    /// Returns `Ok(false)` once the window is over.
    ///
    /// # Errors
    /// `TimedOut` when no echo completed for several seconds.
    pub fn tick(&mut self, now: Instant) -> io::Result<bool> {
        if self.cpu_start.is_none() && !self.learn_edges() {
            let new = self.total - self.published;
            if new > 0 {
                self.window.echoed.fetch_add(new, Ordering::Relaxed);
                self.published = self.total;
            }
        }
        if self.cpu_start.is_none() && now >= self.warm {
            self.cpu_start = Some((thread_cpu_ns(), now));
        }
        if now >= self.end {
            self.cpu_end = Some((thread_cpu_ns(), now));
            return Ok(false);
        }
        if now.saturating_duration_since(self.last_echo) > STALL {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "no echo for {} s ({} echoes so far): the server hung or died",
                    STALL.as_secs(),
                    self.total
                ),
            ));
        }
        Ok(true)
    }

    /// Takes the window's edges once it is open; whether it is.
    fn learn_edges(&mut self) -> bool {
        match self.window.edges() {
            Some((warm, end)) => {
                (self.warm, self.end) = (warm, end);
                true
            }
            None => false,
        }
    }

    /// How long the engine may block waiting before it must look at the clock again.
    pub fn wait_hint(&self, now: Instant) -> Duration {
        const SOON: Duration = Duration::from_micros(100);
        if self.cpu_start.is_none() {
            return match self.window.edges() {
                // Open, and this thread has not taken its CPU snapshot yet: tick now.
                Some(_) => SOON,
                // The window opens when another thread says so: look again soon.
                None => Duration::from_millis(1),
            };
        }
        let edge = if now < self.warm { self.warm } else { self.end };
        edge.saturating_duration_since(now)
            .clamp(SOON, Duration::from_millis(20))
    }
}

/// The open loop's clock: a thread's message `k` is due at `start + k / rate`, on
/// connection `k % conns`, so each connection sends at `rate / conns`, the connections
/// evenly staggered, whether or not earlier echoes came back.
pub struct Pacer {
    start: Instant,
    ns_per_msg: f64,
    sent: u64,
}

impl Pacer {
    /// A clock from `start` at `rate` messages per second (all of this thread's
    /// connections together).
    pub fn new(start: Instant, rate: f64) -> Pacer {
        Pacer {
            start,
            ns_per_msg: 1e9 / rate.max(1e-3),
            sent: 0,
        }
    }

    /// When the next message is due.
    pub fn next_due(&self) -> Instant {
        self.start + Duration::from_nanos((self.sent as f64 * self.ns_per_msg) as u64)
    }

    /// Queues every message due by `now` on its connection, stamped with its intended send
    /// time (latency counts from there, so a late send is the generator's or the server's
    /// delay, never hidden), and calls `touched` once for each connection that got one.
    pub fn queue_due(&mut self, now: Instant, conns: &mut [Conn], mut touched: impl FnMut(usize)) {
        let n = conns.len() as u64;
        if n == 0 {
            return;
        }
        let first = self.sent;
        loop {
            let due = self.next_due();
            if due > now {
                break;
            }
            conns[(self.sent % n) as usize].queue(due);
            self.sent += 1;
        }
        for k in first..first + (self.sent - first).min(n) {
            touched((k % n) as usize);
        }
    }
}

/// What one engine thread works on: its connections and the message shape.
pub struct Session {
    /// Connections of this thread.
    pub conns: Vec<Conn>,
    /// Message contents.
    pub pattern: Arc<Pattern>,
    /// Bytes per message.
    pub size: usize,
    /// Messages in flight per connection (closed loop: each echo sends the next one).
    pub depth: u32,
    /// The open loop's clock (a fixed rate): messages go out when due, not on echoes.
    pub pacer: Option<Pacer>,
    /// The window and its counts.
    pub meter: Meter,
}

impl Session {
    /// How long the engine may wait for completions: until the window's next edge or the
    /// next message due, whichever comes first.
    pub fn wait_hint(&self, now: Instant) -> Duration {
        let hint = self.meter.wait_hint(now);
        match &self.pacer {
            Some(p) => hint.min(p.next_due().saturating_duration_since(now)),
            None => hint,
        }
    }

    /// Queues what an echo of connection `i` completing `done` messages at `now` calls for:
    /// as many new messages in a closed loop, none in an open one.
    pub fn on_echoes(&mut self, i: usize, done: u32, now: Instant) {
        if self.pacer.is_none() {
            for _ in 0..done {
                self.conns[i].queue(now);
            }
        }
    }
}

/// The result of one generator run (all threads).
#[derive(Debug, Default)]
pub struct GenResult {
    /// Echoes completed inside the window.
    pub echoes: u64,
    /// Their payload bytes.
    pub bytes: u64,
    /// Their latencies, in ns.
    pub hist: Histogram,
    /// Echoes verified in all (warm-up included).
    pub total_echoes: u64,
    /// The generator threads' CPU time inside the window, summed, in ns.
    pub cpu_ns: u64,
    /// The busiest generator thread's share of its CPU over the window (1.0: saturated).
    pub max_thread_busy: f64,
}

/// What a run of the generator does.
pub struct Plan {
    /// The server's port on 127.0.0.1.
    pub port: u16,
    /// Engine, connections, size, mode.
    pub cell: Cell,
    /// Generator threads (connections are split among them).
    pub threads: usize,
    /// The CPU each thread is pinned to (thread `i` takes `cpus[i % len]`).
    pub cpus: Vec<usize>,
    /// The fixed total rate (echoes per second) of an open loop; `None`: closed loop.
    pub rate: Option<f64>,
    /// Time before the window opens.
    pub warmup: Duration,
    /// Echoes (all threads together) that must complete before the window opens, however
    /// long that takes after `warmup` (up to [`WARMUP_ECHOES_WAIT`] more): a server that
    /// faults in its buffers on first use (the runtime's pool of 1,024, one page fault per
    /// receive on the first pass) reaches its steady state only after that.
    pub warmup_echoes: u64,
    /// The window.
    pub duration: Duration,
    /// Message contents.
    pub pattern: Arc<Pattern>,
}

/// The window's edges, for [`run`]'s caller to sample the server's CPU time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// Every connection is up; the warm-up starts.
    Connected,
    /// The window opens.
    WindowStart,
    /// The window closes.
    WindowEnd,
}

enum Go {
    Run(Arc<Window>),
    Abort,
}

/// The longest the window waits for [`Plan::warmup_echoes`] beyond the warm-up time.
pub const WARMUP_ECHOES_WAIT: Duration = Duration::from_secs(2);

/// Runs the generator: connects every connection (split among the threads), warms up, then
/// measures for the window; `mark` is called at the window's edges (on this thread, which
/// only sleeps meanwhile).
///
/// # Errors
/// A connection that could not be made, a wrong echo (`InvalidData`), a stalled server
/// (`TimedOut`), or any socket or ring error.
pub fn run(plan: &Plan, mark: &mut dyn FnMut(Mark)) -> io::Result<GenResult> {
    let threads = plan.threads.max(1).min(plan.cell.conns.max(1) as usize);
    let go: Arc<(Mutex<Option<Go>>, Condvar)> = Arc::new((Mutex::new(None), Condvar::new()));
    let (ready_tx, ready_rx) = mpsc::channel::<io::Result<()>>();
    let mut handles = Vec::with_capacity(threads);
    let per = plan.cell.conns as usize / threads;
    let extra = plan.cell.conns as usize % threads;
    let mut first = 0u32;
    for t in 0..threads {
        let count = (per + usize::from(t < extra)) as u32;
        let ids = first..first + count;
        first += count;
        let cpu = plan.cpus.get(t % plan.cpus.len().max(1)).copied();
        let (go, ready_tx, pattern) = (go.clone(), ready_tx.clone(), plan.pattern.clone());
        let (port, cell) = (plan.port, plan.cell);
        // This thread's share of the rate.
        let rate = plan
            .rate
            .map(|r| r * f64::from(count) / f64::from(plan.cell.conns.max(1)));
        let h = std::thread::Builder::new()
            .name(format!("echo-gen-{t}"))
            .spawn(move || -> io::Result<GenResult> {
                let setup = (|| {
                    if let Some(cpu) = cpu {
                        pin_thread(cpu)?;
                    }
                    connect_all(port, ids, cell)
                })();
                let conns = match setup {
                    Ok(c) => {
                        let _ = ready_tx.send(Ok(()));
                        c
                    }
                    Err(e) => {
                        let msg = e.to_string();
                        let _ = ready_tx.send(Err(e));
                        return Err(io::Error::other(msg));
                    }
                };
                let window = {
                    let (lock, cv) = &*go;
                    let mut g = lock.lock().unwrap_or_else(|e| e.into_inner());
                    loop {
                        match &*g {
                            None => g = cv.wait(g).unwrap_or_else(|e| e.into_inner()),
                            Some(Go::Abort) => return Ok(GenResult::default()),
                            Some(Go::Run(window)) => break window.clone(),
                        }
                    }
                };
                let mut session = Session {
                    conns,
                    pattern,
                    size: cell.size as usize,
                    depth: cell.mode.depth(),
                    pacer: rate.map(|r| Pacer::new(Instant::now(), r)),
                    meter: Meter::new(window),
                };
                match cell.engine {
                    Engine::Epoll => super::gen_epoll::run(&mut session)?,
                    Engine::Uring => super::gen_uring::run(&mut session)?,
                }
                let m = &session.meter;
                let (cpu, busy) = match (m.cpu_start, m.cpu_end) {
                    (Some((c0, t0)), Some((c1, t1))) => {
                        let cpu = c1.saturating_sub(c0);
                        let wall = t1.saturating_duration_since(t0).as_nanos().max(1);
                        (cpu, cpu as f64 / wall as f64)
                    }
                    _ => (0, 0.0),
                };
                Ok(GenResult {
                    echoes: m.echoes,
                    bytes: m.bytes,
                    hist: m.hist.clone(),
                    total_echoes: m.total,
                    cpu_ns: cpu,
                    max_thread_busy: busy,
                })
            })?;
        handles.push(h);
    }
    drop(ready_tx);
    let mut setup_error = None;
    for _ in 0..threads {
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                setup_error.get_or_insert(e);
            }
            Err(_) => {
                setup_error.get_or_insert(io::Error::other("a generator thread died"));
            }
        }
    }
    let window = Arc::new(Window::new(plan.duration));
    let start = Instant::now();
    {
        let (lock, cv) = &*go;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = Some(if setup_error.is_some() {
            Go::Abort
        } else {
            Go::Run(window.clone())
        });
        cv.notify_all();
    }
    if setup_error.is_none() {
        mark(Mark::Connected);
        sleep_until(start + plan.warmup);
        let give_up = Instant::now() + WARMUP_ECHOES_WAIT;
        while window.echoed.load(Ordering::Relaxed) < plan.warmup_echoes && Instant::now() < give_up
        {
            std::thread::sleep(Duration::from_millis(1));
        }
        let end = window.open(Instant::now());
        mark(Mark::WindowStart);
        sleep_until(end);
        mark(Mark::WindowEnd);
    }
    let mut total = GenResult::default();
    let mut first_error = setup_error;
    for h in handles {
        match h.join() {
            Ok(Ok(r)) => {
                total.echoes += r.echoes;
                total.bytes += r.bytes;
                total.hist.merge(&r.hist);
                total.total_echoes += r.total_echoes;
                total.cpu_ns += r.cpu_ns;
                total.max_thread_busy = total.max_thread_busy.max(r.max_thread_busy);
            }
            Ok(Err(e)) => {
                // A wrong echo outranks the errors it may cause elsewhere.
                if e.kind() == io::ErrorKind::InvalidData
                    || first_error
                        .as_ref()
                        .is_none_or(|f| f.kind() != io::ErrorKind::InvalidData)
                {
                    first_error = Some(e);
                }
            }
            Err(_) => {
                first_error.get_or_insert(io::Error::other("a generator thread panicked"));
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(total),
    }
}

fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        std::thread::sleep(t - now);
    }
}

/// Opens connections `ids` (blocking connects, one after the other: the server accepts on
/// its own CPU meanwhile), with `TCP_NODELAY`, then makes them non-blocking.
fn connect_all(port: u16, ids: std::ops::Range<u32>, cell: Cell) -> io::Result<Vec<Conn>> {
    let mut conns = Vec::with_capacity(ids.len());
    for id in ids {
        let s = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("connection {id} to 127.0.0.1:{port}: {e}"),
            )
        })?;
        s.set_nodelay(true)?;
        s.set_nonblocking(true)?;
        let fd = OwnedFd::from(s);
        // Reset on close: no TIME_WAIT left behind by tens of thousands of connections.
        set_linger_zero(fd.as_raw_fd())?;
        conns.push(Conn::new(
            id,
            fd,
            cell.mode.depth().max(1),
            cell.size as usize,
        ));
    }
    Ok(conns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoes_count_only_once_the_window_opens_and_warm_up_echoes_are_published() {
        let window = Arc::new(Window::new(Duration::from_millis(100)));
        let mut m = Meter::new(window.clone());
        let t0 = Instant::now();
        // Warm-up: echoes are verified and published, not counted in the window.
        assert!(m.tick(t0).unwrap());
        m.echoed(t0, Duration::from_micros(10), 64);
        m.echoed(t0, Duration::from_micros(10), 64);
        assert!(m.tick(t0).unwrap());
        assert_eq!((m.echoes, m.total), (0, 2));
        assert_eq!(window.echoed.load(Ordering::Relaxed), 2);
        assert_eq!(m.wait_hint(t0), Duration::from_millis(1));
        // The window opens during a turn (after its tick): the wait that follows already
        // aims at it, and an echo of that turn counts.
        let start = Instant::now();
        window.open(start);
        assert!(m.wait_hint(start) <= Duration::from_millis(1));
        m.echoed(start, Duration::from_micros(10), 64);
        assert_eq!((m.echoes, m.total), (1, 3));
        // The next tick takes the CPU snapshot.
        assert!(m.tick(start).unwrap());
        assert!(m.cpu_start.is_some());
        let later = start + Duration::from_millis(1);
        m.echoed(later, Duration::from_micros(10), 64);
        assert_eq!((m.echoes, m.bytes, m.total), (2, 128, 4));
        // Past the end: not counted, and the engine stops.
        let past = start + Duration::from_millis(101);
        m.echoed(past, Duration::from_micros(10), 64);
        assert_eq!((m.echoes, m.total), (2, 5));
        assert!(!m.tick(start + Duration::from_millis(101)).unwrap());
    }

    #[test]
    fn the_pacer_stamps_intended_times_round_robin() {
        let conns = |n: u32| -> Vec<Conn> {
            (0..n)
                .map(|id| {
                    let fd = OwnedFd::from(std::fs::File::open("/dev/null").unwrap());
                    Conn::new(id, fd, 1, 64)
                })
                .collect()
        };
        let mut cs = conns(3);
        let start = Instant::now();
        // 1000 messages per second: one due every millisecond.
        let mut p = Pacer::new(start, 1000.0);
        let mut touched = Vec::new();
        p.queue_due(start + Duration::from_micros(4500), &mut cs, |i| {
            touched.push(i)
        });
        // Messages 0..=4 are due (at 0, 1, 2, 3, 4 ms), on connections 0 1 2 0 1.
        assert_eq!(touched, [0, 1, 2]);
        assert_eq!(p.next_due(), start + Duration::from_millis(5));
        let stamps: Vec<Vec<Duration>> = cs
            .iter()
            .map(|c| c.sent_at.iter().map(|t| *t - start).collect())
            .collect();
        let ms = Duration::from_millis;
        assert_eq!(
            stamps,
            [vec![ms(0), ms(3)], vec![ms(1), ms(4)], vec![ms(2)]]
        );
        // Nothing more is due before 5 ms.
        touched.clear();
        p.queue_due(start + Duration::from_micros(4900), &mut cs, |i| {
            touched.push(i)
        });
        assert!(touched.is_empty());
    }
}
