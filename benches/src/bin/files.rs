//! File I/O on one core, side by side in the same run: this crate's `fs::File` on the runtime,
//! a std `pread` loop, a std thread pool (one thread per outstanding op), `tokio::fs`, and
//! the **limit line**: a raw `uring-sys` loop (registered file + fixed buffers, one enter per
//! batch), what the kernel allows per core.
//!
//! Cases: 4 KiB random reads at QD1 and QD32 from the page cache and with O_DIRECT, 4 KiB
//! random writes at QD32 (buffered), 1 MiB sequential reads (page cache). Each prints IOPS
//! and CPU microseconds per op (the whole process: io-wq workers and pool threads included),
//! with everything pinned to one CPU. Each figure is the median of `--runs` rounds in which
//! the implementations take turns.
//!
//! Streaming (a file of `--stream-mib`, 1024 by default; skipped with `--case`/`--only`):
//! copying it whole with `fs::copy`, `std::fs::copy` and `tokio::fs::copy`, from the page
//! cache and cold (the source's pages dropped first with `POSIX_FADV_DONTNEED`), and reading
//! it sequentially in 1 MiB reads with `fs::File::read_at`, std (`std::io::copy` into a sink
//! and a `read_at` loop) and `tokio::fs`. Each prints MB/s and CPU ms per GiB. `--streaming`
//! runs only these.
//!
//! `cargo run --release -p benches --bin files [-- --file-mib 1024] [--secs 0.4] [--runs 3]
//! [--cpu N] [--dir PATH] [--case N] [--only WORD,...]`. Quick by default (under a minute): a
//! 256 MiB file, 3 rounds of 0.4 s per implementation and case.

use std::cell::Cell;
use std::io::{self, SeekFrom};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use benches::{arg, cpu, median};
use fs::AlignedBuf;
use runtime::buf::{FixedBufRegistry, IoBuf, IoBufMut};
use uring_sys::{Ring, abi, prep};

/// One benchmark case.
#[derive(Clone, Copy)]
struct Case {
    name: &'static str,
    bs: usize,
    qd: usize,
    direct: bool,
    write: bool,
    sequential: bool,
}

/// What one implementation did in one case.
struct Measured {
    ops: u64,
    wall: Duration,
    cpu: Duration,
}

impl Measured {
    fn iops(&self) -> f64 {
        self.ops as f64 / self.wall.as_secs_f64()
    }
    fn cpu_us_per_op(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / self.ops.max(1) as f64
    }
}

struct Config {
    path: PathBuf,
    len: u64,
    secs: Duration,
}

const USAGE: &str = "usage: files [--file-mib N] [--secs S] [--runs N] [--cpu N] [--dir PATH] \
[--case N] [--only WORD,...] [--streaming] [--stream-mib N] [--dir-files N]";

fn main() -> io::Result<()> {
    benches::check_args(
        USAGE,
        &[
            "--file-mib",
            "--secs",
            "--runs",
            "--cpu",
            "--dir",
            "--case",
            "--only",
            "--stream-mib",
            "--dir-files",
        ],
        &["--streaming"],
    );
    let cpu: usize = benches::arg_value("--cpu")
        .unwrap_or_else(|| cpu::allowed_cpus().first().copied().unwrap_or(0));
    // This thread, and so every thread it starts later (pools, io-wq workers).
    cpu::set_affinity(&[cpu])?;
    let mib: u64 = benches::arg_value("--file-mib").unwrap_or(256);
    let secs: f64 = benches::arg_value("--secs").unwrap_or(0.4);
    let runs: usize = benches::arg_value("--runs").unwrap_or(3);
    let dir = arg("--dir").map_or_else(std::env::temp_dir, PathBuf::from);
    let config = Config {
        path: dir.join(format!("fs-bench-{}", std::process::id())),
        len: mib << 20,
        secs: Duration::from_secs_f64(secs),
    };
    println!(
        "fs bench: {} MiB file at {:?}, median of {runs} x {secs} s, pinned to CPU {cpu}",
        mib, config.path
    );
    let streaming_only = std::env::args().any(|a| a == "--streaming");
    let mut result = Ok(());
    if !streaming_only {
        create_file(&config)?;
        result = run_all(&config);
        let _ = std::fs::remove_file(&config.path);
    }
    if result.is_ok() && arg("--case").is_none() && arg("--only").is_none() {
        result = run_streaming(&dir, runs);
    }
    result?;
    if streaming_only {
        return Ok(());
    }
    read_dir_walk(&dir)
}

