//! TCP on loopback, side by side with tokio's current_thread runtime in the same run:
//! - bulk, one-directional: 1 and 8 connections, 64 KiB writes, 1 GiB in all or 2 s
//!   (whichever ends first); MB/s at the receiver and MB per CPU-second of the receiver's
//!   thread (the server: a task per connection, reading into a 64 KiB buffer);
//! - ping-pong: 64-byte request, 64-byte response, 20,000 round trips after 1,000 of
//!   warm-up, p50/p99 in µs.
//!
//! Server and client run in one process, each on its own thread with its own one-core
//! runtime, pinned to two different CPUs (the first two this process may use). Runs
//! alternate between the two runtimes; each figure is the median over the runs, and each
//! bulk ratio comes with the echo benchmark's 90% interval and verdict.
//!
//! `cargo run --release -p benches --bin tcp [-- --runs N]` (default 5 runs).

use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

use benches::echo::report::{LEVEL, Ratio};
use benches::echo::stats::{LEVEL_BAND, ratio_interval};
use benches::{cpu, median, parse_runs};

const CHUNK: usize = 64 * 1024;
const BULK_BYTES: u64 = 1 << 30;
const BULK_TIME: Duration = Duration::from_secs(2);
const MSG: usize = 64;
const WARMUP: usize = 1_000;
const PINGS: usize = 20_000;

/// Pins the calling thread to `cpu` (best effort: an error is printed, the bench goes on).
fn pin(cpu: Option<usize>) {
    let Some(cpu) = cpu else { return };
    if let Err(e) = cpu::set_affinity(&[cpu]) {
        eprintln!("pinning to CPU {cpu}: {e}");
    }
}

/// Where each side runs.
#[derive(Clone, Copy)]
struct Cpus {
    server: Option<usize>,
    client: Option<usize>,
}

/// A loopback listener for one measurement.
fn std_listener() -> (std::net::TcpListener, SocketAddr) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("local addr");
    (l, addr)
}

/// Runs `server` and `client` on their own pinned threads; returns both outputs.
fn two_threads<S, C, SO, CO>(cpus: Cpus, server: S, client: C) -> (SO, CO)
where
    S: FnOnce() -> SO + Send + 'static,
    C: FnOnce() -> CO + Send + 'static,
    SO: Send + 'static,
    CO: Send + 'static,
{
    let s = thread::spawn(move || {
        pin(cpus.server);
        server()
    });
    let c = thread::spawn(move || {
        pin(cpus.client);
        client()
    });
    let co = c.join().expect("client thread");
    let so = s.join().expect("server thread");
    (so, co)
}

/// Connection counts of the bulk case.
const STREAMS: [usize; 2] = [1, 8];

/// What the receiving side of a bulk run saw: bytes, when the last stream ended, and its
/// thread's CPU time.
struct Received {
    bytes: u64,
    end: Instant,
    cpu_ns: u64,
}

/// (MB/s from the client's start to the server's last end of stream, MB per server
/// CPU-second).
fn throughput(r: &Received, start: Instant) -> (f64, f64) {
    let mb = r.bytes as f64 / 1e6;
    (
        mb / (r.end - start).as_secs_f64(),
        mb / (r.cpu_ns.max(1) as f64 / 1e9),
    )
}

/// (p50, p99) in µs.
fn percentiles(mut rtts: Vec<Duration>) -> (f64, f64) {
    rtts.sort();
    let at = |q: f64| rtts[((rtts.len() as f64 * q) as usize).min(rtts.len() - 1)];
    (at(0.50).as_secs_f64() * 1e6, at(0.99).as_secs_f64() * 1e6)
}

/// What the clients need of a connection, on either runtime: buffers go in and come back,
/// as our owned-buffer API has it.
trait Conn {
    /// Writes all of `buf`.
    async fn send(&mut self, buf: Vec<u8>) -> Vec<u8>;
    /// Reads until `buf` (`MSG` bytes) is full.
    async fn recv_exact(&mut self, buf: Vec<u8>) -> Vec<u8>;
}

