//! A soak of the echo server ([`crate::echo`]): for a given time, client threads open
//! connection after connection with random sizes, some reset mid-way, some never read what
//! comes back; every byte of the others is verified. The process's resident memory and open
//! fds are sampled as it runs: they must stay flat, and the fds must be back where they
//! started once the server is gone.
//!
//! CI runs it for a minute (`cargo run -p examples --example soak -- --seconds 60`); the same
//! program runs for an hour with `--seconds 3600`.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use net::TcpListener;

use crate::echo::{self, core_pool, echo_copy, echo_provided};
use crate::signal::{Signal, accept_until};

/// How much resident memory may grow from the first sample after warm-up to the last (the
/// allocator's free lists and the kernel's socket memory settle at their own pace; a leak of
/// a connection's buffers, at thousands of connections a minute, does not fit).
pub const RSS_SLACK_KB: u64 = 16 * 1024;

/// What a soak saw.
#[derive(Debug, Default)]
pub struct Report {
    /// Connections whose every byte came back, verified.
    pub verified: u64,
    /// Bytes verified.
    pub bytes: u64,
    /// Connections the client reset mid-way (SO_LINGER 0).
    pub resets: u64,
    /// Connections whose client wrote and closed without reading.
    pub never_read: u64,
    /// Connection errors the server met (resets, broken pipes: expected with the above).
    pub server_errors: u64,
    /// Wrong bytes, or other failures a client met (must stay empty).
    pub failures: Vec<String>,
    /// Resident memory (KiB): after warm-up, at its highest, at the end.
    pub rss_kb: (u64, u64, u64),
    /// Open fds: before the server started, at their highest, after it was gone.
    pub fds: (usize, usize, usize),
}

impl Report {
    /// Why the soak failed, if it did.
    pub fn problems(&self) -> Vec<String> {
        let mut p = self.failures.clone();
        if self.verified == 0 {
            p.push("no connection was verified".into());
        }
        let (warm, _, end) = self.rss_kb;
        if end > warm + RSS_SLACK_KB {
            p.push(format!(
                "resident memory grew from {warm} KiB to {end} KiB (more than {RSS_SLACK_KB} KiB)"
            ));
        }
        if self.fds.2 != self.fds.0 {
            p.push(format!(
                "{} fds open before the server, {} after it was gone",
                self.fds.0, self.fds.2
            ));
        }
        p
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} connections verified ({} bytes), {} reset by the client, {} never read; \
             {} server-side connection errors; RSS {} KiB after warm-up, {} KiB at most, {} KiB \
             at the end; fds {} before, {} at most, {} after",
            self.verified,
            self.bytes,
            self.resets,
            self.never_read,
            self.server_errors,
            self.rss_kb.0,
            self.rss_kb.1,
            self.rss_kb.2,
            self.fds.0,
            self.fds.1,
            self.fds.2
        )
    }
}

/// This process's resident memory in KiB (`/proc/self/statm`).
pub fn rss_kb() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf reads a constant; no memory is passed.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as u64;
    pages * page / 1024
}

/// This process's open fds (`/proc/self/fd`).
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// A small xorshift generator: sizes and kinds of connections.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// Client counters, shared by the client threads.
#[derive(Default)]
struct Counts {
    verified: AtomicU64,
    bytes: AtomicU64,
    resets: AtomicU64,
    never_read: AtomicU64,
    failures: Mutex<Vec<String>>,
}