fn run_all(config: &Config) -> io::Result<()> {
    let cases = [
        Case {
            name: "4 KiB random reads, QD1, page cache",
            bs: 4096,
            qd: 1,
            direct: false,
            write: false,
            sequential: false,
        },
        Case {
            name: "4 KiB random reads, QD32, page cache",
            bs: 4096,
            qd: 32,
            direct: false,
            write: false,
            sequential: false,
        },
        Case {
            name: "4 KiB random reads, QD1, O_DIRECT",
            bs: 4096,
            qd: 1,
            direct: true,
            write: false,
            sequential: false,
        },
        Case {
            name: "4 KiB random reads, QD32, O_DIRECT",
            bs: 4096,
            qd: 32,
            direct: true,
            write: false,
            sequential: false,
        },
        Case {
            name: "4 KiB random writes, QD32, buffered",
            bs: 4096,
            qd: 32,
            direct: false,
            write: true,
            sequential: false,
        },
        Case {
            name: "1 MiB sequential reads, QD1, page cache",
            bs: 1 << 20,
            qd: 1,
            direct: false,
            write: false,
            sequential: true,
        },
    ];
    // `--case N` runs only the N-th case (from 1), `--only A,B` only the rows naming A or B
    // (e.g. for a profiler).
    let only_case: Option<usize> = benches::arg_value("--case");
    let only = arg("--only");
    let runs: usize = benches::arg_value("--runs").unwrap_or(3);
    for (n, case) in cases.into_iter().enumerate() {
        if only_case.is_some_and(|c| c != n + 1) {
            continue;
        }
        if !case.direct {
            warm_cache(config)?;
        }
        println!("\n{}", case.name);
        println!(
            "  {:<38} {:>12} {:>12} {:>10}",
            "implementation", "IOPS", "CPU us/op", "vs raw"
        );
        type Run<'a> = Box<dyn Fn() -> io::Result<Measured> + 'a>;
        let rows: Vec<(String, Run<'_>)> = vec![
            (
                "fs::File::read_at/write_at".into(),
                Box::new(|| ours(config, case, false)),
            ),
            (
                "  same, registered file + FixedBuf".into(),
                Box::new(|| ours(config, case, true)),
            ),
            (
                format!(
                    "std pread/pwrite loop{}",
                    if case.qd > 1 { " (QD1)" } else { "" }
                ),
                Box::new(|| std_loop(config, case)),
            ),
            (
                format!("std thread pool ({} threads)", case.qd),
                Box::new(|| std_pool(config, case)),
            ),
            (
                "tokio::fs (seek + read/write)".into(),
                Box::new(|| tokio_fs(config, case)),
            ),
            (
                "LIMIT raw uring-sys (fixed file+bufs)".into(),
                Box::new(|| raw_uring(config, case)),
            ),
        ];
        let rows: Vec<_> = rows
            .into_iter()
            .filter(|(name, _)| {
                only.as_ref()
                    .is_none_or(|o| o.split(',').any(|w| name.contains(w)))
            })
            .collect();
        // Rows take turns, `runs` rounds, so drift in the machine hits them all alike.
        let mut results: Vec<Result<Vec<Measured>, io::Error>> =
            rows.iter().map(|_| Ok(Vec::new())).collect();
        for _ in 0..runs {
            for ((_, run), result) in rows.iter().zip(&mut results) {
                if let Ok(done) = result {
                    match run() {
                        Ok(m) => done.push(m),
                        Err(e) => *result = Err(e),
                    }
                }
            }
        }
        let medians: Vec<Result<(f64, f64), &io::Error>> = results
            .iter()
            .map(|r| {
                r.as_ref().map(|ms| {
                    let iops: Vec<f64> = ms.iter().map(Measured::iops).collect();
                    let cpu: Vec<f64> = ms.iter().map(Measured::cpu_us_per_op).collect();
                    (median(&iops), median(&cpu))
                })
            })
            .collect();
        let raw = match medians.last() {
            Some(Ok((iops, _))) if rows.last().is_some_and(|(n, _)| n.starts_with("LIMIT")) => {
                Some(*iops)
            }
            _ => None,
        };
        for ((name, _), m) in rows.iter().zip(medians) {
            match m {
                Ok((iops, cpu)) => {
                    let vs = raw.map_or_else(String::new, |r| format!("{:.0}%", 100.0 * iops / r));
                    println!("  {name:<38} {iops:>12.0} {cpu:>12.2} {vs:>10}");
                }
                Err(e) => println!("  {name:<38} n/a: {e}"),
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Setup: the file, the page cache, pinning, CPU time.

fn create_file(config: &Config) -> io::Result<()> {
    let file = std::fs::File::create(&config.path)?;
    let mut chunk = vec![0u8; 1 << 20];
    for (i, b) in chunk.iter_mut().enumerate() {
        *b = (i * 31 % 251) as u8;
    }
    let mut pos = 0;
    while pos < config.len {
        file.write_all_at(&chunk, pos)?;
        pos += chunk.len() as u64;
    }
    // On the device, so O_DIRECT reads do not first flush dirty pages.
    file.sync_all()
}

fn warm_cache(config: &Config) -> io::Result<()> {
    let file = std::fs::File::open(&config.path)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut pos = 0;
    while pos < config.len {
        pos += file.read_at(&mut buf, pos)? as u64;
    }
    Ok(())
}

/// User + system CPU time of the whole process (all its threads, io-wq workers included).
fn cpu_time() -> Duration {
    // SAFETY: rusage is plain data; getrusage fills it for this process.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Starts measuring.
struct Meter {
    wall: Instant,
    cpu: Duration,
}

impl Meter {
    fn start() -> Meter {
        Meter {
            cpu: cpu_time(),
            wall: Instant::now(),
        }
    }
    fn stop(self, ops: u64) -> Measured {
        Measured {
            ops,
            wall: self.wall.elapsed(),
            cpu: cpu_time() - self.cpu,
        }
    }
}

/// Offsets: random `bs`-aligned ones (xorshift) or sequential, wrapping at the end.
struct Offsets {
    state: u64,
    next_seq: u64,
    blocks: u64,
    bs: u64,
    sequential: bool,
}

impl Offsets {
    fn new(config: &Config, case: Case, seed: u64) -> Offsets {
        Offsets {
            state: 0x9e37_79b9_7f4a_7c15 ^ (seed + 1).wrapping_mul(0x2545_f491_4f6c_dd1d),
            next_seq: 0,
            blocks: config.len / case.bs as u64,
            bs: case.bs as u64,
            sequential: case.sequential,
        }
    }

    fn next(&mut self) -> u64 {
        let block = if self.sequential {
            let b = self.next_seq;
            self.next_seq = (b + 1) % self.blocks;
            b
        } else {
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            self.state % self.blocks
        };
        block * self.bs
    }
}

fn std_open(config: &Config, case: Case) -> io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(case.write)
        .custom_flags(if case.direct { libc::O_DIRECT } else { 0 })
        .open(&config.path)
}

fn check(n: usize, case: Case) -> io::Result<()> {
    if n == case.bs {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "short transfer: {n} of {}",
            case.bs
        )))
    }
}

// ---------------------------------------------------------------------------------------
// The implementations.

/// `fs::File` on the runtime: `qd` tasks, each awaiting one `read_at`/`write_at` at a time;
/// with `fixed`, the file registered (`File::register`) and the buffers registered ones
/// (`FixedBuf`, which `read_at` reads with `READ_FIXED`), as in the limit line.
fn ours(config: &Config, case: Case, fixed: bool) -> io::Result<Measured> {
    let rt = runtime::Builder::new().cores(1).build()?;
    rt.block_on(async {
        let file = fs::OpenOptions::new()
            .read(true)
            .write(case.write)
            .custom_flags(if case.direct { libc::O_DIRECT } else { 0 })
            .open(&config.path)
            .await?;
        // One extra page per buffer, to start each at a page boundary inside it (O_DIRECT).
        let registry = if fixed {
            file.register()?;
            Some(FixedBufRegistry::new(case.qd, case.bs + 4096)?)
        } else {
            None
        };
        let file = Rc::new(file);
        let ops = Rc::new(Cell::new(0u64));
        let meter = Meter::start();
        let stop = Instant::now() + config.secs;
        let tasks: Vec<_> = (0..case.qd)
            .map(|i| {
                let (file, ops) = (file.clone(), ops.clone());
                let offsets = Offsets::new(config, case, i as u64);
                match &registry {
                    Some(registry) => {
                        let buf = registry.check_out(i).expect("one buffer per task");
                        let skip = buf.as_slice().as_ptr().align_offset(4096);
                        let buf = buf.slice(skip..skip + case.bs);
                        runtime::spawn(ours_task(file, buf, offsets, case, stop, ops))
                    }
                    None => {
                        let buf = AlignedBuf::new(case.bs, 4096);
                        runtime::spawn(ours_task(file, buf, offsets, case, stop, ops))
                    }
                }
            })
            .collect();
        for t in tasks {
            t.await.map_err(io::Error::from)??;
        }
        let m = meter.stop(ops.get());
        Rc::try_unwrap(file)
            .map_err(|_| io::Error::other("file still shared"))?
            .close()
            .await?;
        Ok(m)
    })
}

/// One of `ours`'s tasks: ops back to back until `stop` (checked every 16 ops, so that the
/// clock costs nothing noticeable, as in the other loops; no timer is pending meanwhile).
async fn ours_task<B: IoBufMut>(
    file: Rc<fs::File>,
    mut buf: B,
    mut offsets: Offsets,
    case: Case,
    stop: Instant,
    ops: Rc<Cell<u64>>,
) -> io::Result<()> {
    while Instant::now() < stop {
        for _ in 0..16 {
            let off = offsets.next();
            let (res, b) = if case.write {
                file.write_at(buf, off).await
            } else {
                file.read_at(buf, off).await
            };
            buf = b;
            check(res?, case)?;
        }
        ops.set(ops.get() + 16);
    }
    Ok(())
}

/// One `pwrite` (a write case) or `pread` of all of `buf` at `off`, checked.
fn std_io(file: &std::fs::File, buf: &mut AlignedBuf, off: u64, case: Case) -> io::Result<()> {
    let n = if case.write {
        file.write_at(buf, off)?
    } else {
        file.read_at(buf, off)?
    };
    check(n, case)
}

/// A plain loop of `pread`/`pwrite` on this thread (QD1 whatever the case's depth).
fn std_loop(config: &Config, case: Case) -> io::Result<Measured> {
    let file = std_open(config, case)?;
    let mut buf = AlignedBuf::new(case.bs, 4096);
    let mut offsets = Offsets::new(config, case, 0);
    let meter = Meter::start();
    let deadline = Instant::now() + config.secs;
    let mut ops = 0u64;
    while Instant::now() < deadline {
        for _ in 0..16 {
            std_io(&file, &mut buf, offsets.next(), case)?;
            ops += 1;
        }
    }
    Ok(meter.stop(ops))
}

/// `qd` threads, each a `pread`/`pwrite` loop on a shared file (all on the pinned CPU).
fn std_pool(config: &Config, case: Case) -> io::Result<Measured> {
    if case.qd == 1 {
        return Err(io::Error::other("QD1: the same as the pread loop"));
    }
    let file = Arc::new(std_open(config, case)?);
    let stop = Arc::new(AtomicBool::new(false));
    let ops = Arc::new(AtomicU64::new(0));
    let meter = Meter::start();
    let threads: Vec<_> = (0..case.qd)
        .map(|i| {
            let (file, stop, ops) = (file.clone(), stop.clone(), ops.clone());
            let mut offsets = Offsets::new(config, case, i as u64);
            std::thread::spawn(move || -> io::Result<()> {
                let mut buf = AlignedBuf::new(case.bs, 4096);
                let mut n_ops = 0;
                while !stop.load(Ordering::Relaxed) {
                    std_io(&file, &mut buf, offsets.next(), case)?;
                    n_ops += 1;
                }
                ops.fetch_add(n_ops, Ordering::Relaxed);
                Ok(())
            })
        })
        .collect();
    std::thread::sleep(config.secs);
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join()
            .map_err(|_| io::Error::other("a pool thread panicked"))??;
    }
    Ok(meter.stop(ops.load(Ordering::Relaxed)))
}