/// One stream of the bulk client: `CHUNK`-byte writes until `bytes` are sent or
/// `BULK_TIME` has passed since `start`.
async fn bulk_stream(mut s: impl Conn, start: Instant, bytes: u64) {
    let mut buf = vec![0x5a_u8; CHUNK];
    let mut sent = 0u64;
    while sent < bytes && start.elapsed() < BULK_TIME {
        buf = s.send(buf).await;
        sent += CHUNK as u64;
    }
}

/// The ping-pong client: `WARMUP + PINGS` round trips of `MSG` bytes; returns the round trip
/// times after the warm-up.
async fn ping_pong_client(mut s: impl Conn) -> Vec<Duration> {
    let mut out = vec![7u8; MSG];
    let mut back = vec![0u8; MSG];
    let mut rtts = Vec::with_capacity(PINGS);
    for i in 0..WARMUP + PINGS {
        let t = Instant::now();
        out = s.send(out).await;
        back = s.recv_exact(back).await;
        if i >= WARMUP {
            rtts.push(t.elapsed());
        }
    }
    rtts
}

mod ours {
    use super::*;
    use net::{TcpListener, TcpStream};

    fn rt() -> runtime::Runtime {
        runtime::Runtime::new().expect("io_uring runtime")
    }

    impl Conn for TcpStream {
        async fn send(&mut self, buf: Vec<u8>) -> Vec<u8> {
            let (res, buf) = self.write_all(buf).await;
            res.unwrap();
            buf
        }

        async fn recv_exact(&mut self, buf: Vec<u8>) -> Vec<u8> {
            let (res, buf) = self.read_exact(buf).await;
            res.unwrap();
            buf
        }
    }

    /// Reads one stream to its end; returns the bytes.
    async fn drain(s: TcpStream) -> u64 {
        let mut buf = Vec::with_capacity(CHUNK);
        let mut total = 0u64;
        loop {
            let (res, b) = s.read(buf).await;
            let n = res.unwrap();
            if n == 0 {
                return total;
            }
            total += n as u64;
            buf = b;
            buf.clear();
        }
    }

    pub fn bulk(cpus: Cpus, streams: usize) -> (f64, f64) {
        let (l, addr) = std_listener();
        let (received, start) = two_threads(
            cpus,
            move || {
                rt().block_on(async {
                    let l = TcpListener::from_std(l).unwrap();
                    let mut tasks = Vec::new();
                    for _ in 0..streams {
                        let (s, _) = l.accept().await.unwrap();
                        tasks.push(runtime::spawn(drain(s)));
                    }
                    let cpu0 = cpu::thread_cpu_ns();
                    let mut bytes = 0;
                    for t in tasks {
                        bytes += t.await.unwrap();
                    }
                    Received {
                        bytes,
                        end: Instant::now(),
                        cpu_ns: cpu::thread_cpu_ns() - cpu0,
                    }
                })
            },
            move || {
                rt().block_on(async {
                    let mut conns = Vec::new();
                    for _ in 0..streams {
                        conns.push(TcpStream::connect(addr).await.unwrap());
                    }
                    let start = Instant::now();
                    let per = BULK_BYTES / streams as u64;
                    let tasks: Vec<_> = conns
                        .into_iter()
                        .map(|s| runtime::spawn(bulk_stream(s, start, per)))
                        .collect();
                    for t in tasks {
                        t.await.unwrap();
                    }
                    start
                })
            },
        );
        throughput(&received, start)
    }