/// Runs the soak for `duration` with `clients` client threads.
///
/// # Errors
/// Setting up the server (bind, runtime).
pub fn run(duration: Duration, clients: usize) -> io::Result<Report> {
    let fds_before = open_fds();
    let server_errors = Arc::new(AtomicU64::new(0));
    let stop = Signal::new();
    let (addr_tx, addr_rx) = mpsc::channel();
    let server = {
        let (stop, errors) = (stop.clone(), server_errors.clone());
        std::thread::spawn(move || -> io::Result<()> {
            runtime::Runtime::new()?.block_on(async move {
                let listener = TcpListener::bind("127.0.0.1:0").await?;
                let _ = addr_tx.send(listener.local_addr()?);
                let pool = core_pool();
                accept_until(listener, stop, "soak", move |stream| {
                    let (pool, errors) = (pool.clone(), errors.clone());
                    async move {
                        let res = match &pool {
                            Some(pool) => echo_provided(&stream, pool).await,
                            None => echo_copy(&stream).await,
                        };
                        if res.is_err() {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
                .await;
                Ok(())
            })
        })
    };
    let addr = addr_rx
        .recv()
        .map_err(|_| io::Error::other("the soak server did not start"))?;

    let counts = Arc::new(Counts::default());
    let done = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..clients.max(1))
        .map(|i| {
            let (counts, done) = (counts.clone(), done.clone());
            std::thread::spawn(move || {
                let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (i as u64 + 1));
                let mut n = 0usize;
                while !done.load(Ordering::Relaxed) {
                    n += 1;
                    let id = i.wrapping_mul(1_000_003).wrapping_add(n);
                    if let Err(e) = connection(addr, &mut rng, id, &counts) {
                        counts.failures.lock().unwrap().push(e);
                    }
                }
            })
        })
        .collect();

    let start = Instant::now();
    let warm_up = duration / 5;
    let (mut rss_warm, mut rss_max, mut fds_max) = (0, 0, 0);
    while start.elapsed() < duration {
        std::thread::sleep(Duration::from_millis(250).min(duration));
        let rss = rss_kb();
        if rss_warm == 0 && start.elapsed() >= warm_up {
            rss_warm = rss;
        }
        rss_max = rss_max.max(rss);
        fds_max = fds_max.max(open_fds());
        if !counts.failures.lock().unwrap().is_empty() {
            break;
        }
    }
    let rss_end = rss_kb();
    done.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    stop.fire();
    server
        .join()
        .map_err(|_| io::Error::other("the soak server panicked"))??;
    let counts = Arc::try_unwrap(counts).unwrap_or_default();
    Ok(Report {
        verified: counts.verified.into_inner(),
        bytes: counts.bytes.into_inner(),
        resets: counts.resets.into_inner(),
        never_read: counts.never_read.into_inner(),
        server_errors: server_errors.load(Ordering::Relaxed),
        failures: counts.failures.into_inner().unwrap_or_default(),
        rss_kb: (
            if rss_warm == 0 { rss_end } else { rss_warm },
            rss_max,
            rss_end,
        ),
        fds: (fds_before, fds_max, open_fds()),
    })
}

/// One client connection of a random kind; `Err` only for what must never happen (wrong
/// bytes, a server that stops answering).
fn connection(addr: SocketAddr, rng: &mut Rng, id: usize, counts: &Counts) -> Result<(), String> {
    let mut s = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let len = 1 + rng.below(256 * 1024) as usize;
    let data = echo::pattern(id, len);
    match rng.below(10) {
        0 => {
            // Reset mid-way: some bytes out, then RST instead of FIN.
            let _ = s.write_all(&data[..len / 2]);
            let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
            counts.resets.fetch_add(1, Ordering::Relaxed);
        }
        1 => {
            // Never reads: writes until the echo fills both sides' buffers (or all is out).
            s.set_write_timeout(Some(Duration::from_millis(50)))
                .map_err(|e| e.to_string())?;
            let _ = s.write_all(&data);
            counts.never_read.fetch_add(1, Ordering::Relaxed);
        }
        _ => {
            // Verified: writes a piece, reads its echo back, and so on; then end of stream.
            let mut got = vec![0u8; 16 * 1024];
            for (k, piece) in data.chunks(16 * 1024).enumerate() {
                s.write_all(piece)
                    .map_err(|e| format!("connection {id}: write: {e}"))?;
                let back = &mut got[..piece.len()];
                s.read_exact(back)
                    .map_err(|e| format!("connection {id}: read piece {k}: {e}"))?;
                if back != piece {
                    return Err(format!("connection {id}: piece {k} came back changed"));
                }
            }
            s.shutdown(Shutdown::Write).map_err(|e| e.to_string())?;
            match s.read(&mut got) {
                Ok(0) => {}
                Ok(n) => return Err(format!("connection {id}: {n} bytes too many came back")),
                Err(e) => return Err(format!("connection {id}: no end of stream: {e}")),
            }
            counts.verified.fetch_add(1, Ordering::Relaxed);
            counts.bytes.fetch_add(len as u64, Ordering::Relaxed);
        }
    }
    Ok(())
}