/// `tokio::fs` as it is used: `qd` tasks on a current-thread runtime, each with its own
/// `tokio::fs::File`, seeking then reading or writing (each a trip to tokio's blocking pool).
fn tokio_fs(config: &Config, case: Case) -> io::Result<Measured> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let ops = Arc::new(AtomicU64::new(0));
        let mut files = Vec::new();
        for _ in 0..case.qd {
            files.push(tokio::fs::File::from_std(std_open(config, case)?));
        }
        let meter = Meter::start();
        let stop = Instant::now() + config.secs;
        let tasks: Vec<_> = files
            .into_iter()
            .enumerate()
            .map(|(i, mut file)| {
                let ops = ops.clone();
                let mut offsets = Offsets::new(config, case, i as u64);
                tokio::spawn(async move {
                    let mut buf = vec![i as u8; case.bs];
                    while Instant::now() < stop {
                        for _ in 0..16 {
                            file.seek(SeekFrom::Start(offsets.next())).await?;
                            if case.write {
                                file.write_all(&buf).await?;
                            } else {
                                file.read_exact(&mut buf).await?;
                            }
                        }
                        ops.fetch_add(16, Ordering::Relaxed);
                    }
                    file.flush().await?;
                    Ok::<_, io::Error>(())
                })
            })
            .collect();
        for t in tasks {
            t.await.map_err(io::Error::other)??;
        }
        Ok(meter.stop(ops.load(Ordering::Relaxed)))
    })
}