    pub fn ping_pong(cpus: Cpus) -> (f64, f64) {
        let (l, addr) = std_listener();
        let ((), rtts) = two_threads(
            cpus,
            move || {
                rt().block_on(async {
                    let l = TcpListener::from_std(l).unwrap();
                    let (s, _) = l.accept().await.unwrap();
                    s.set_nodelay(true).unwrap();
                    let mut buf = Vec::with_capacity(MSG);
                    loop {
                        let (res, b) = s.read_exact(buf).await;
                        if res.is_err() {
                            return; // the client closed
                        }
                        let (res, b) = s.write_all(b).await;
                        res.unwrap();
                        buf = b;
                    }
                })
            },
            move || {
                rt().block_on(async {
                    let s = TcpStream::connect(addr).await.unwrap();
                    s.set_nodelay(true).unwrap();
                    ping_pong_client(s).await
                })
            },
        );
        percentiles(rtts)
    }
}

mod tokio_side {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime")
    }

    impl Conn for TcpStream {
        async fn send(&mut self, buf: Vec<u8>) -> Vec<u8> {
            self.write_all(&buf).await.unwrap();
            buf
        }

        async fn recv_exact(&mut self, mut buf: Vec<u8>) -> Vec<u8> {
            self.read_exact(&mut buf).await.unwrap();
            buf
        }
    }

    fn listener(l: std::net::TcpListener) -> TcpListener {
        l.set_nonblocking(true).unwrap();
        TcpListener::from_std(l).unwrap()
    }

    /// Reads one stream to its end; returns the bytes.
    async fn drain(mut s: TcpStream) -> u64 {
        let mut buf = vec![0u8; CHUNK];
        let mut total = 0u64;
        loop {
            let n = s.read(&mut buf).await.unwrap();
            if n == 0 {
                return total;
            }
            total += n as u64;
        }
    }

    pub fn bulk(cpus: Cpus, streams: usize) -> (f64, f64) {
        let (l, addr) = std_listener();
        let (received, start) = two_threads(
            cpus,
            move || {
                rt().block_on(async {
                    let l = listener(l);
                    let mut tasks = Vec::new();
                    for _ in 0..streams {
                        let (s, _) = l.accept().await.unwrap();
                        tasks.push(tokio::spawn(drain(s)));
                    }
                    let cpu0 = cpu::thread_cpu_ns();
                    let mut bytes = 0;
                    for t in tasks {
                        bytes += t.await.unwrap();
                    }
                    Received {
                        bytes,
                        end: Instant::now(),
                        cpu_ns: cpu::thread_cpu_ns() - cpu0,
                    }
                })
            },
            move || {
                rt().block_on(async {
                    let mut conns = Vec::new();
                    for _ in 0..streams {
                        conns.push(TcpStream::connect(addr).await.unwrap());
                    }
                    let start = Instant::now();
                    let per = BULK_BYTES / streams as u64;
                    let tasks: Vec<_> = conns
                        .into_iter()
                        .map(|s| tokio::spawn(bulk_stream(s, start, per)))
                        .collect();
                    for t in tasks {
                        t.await.unwrap();
                    }
                    start
                })
            },
        );
        throughput(&received, start)
    }

    pub fn ping_pong(cpus: Cpus) -> (f64, f64) {
        let (l, addr) = std_listener();
        let ((), rtts) = two_threads(
            cpus,
            move || {
                rt().block_on(async {
                    let (mut s, _) = listener(l).accept().await.unwrap();
                    s.set_nodelay(true).unwrap();
                    let mut buf = [0u8; MSG];
                    while s.read_exact(&mut buf).await.is_ok() {
                        s.write_all(&buf).await.unwrap();
                    }
                })
            },
            move || {
                rt().block_on(async {
                    let s = TcpStream::connect(addr).await.unwrap();
                    s.set_nodelay(true).unwrap();
                    ping_pong_client(s).await
                })
            },
        );
        percentiles(rtts)
    }
}