/// The limit line: raw uring-sys, the file registered, `qd` registered buffers, READ_FIXED
/// or WRITE_FIXED; each turn pushes what completed, enters once, and reaps.
fn raw_uring(config: &Config, case: Case) -> io::Result<Measured> {
    let file = std_open(config, case)?;
    let mut ring = Ring::builder(64)
        .single_issuer(true)
        .defer_taskrun(true)
        .build()
        .or_else(|_| Ring::new(64))?;
    ring.register_files(&[file.as_raw_fd()])?;
    let mut bufs: Vec<AlignedBuf> = (0..case.qd)
        .map(|_| AlignedBuf::new(case.bs, 4096))
        .collect();
    let iovecs: Vec<libc::iovec> = bufs
        .iter_mut()
        .map(|b| libc::iovec {
            iov_base: b.as_mut_ptr().cast(),
            iov_len: b.len(),
        })
        .collect();
    // SAFETY: the iovecs describe `bufs`, which outlive the ring (dropped after it, below).
    unsafe { ring.register_buffers(&iovecs)? };
    let mut offsets = Offsets::new(config, case, 0);
    let mut free: Vec<usize> = (0..case.qd).collect();
    let (mut ops, mut in_flight) = (0u64, 0usize);
    let mut failure = None;
    let meter = Meter::start();
    let deadline = Instant::now() + config.secs;
    loop {
        let running = failure.is_none() && Instant::now() < deadline;
        if running {
            while let Some(i) = free.pop() {
                let (ptr, len, off) = (bufs[i].as_mut_ptr(), case.bs as u32, offsets.next());
                let sqe = if case.write {
                    prep::prep_write_fixed(0, ptr, len, off, i as u16)
                } else {
                    prep::prep_read_fixed(0, ptr, len, off, i as u16)
                };
                let sqe = sqe.flags(abi::IOSQE_FIXED_FILE).user_data(i as u64);
                // SAFETY: the SQE points into `bufs[i]` (registered buffer i), not touched
                // again until its CQE is reaped below; every op is reaped before `bufs` and
                // the file are dropped (the loop ends with nothing in flight), and if an
                // enter fails with ops in flight, `bufs` is leaked instead.
                unsafe { ring.sq().push(&sqe).expect("qd <= SQ entries") };
                in_flight += 1;
            }
        } else if in_flight == 0 {
            break;
        }
        if let Err(e) = ring.submit_and_wait(1) {
            // Ops may still be in flight: the kernel may yet write into `bufs`, so they are
            // leaked, never freed, and the ring with them.
            std::mem::forget(bufs);
            std::mem::forget(ring);
            return Err(e);
        }
        while let Some(cqe) = ring.cq().pop() {
            in_flight -= 1;
            free.push(cqe.user_data() as usize);
            match cqe.result() {
                Ok(n) if n as usize == case.bs => ops += 1,
                Ok(n) => failure = Some(io::Error::other(format!("short transfer: {n}"))),
                Err(e) => failure = Some(e),
            }
        }
    }
    let m = meter.stop(ops);
    drop(ring);
    drop(bufs);
    match failure {
        Some(e) => Err(e),
        None => Ok(m),
    }
}

// ---------------------------------------------------------------------------------------
// Streaming a whole file: copies and a sequential 1 MiB read loop.

/// How a streaming row starts: from the page cache, or with the source's pages dropped.
#[derive(Clone, Copy, PartialEq)]
enum Cache {
    Warm,
    Cold,
}

/// Runs the streaming cases on a file of `--stream-mib` MiB in `dir`.
fn run_streaming(dir: &std::path::Path, runs: usize) -> io::Result<()> {
    let mib: u64 = benches::arg_value("--stream-mib").unwrap_or(1024);
    let config = Config {
        path: dir.join(format!("fs-bench-stream-{}", std::process::id())),
        len: mib << 20,
        secs: Duration::ZERO,
    };
    let copy = dir.join(format!("fs-bench-stream-copy-{}", std::process::id()));
    println!("\nstreaming a {mib} MiB file, median of {runs} runs");
    create_file(&config)?;
    let result = stream_cases(&config, &copy, runs);
    let _ = std::fs::remove_file(&config.path);
    let _ = std::fs::remove_file(&copy);
    result
}

/// One row of a streaming table: its name and how to run it once.
type StreamRow<'a> = (&'static str, Box<dyn Fn() -> io::Result<Measured> + 'a>);

fn stream_cases(config: &Config, copy: &std::path::Path, runs: usize) -> io::Result<()> {
    let src = config.path.as_path();
    for cache in [Cache::Warm, Cache::Cold] {
        let label = match cache {
            Cache::Warm => "page cache",
            Cache::Cold => "cold",
        };
        let copies: Vec<StreamRow<'_>> = vec![
            ("fs::copy", Box::new(|| copy_ours(src, copy))),
            ("std::fs::copy", Box::new(|| copy_std(src, copy))),
            ("tokio::fs::copy", Box::new(|| copy_tokio(src, copy))),
        ];
        stream_table(
            &format!("copy, {label}"),
            config,
            cache,
            &copies,
            runs,
            || {
                let _ = std::fs::remove_file(copy);
            },
        )?;
        let reads: Vec<StreamRow<'_>> = vec![
            ("fs::File::read_at, 1 MiB", Box::new(|| read_ours(config))),
            ("std read_at loop, 1 MiB", Box::new(|| read_std(config))),
            (
                "std::io::copy into a sink",
                Box::new(|| read_std_copy(config)),
            ),
            ("tokio::fs read, 1 MiB", Box::new(|| read_tokio(config))),
        ];
        stream_table(
            &format!("sequential 1 MiB reads, {label}"),
            config,
            cache,
            &reads,
            runs,
            || {},
        )?;
    }
    Ok(())
}