fn main() {
    benches::check_args("usage: tcp [--runs N]", &["--runs"], &[]);
    let runs = parse_runs(5);
    let allowed = cpu::allowed_cpus();
    let cpus = Cpus {
        server: allowed.first().copied(),
        client: allowed.get(1).or(allowed.first()).copied(),
    };
    println!(
        "net: loopback TCP, server on CPU {:?}, client on CPU {:?}, median of {runs} runs",
        cpus.server, cpus.client
    );

    // [streams index] -> (MB/s, MB per server CPU-s) per run.
    let mut ours_bulk = vec![(Vec::new(), Vec::new()); STREAMS.len()];
    let mut tokio_bulk = ours_bulk.clone();
    let (mut ours_p50, mut ours_p99, mut tokio_p50, mut tokio_p99) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for run in 0..runs {
        // Alternate which runtime goes first, so warm caches and clocks favour neither.
        let order: [bool; 2] = if run % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        for is_ours in order {
            let name = if is_ours { "ours " } else { "tokio" };
            let b = if is_ours {
                &mut ours_bulk
            } else {
                &mut tokio_bulk
            };
            for (i, &streams) in STREAMS.iter().enumerate() {
                let (mbs, per_cpu) = if is_ours {
                    ours::bulk(cpus, streams)
                } else {
                    tokio_side::bulk(cpus, streams)
                };
                eprintln!(
                    "run {run} {name}: bulk x{streams} {mbs:8.0} MB/s, {per_cpu:8.0} MB/server-CPU-s"
                );
                b[i].0.push(mbs);
                b[i].1.push(per_cpu);
            }
            let (p50, p99) = if is_ours {
                ours::ping_pong(cpus)
            } else {
                tokio_side::ping_pong(cpus)
            };
            eprintln!("run {run} {name}: ping-pong p50 {p50:6.1} us, p99 {p99:6.1} us");
            let (l50, l99) = if is_ours {
                (&mut ours_p50, &mut ours_p99)
            } else {
                (&mut tokio_p50, &mut tokio_p99)
            };
            l50.push(p50);
            l99.push(p99);
        }
    }

    println!();
    println!(
        "| benchmark                                  | ours         | tokio        | ours / tokio                   |"
    );
    println!(
        "|--------------------------------------------|--------------|--------------|--------------------------------|"
    );
    for (i, streams) in STREAMS.iter().enumerate() {
        println!(
            "| bulk, {streams} conn, 64 KiB writes (MB/s)         | {:>12.0} | {:>12.0} | {:<30} |",
            median(&ours_bulk[i].0),
            median(&tokio_bulk[i].0),
            ratio(&ours_bulk[i].0, &tokio_bulk[i].0)
        );
        println!(
            "|   same, MB per server CPU-second           | {:>12.0} | {:>12.0} | {:<30} |",
            median(&ours_bulk[i].1),
            median(&tokio_bulk[i].1),
            ratio(&ours_bulk[i].1, &tokio_bulk[i].1)
        );
    }
    println!(
        "| ping-pong 64 B, p50 round trip (us)        | {:>12.1} | {:>12.1} | {:<30} |",
        median(&ours_p50),
        median(&tokio_p50),
        ""
    );
    println!(
        "| ping-pong 64 B, p99 round trip (us)        | {:>12.1} | {:>12.1} | {:<30} |",
        median(&ours_p99),
        median(&tokio_p99),
        ""
    );
    println!(
        "\nours / tokio: the median of the runs' ratios (run n of ours over run n of tokio, \
         back to back), with the interval of the echo benchmark ({:.0}%, spanning the paired \
         and the unpaired one; docs/benchmarks.md, \"How to read it\"); better or worse only \
         when it clears 1.0 by more than {:.0}%. On a 2-vCPU VM the same code's bulk MB per \
         CPU-second has varied threefold between runs at equal bytes per read.",
        LEVEL * 100.0,
        LEVEL_BAND * 100.0
    );
}

/// `ours` over `tokio`, run by run, as the echo report shows a ratio:
/// `1.02x [0.95-1.10] level`.
fn ratio(ours: &[f64], tokio: &[f64]) -> String {
    let pairs: Vec<f64> = ours.iter().zip(tokio).map(|(a, b)| a / b).collect();
    Ratio {
        mid: median(&pairs),
        interval: ratio_interval(&pairs, ours, tokio, LEVEL),
    }
    .judged()
}