/// Runs `rows` in turns, `runs` rounds, each after `reset` and with the source's cache state
/// set, and prints MB/s and CPU ms per GiB (medians).
fn stream_table(
    title: &str,
    config: &Config,
    cache: Cache,
    rows: &[StreamRow<'_>],
    runs: usize,
    reset: impl Fn(),
) -> io::Result<()> {
    println!("\n{title}");
    println!(
        "  {:<38} {:>12} {:>14}",
        "implementation", "MB/s", "CPU ms/GiB"
    );
    let mut results: Vec<Vec<Measured>> = rows.iter().map(|_| Vec::new()).collect();
    for _ in 0..runs {
        for ((_, run), done) in rows.iter().zip(&mut results) {
            reset();
            match cache {
                Cache::Warm => warm_cache(config)?,
                Cache::Cold => drop_cache(&config.path)?,
            }
            done.push(run()?);
        }
    }
    for ((name, _), ms) in rows.iter().zip(&results) {
        // Each Measured counts bytes as its ops.
        let mbs: Vec<f64> = ms.iter().map(|m| m.iops() / 1e6).collect();
        let cpu: Vec<f64> = ms
            .iter()
            .map(|m| m.cpu.as_secs_f64() * 1e3 * (1u64 << 30) as f64 / m.ops.max(1) as f64)
            .collect();
        println!("  {name:<38} {:>12.0} {:>14.1}", median(&mbs), median(&cpu));
    }
    Ok(())
}

/// Drops the file's pages from the page cache (written back first), so the next read
/// comes from the device.
fn drop_cache(path: &std::path::Path) -> io::Result<()> {
    let file = std::fs::File::open(path)?;
    file.sync_all()?;
    // SAFETY: a valid fd; fadvise reads no memory of ours.
    let rc = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(())
}

/// Measures `f`, which returns the bytes it moved.
fn measure_bytes(f: impl FnOnce() -> io::Result<u64>) -> io::Result<Measured> {
    let meter = Meter::start();
    let bytes = f()?;
    Ok(meter.stop(bytes))
}

fn copy_ours(src: &std::path::Path, dst: &std::path::Path) -> io::Result<Measured> {
    let rt = runtime::Runtime::new()?;
    measure_bytes(|| rt.block_on(fs::copy(src, dst)))
}

fn copy_std(src: &std::path::Path, dst: &std::path::Path) -> io::Result<Measured> {
    measure_bytes(|| std::fs::copy(src, dst))
}

fn copy_tokio(src: &std::path::Path, dst: &std::path::Path) -> io::Result<Measured> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    measure_bytes(|| rt.block_on(tokio::fs::copy(src, dst)))
}

const STREAM_CHUNK: usize = 1 << 20;

fn read_ours(config: &Config) -> io::Result<Measured> {
    let rt = runtime::Runtime::new()?;
    measure_bytes(|| {
        rt.block_on(async {
            let file = fs::File::open(&config.path).await?;
            let mut buf = Vec::with_capacity(STREAM_CHUNK);
            let mut pos = 0u64;
            loop {
                buf.clear();
                let (res, b) = file.read_at(buf, pos).await;
                buf = b;
                match res? {
                    0 => break,
                    n => pos += n as u64,
                }
            }
            file.close().await?;
            Ok(pos)
        })
    })
}

fn read_std(config: &Config) -> io::Result<Measured> {
    measure_bytes(|| {
        let file = std::fs::File::open(&config.path)?;
        let mut buf = vec![0u8; STREAM_CHUNK];
        let mut pos = 0u64;
        loop {
            match file.read_at(&mut buf, pos)? {
                0 => return Ok(pos),
                n => pos += n as u64,
            }
        }
    })
}

fn read_std_copy(config: &Config) -> io::Result<Measured> {
    measure_bytes(|| {
        let mut file = std::fs::File::open(&config.path)?;
        std::io::copy(&mut file, &mut std::io::sink())
    })
}

fn read_tokio(config: &Config) -> io::Result<Measured> {
    use tokio::io::AsyncReadExt;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    measure_bytes(|| {
        rt.block_on(async {
            let mut file = tokio::fs::File::open(&config.path).await?;
            file.set_max_buf_size(STREAM_CHUNK);
            let mut buf = vec![0u8; STREAM_CHUNK];
            let mut total = 0u64;
            loop {
                match file.read(&mut buf).await? {
                    0 => return Ok(total),
                    n => total += n as u64,
                }
            }
        })
    })
}

/// `read_dir` with `metadata()` per entry (a file walker), on a directory of `--dir-files`
/// files (default 20,000): std, ours and tokio, each the median of 3 walks (the directory is
/// in the dentry and inode caches after the first).
fn read_dir_walk(parent: &std::path::Path) -> io::Result<()> {
    let files: usize = benches::arg_value("--dir-files").unwrap_or(20_000);
    let dir = parent.join(format!("fs-bench-dir-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    for i in 0..files {
        std::fs::write(dir.join(format!("f{i}")), b"x")?;
    }
    let median = |mut walk: Box<dyn FnMut() -> io::Result<u64>>| -> io::Result<(Duration, u64)> {
        let mut times = Vec::new();
        let mut bytes = 0;
        for _ in 0..3 {
            let start = Instant::now();
            bytes = walk()?;
            times.push(start.elapsed());
        }
        times.sort();
        Ok((times[1], bytes))
    };
    let d = dir.clone();
    let std_walk = median(Box::new(move || {
        let mut total = 0;
        for e in std::fs::read_dir(&d)? {
            total += e?.metadata()?.len();
        }
        Ok(total)
    }))?;
    let rt = runtime::Runtime::new()?;
    let d = dir.clone();
    let ours_walk = median(Box::new(move || {
        rt.block_on(async {
            let mut total = 0;
            let mut entries = fs::read_dir(&d).await?;
            while let Some(e) = entries.next_entry().await? {
                total += e.metadata().await?.len();
            }
            Ok(total)
        })
    }))?;
    let tokio_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let d = dir.clone();
    let tokio_walk = median(Box::new(move || {
        tokio_rt.block_on(async {
            let mut total = 0;
            let mut entries = tokio::fs::read_dir(&d).await?;
            while let Some(e) = entries.next_entry().await? {
                total += e.metadata().await?.len();
            }
            Ok(total)
        })
    }))?;
    println!("\nread_dir + metadata() per entry, {files} files (median of 3)");
    for (name, (t, bytes)) in [
        ("std", std_walk),
        ("ours", ours_walk),
        ("tokio", tokio_walk),
    ] {
        if bytes != files as u64 {
            return Err(io::Error::other(format!(
                "{name} counted {bytes} bytes, not {files}"
            )));
        }
        println!("  {name:<6} {:>8.1} ms", t.as_secs_f64() * 1e3);
    }
    std::fs::remove_dir_all(&dir)
}
