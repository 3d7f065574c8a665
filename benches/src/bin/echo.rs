//! TCP echo over loopback: this runtime's servers against epoll (level- and edge-triggered,
//! the better one per cell is the baseline), tokio and a C server on liburing, driven by our
//! own load generator with an epoll engine and a batched io_uring engine, every echoed byte
//! verified.
//!
//! ```text
//! cargo run --release -p benches --bin echo                # --quick: 7 chosen cells, ~2 min
//! cargo run --release -p benches --bin echo -- --full      # C 1..5000 x S 64..64K x 2 engines
//! cargo run --release -p benches --bin echo -- --rate 25%,50%,80%   # fixed-rate latency
//! cargo run --release -p benches --bin echo -- --smoke     # all servers, tiny, for CI
//! ```
//!
//! Each server runs as a child process (this binary with `--serve KIND`), pinned to
//! `--server-cpu` (0); the generator runs here, pinned to `--gen-cpu` (the next CPU). Per
//! cell the servers alternate run by run (A B C D E, B C D E A, ...) so drift hits all alike;
//! ratios between two servers pair each run with the same round's run of the other, and come
//! with a distribution-free 90% interval for their median: a cell is called better or worse
//! only when the interval clears 1.0 by more than 3%, level otherwise. Server CPU time comes from the server
//! process's CPU clock over the measuring window. Results go to `$CARGO_TARGET_DIR/echo`
//! (default `target/echo`; `--out DIR`): `results.csv` (per run), `summary.csv` (medians,
//! ratios, intervals, verdicts) and `echo.svg` (each server's ratio to the better epoll per
//! cell, with its interval). A wrong echoed byte fails the run and the process (exit 2).
//!
//! Options (lists are comma-separated):
//! `--conns 1,50,500 --sizes 64,512 --engines epoll,uring --modes pingpong,pipelined
//! --depth K --rate R --duration S --warmup S --warmup-echoes N --runs N
//! --servers epoll-lt,epoll-et,runtime,runtime-rw,tokio,c-liburing --cores N
//! --server-cpu C --gen-cpu C --gen-threads M --read-buf BYTES --pool-bufs N --out DIR
//! --verbose`. Any of `--conns`, `--sizes`, `--engines`, `--modes`, `--rate` replaces the
//! preset's cells by their cross product. `--rate` (echoes per second, all connections
//! together, or a percentage of what the better epoll server sustained saturated in the same
//! shape: `--rate 25%,50%,80%`, measured first when the matrix lacks it) makes fixed-rate
//! (open-loop) cells: each connection sends at its share of the rate whatever came back, and
//! latency counts from each message's intended send time (no coordinated omission); both
//! generator engines pace. Without `--conns`, `--sizes` and `--engines` it runs 50 x 64 B on
//! the epoll engine.
//! `--read-buf` (16 KiB) is every server's read size (and the runtime server's
//! provided-buffer size); `--pool-bufs` (1024) the runtime server's pool.
//! `--cores N` runs N per-core servers on `SO_REUSEPORT` listeners (epoll and tokio with N
//! threads), pinned to CPUs `server-cpu..server-cpu+N`; the generator then uses N threads.
//!
//! `c-liburing`, the C reference server (`benches/c/echo_liburing.c`, one core), is built
//! with `cc ... -luring` into `<target>/echo/echo_liburing` when a C compiler and liburing's
//! headers are present (`apt-get install liburing-dev`), and skipped with a one-line note
//! when not. `runtime-fallback` (`runtime` with `RUNTIME_DRIVER=fallback`) runs only when
//! named in `--servers`.

use std::io::{BufRead, BufReader};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use benches::echo::load::{self, Mark, Plan};
use benches::echo::report::{self, RunRecord};
use benches::echo::{
    Cell, Engine, METRICS, Mode, Pattern, READY, Rate, ServeArgs, ServerKind, cpu, cpu_count,
};

#[derive(Debug, Clone)]
struct Opts {
    preset: &'static str,
    cells: Vec<Cell>,
    servers: Vec<ServerKind>,
    duration: Duration,
    warmup: Duration,
    /// Echoes that must complete before the window opens (after `warmup`).
    warmup_echoes: u64,
    runs: usize,
    cores: usize,
    server_cpu: usize,
    gen_cpu: Option<usize>,
    gen_threads: Option<usize>,
    read_buf: usize,
    pool_bufs: u16,
    out: Option<PathBuf>,
    verbose: bool,
    /// The built C reference server, when `c-liburing` is among the servers.
    c_server: Option<PathBuf>,
}

const USAGE: &str = "usage: echo [--quick | --full | --smoke] [--conns LIST] [--sizes LIST] \
[--engines epoll,uring] [--modes pingpong,pipelined] [--depth K] [--rate LIST (echoes/s or N%)] \
[--duration SECS] [--warmup SECS] [--warmup-echoes N] [--runs N] [--servers LIST] [--cores N] \
[--server-cpu C] [--gen-cpu C] [--gen-threads M] [--read-buf BYTES] [--pool-bufs N] [--out DIR] \
[--verbose]";

fn list<T>(v: &str, parse: impl Fn(&str) -> Option<T>, what: &str) -> Result<Vec<T>, String> {
    v.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| parse(s.trim()).ok_or(format!("bad {what}: {s:?}")))
        .collect()
}

/// The quick matrix: the cells that tell the story, each long enough to judge.
/// - 1, 50 and 500 connections of small messages: one connection is pure latency (a sleep
///   and a wake-up per echo), 50 and 500 are where batching pays;
/// - 50 connections on both engines, where they differ: the batched io_uring client hands
///   the server many messages per loop turn, the epoll client one connection at a time;
/// - 50 x 4 KiB ping-pong and 4 x 64 KiB with 4 in flight: large messages and streams;
/// - one fixed-rate cell: CPU per echo and latency at half of what epoll sustains.
fn quick_cells() -> Vec<Cell> {
    let cell = |engine, conns, size, mode| Cell {
        engine,
        conns,
        size,
        mode,
    };
    vec![
        cell(Engine::Epoll, 1, 64, Mode::PingPong),
        cell(Engine::Epoll, 50, 64, Mode::PingPong),
        cell(Engine::Uring, 50, 64, Mode::PingPong),
        cell(Engine::Uring, 500, 64, Mode::PingPong),
        cell(Engine::Epoll, 50, 4096, Mode::PingPong),
        cell(Engine::Epoll, 4, 65536, Mode::Pipelined(4)),
        cell(Engine::Epoll, 50, 64, Mode::Fixed(Rate::OfEpoll(50))),
    ]
}

/// The cross product of engines, connections, sizes and modes, in that nesting.
fn cross(engines: &[Engine], conns: &[u32], sizes: &[u32], modes: &[Mode]) -> Vec<Cell> {
    let mut cells = Vec::new();
    for &engine in engines {
        for &c in conns {
            for &s in sizes {
                for &mode in modes {
                    cells.push(Cell {
                        engine,
                        conns: c,
                        size: s,
                        mode,
                    });
                }
            }
        }
    }
    cells
}

fn parse_args(args: &[String]) -> Result<Opts, String> {
    let mut preset = "quick";
    let mut conns: Option<Vec<u32>> = None;
    let mut sizes: Option<Vec<u32>> = None;
    let mut engines: Option<Vec<Engine>> = None;
    let mut modes: Option<Vec<String>> = None;
    let mut rates: Option<Vec<Rate>> = None;
    let mut depth = 16u32;
    let mut duration = None;
    let mut warmup = None;
    let mut warmup_echoes = None;
    let mut runs = None;
    let mut servers = None;
    let mut o = Opts {
        preset,
        cells: Vec::new(),
        servers: Vec::new(),
        duration: Duration::ZERO,
        warmup: Duration::ZERO,
        warmup_echoes: 0,
        runs: 0,
        cores: 1,
        server_cpu: 0,
        gen_cpu: None,
        gen_threads: None,
        read_buf: benches::echo::READ_BUF,
        pool_bufs: benches::echo::POOL_BUFS,
        out: None,
        verbose: false,
        c_server: None,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value =
            || -> Result<&String, String> { it.next().ok_or(format!("{flag} needs a value")) };
        let num =
            |v: &String| -> Result<usize, String> { v.parse().map_err(|e| format!("{flag}: {e}")) };
        let secs = |v: &String| -> Result<Duration, String> {
            v.parse::<f64>()
                .ok()
                .filter(|s| *s >= 0.0)
                .map(Duration::from_secs_f64)
                .ok_or(format!("{flag}: not a number of seconds"))
        };
        match flag.as_str() {
            "--quick" => preset = "quick",
            "--full" => preset = "full",
            "--smoke" => preset = "smoke",
            "--conns" => conns = Some(list(value()?, |s| s.parse().ok(), "connection count")?),
            "--sizes" => sizes = Some(list(value()?, |s| s.parse().ok(), "message size")?),
            "--engines" => engines = Some(list(value()?, Engine::parse, "engine")?),
            "--modes" => {
                modes = Some(list(
                    value()?,
                    |s| matches!(s, "pingpong" | "pipelined").then(|| s.to_string()),
                    "mode",
                )?)
            }
            "--depth" => depth = num(value()?)?.max(1) as u32,
            "--rate" => {
                rates = Some(list(
                    value()?,
                    Rate::parse,
                    "rate (echoes per second, or a percentage such as 50%)",
                )?)
            }
            "--duration" => duration = Some(secs(value()?)?),
            "--warmup" => warmup = Some(secs(value()?)?),
            "--warmup-echoes" => warmup_echoes = Some(num(value()?)? as u64),
            "--runs" => runs = Some(num(value()?)?.max(1)),
            "--servers" => servers = Some(list(value()?, ServerKind::parse, "server")?),
            "--cores" => o.cores = num(value()?)?.max(1),
            "--server-cpu" => o.server_cpu = num(value()?)?,
            "--gen-cpu" => o.gen_cpu = Some(num(value()?)?),
            "--gen-threads" => o.gen_threads = Some(num(value()?)?.max(1)),
            "--read-buf" => o.read_buf = num(value()?)?.max(1),
            "--pool-bufs" => {
                let n = num(value()?)?;
                if !n.is_power_of_two() || n > 32768 {
                    return Err("--pool-bufs: a power of two up to 32768".to_string());
                }
                o.pool_bufs = n as u16;
            }
            "--out" => o.out = Some(PathBuf::from(value()?)),
            "--verbose" | "-v" => o.verbose = true,
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    o.preset = preset;
    let both = [Engine::Epoll, Engine::Uring];
    let (d_dur, d_warm, d_runs, d_servers): (f64, f64, usize, &[ServerKind]) = match preset {
        "full" => (1.5, 0.3, 5, &ServerKind::ALL),
        "smoke" => (0.02, 0.01, 1, &ServerKind::ALL),
        // Many short rounds rather than a few long ones in the same two minutes: a paired
        // ratio's noise here comes from the run (a new server and connections settling
        // into one batching pattern or another), not the window's length. Three quick
        // matrices measured it: the spread of log ratios per pair was 0.15 with 0.3 s
        // windows, 0.15 with 0.1 s and larger again at 0.05 s (1 connection echoes too
        // few), so 24 rounds of 0.1 s give intervals about 1.7 times narrower than 8 of
        // 0.3 s (the 8th to the 17th pair, see `stats::interval_rank`).
        _ => (0.1, 0.05, 24, &ServerKind::QUICK),
    };
    let custom = conns.is_some()
        || sizes.is_some()
        || engines.is_some()
        || modes.is_some()
        || rates.is_some();
    o.cells = if custom {
        let mut m: Vec<Mode> = modes
            .iter()
            .flatten()
            .map(|m| {
                if m == "pingpong" {
                    Mode::PingPong
                } else {
                    Mode::Pipelined(depth)
                }
            })
            .collect();
        let fixed_only = rates.is_some() && modes.is_none();
        m.extend(rates.iter().flatten().map(|&r| Mode::Fixed(r)));
        if m.is_empty() {
            m.push(Mode::PingPong);
        }
        let (d_conns, d_sizes, d_engines): (&[u32], &[u32], &[Engine]) = if fixed_only {
            (&[50], &[64], &[Engine::Epoll])
        } else {
            (&[1, 50, 500], &[64, 512], &both)
        };
        let conns = conns.unwrap_or(d_conns.to_vec());
        let sizes = sizes.unwrap_or(d_sizes.to_vec());
        let engines = engines.unwrap_or(d_engines.to_vec());
        if conns.contains(&0) || sizes.contains(&0) {
            return Err("connections and sizes must be at least 1".to_string());
        }
        cross(&engines, &conns, &sizes, &m)
    } else {
        match preset {
            "full" => {
                let mut cells = cross(
                    &both,
                    &[1, 50, 500, 5000],
                    &[64, 512, 4096, 65536],
                    &[Mode::PingPong],
                );
                cells.extend(cross(&both, &[4], &[65536], &[Mode::Pipelined(4)]));
                let sweep: Vec<Mode> = [25, 50, 80].map(|p| Mode::Fixed(Rate::OfEpoll(p))).to_vec();
                cells.extend(cross(&both, &[50], &[64], &sweep));
                cells
            }
            // Small messages ping-pong, large ones pipelined (partial writes, several buffers
            // per message), and a fixed rate, on both engines.
            "smoke" => [Engine::Epoll, Engine::Uring]
                .into_iter()
                .flat_map(|engine| {
                    [
                        (100, Mode::PingPong),
                        (70001, Mode::Pipelined(4)),
                        (100, Mode::Fixed(Rate::PerSec(3000))),
                    ]
                    .map(|(size, mode)| Cell {
                        engine,
                        conns: 3,
                        size,
                        mode,
                    })
                })
                .collect(),
            _ => quick_cells(),
        }
    };
    o.duration = duration.unwrap_or(Duration::from_secs_f64(d_dur));
    o.warmup = warmup.unwrap_or(Duration::from_secs_f64(d_warm));
    // Twice the runtime server's pool: its first pass over the pool faults in a page per
    // receive, which is start-up, not the steady state the windows measure (at one
    // connection that pass outlasts a 0.05 s warm-up). A smoke run only checks echoes.
    let d_echoes = if preset == "smoke" {
        0
    } else {
        2 * u64::from(o.pool_bufs)
    };
    o.warmup_echoes = warmup_echoes.unwrap_or(d_echoes);
    o.runs = runs.unwrap_or(d_runs);
    o.servers = servers.unwrap_or(d_servers.to_vec());
    if o.servers.is_empty() || o.cells.is_empty() {
        return Err("empty matrix".to_string());
    }
    Ok(o)
}

fn parse_serve(args: &[String]) -> Result<ServeArgs, String> {
    let mut s = ServeArgs {
        kind: ServerKind::EpollLt,
        port: 0,
        cpu: 0,
        cores: 1,
        read_buf: benches::echo::READ_BUF,
        pool_bufs: benches::echo::POOL_BUFS,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let v = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--serve" => s.kind = ServerKind::parse(v).ok_or(format!("unknown server {v:?}"))?,
            "--port" => s.port = v.parse().map_err(|e| format!("--port: {e}"))?,
            "--cpu" => s.cpu = v.parse().map_err(|e| format!("--cpu: {e}"))?,
            "--cores" => {
                s.cores = v
                    .parse::<usize>()
                    .map_err(|e| format!("--cores: {e}"))?
                    .max(1)
            }
            "--read-buf" => s.read_buf = v.parse().map_err(|e| format!("--read-buf: {e}"))?,
            "--pool-bufs" => s.pool_bufs = v.parse().map_err(|e| format!("--pool-bufs: {e}"))?,
            other => return Err(format!("unknown server argument {other:?}")),
        }
    }
    Ok(s)
}

/// Builds the C reference server into `<target>/echo/echo_liburing` (the target dir of this
/// binary) unless it is newer than its source; says in one line why when it cannot.
fn build_c_server() -> Result<PathBuf, String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("c/echo_liburing.c");
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    // <target>/<profile>/echo
    let target = exe
        .parent()
        .and_then(Path::parent)
        .unwrap_or(Path::new("target"));
    let bin = target.join("echo").join("echo_liburing");
    let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    match (mtime(&bin), mtime(&src)) {
        (Some(b), Some(s)) if b >= s => return Ok(bin),
        (Some(_), None) => return Ok(bin),
        _ => {}
    }
    std::fs::create_dir_all(target.join("echo")).map_err(|e| e.to_string())?;
    // Built under a name of its own, then renamed: two benchmarks starting at once (the
    // smoke test and a run) never run a half-written binary.
    let tmp = bin.with_extension(format!("tmp{}", std::process::id()));
    let out = Command::new("cc")
        .arg("-O2")
        .arg("-o")
        .arg(&tmp)
        .arg(&src)
        .arg("-luring")
        .output()
        .map_err(|_| "no C compiler (`cc`) found".to_string())?;
    if !out.status.success() {
        let _ = std::fs::remove_file(&tmp);
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(if err.contains("liburing.h") {
            "liburing's headers are missing (apt-get install liburing-dev)".to_string()
        } else if err.contains("-luring") {
            "liburing's library is missing (apt-get install liburing-dev)".to_string()
        } else {
            let first = err.lines().find(|l| l.contains("error")).unwrap_or("");
            format!("cc failed on {}: {}", src.display(), first.trim())
        });
    }
    std::fs::rename(&tmp, &bin).map_err(|e| e.to_string())?;
    Ok(bin)
}

/// Builds the C reference server when it is among the servers; without it (no `cc`, no
/// liburing, several cores) says why in one line and goes on with the other servers.
fn prepare_c_server(o: &mut Opts) {
    if !o.servers.contains(&ServerKind::CLiburing) {
        return;
    }
    let built = if o.cores > 1 {
        Err(format!("it serves one core, not {}", o.cores))
    } else {
        build_c_server()
    };
    match built {
        Ok(bin) => o.c_server = Some(bin),
        Err(why) => {
            println!("Note: the C reference server (c-liburing) is skipped: {why}.");
            o.servers.retain(|&k| k != ServerKind::CLiburing);
        }
    }
}

/// A server child process and the end of its control socket.
struct Server {
    child: Child,
    stdout: BufReader<std::process::ChildStdout>,
    control: Option<UnixStream>,
    port: u16,
}

impl Server {
    fn start(kind: ServerKind, o: &Opts) -> std::io::Result<Server> {
        let (ours, theirs) = UnixStream::pair()?;
        let mut cmd = match (&o.c_server, kind) {
            (Some(bin), ServerKind::CLiburing) => Command::new(bin),
            _ => {
                let mut cmd = Command::new(std::env::current_exe()?);
                cmd.args(["--serve", kind.name()]);
                cmd
            }
        };
        cmd.envs(kind.env().iter().copied());
        let mut child = cmd
            .args(["--port", "0"])
            .args(["--cpu", &o.server_cpu.to_string()])
            .args(["--cores", &o.cores.to_string()])
            .args(["--read-buf", &o.read_buf.to_string()])
            .args(["--pool-bufs", &o.pool_bufs.to_string()])
            .stdin(Stdio::from(OwnedFd::from(theirs)))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line)?;
        let port = line
            .strip_prefix(READY)
            .and_then(|p| p.trim().parse::<u16>().ok());
        let Some(port) = port else {
            let _ = child.kill();
            let status = child.wait()?;
            return Err(std::io::Error::other(format!(
                "server {kind} did not start ({status}; said {line:?})"
            )));
        };
        Ok(Server {
            child,
            stdout,
            control: Some(ours),
            port,
        })
    }

    /// Stops the server (closing its control socket) and returns its metrics lines.
    fn stop(mut self) -> String {
        drop(self.control.take());
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(2))
                }
                _ => {
                    eprintln!("server {} did not stop; killing it", self.child.id());
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break;
                }
            }
        }
        let mut metrics = Vec::new();
        let mut line = String::new();
        while self.stdout.read_line(&mut line).is_ok_and(|n| n > 0) {
            if let Some(m) = line.trim().strip_prefix(METRICS) {
                metrics.push(m.trim().to_string());
            }
            line.clear();
        }
        metrics.join("; ")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.control.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn run_one(
    o: &Opts,
    cell: Cell,
    server: ServerKind,
    run: usize,
    rate: Option<f64>,
    pattern: &Arc<Pattern>,
) -> std::io::Result<RunRecord> {
    let srv = Server::start(server, o)?;
    let pid = srv.child.id();
    let ncpu = cpu_count();
    let gen_first = o.gen_cpu.unwrap_or(o.server_cpu + o.cores) % ncpu;
    let threads = o.gen_threads.unwrap_or(o.cores);
    let plan = Plan {
        port: srv.port,
        cell,
        threads,
        cpus: (0..threads).map(|i| (gen_first + i) % ncpu).collect(),
        rate,
        warmup: o.warmup,
        warmup_echoes: o.warmup_echoes,
        duration: o.duration,
        pattern: pattern.clone(),
    };
    let mut bench_cpus: Vec<usize> = (0..o.cores).map(|i| (o.server_cpu + i) % ncpu).collect();
    bench_cpus.extend(&plan.cpus);
    bench_cpus.sort();
    bench_cpus.dedup();
    let mut cpu_at = [0u64; 2];
    let mut stat_at = [(0.0, 0.0); 2];
    let mut busy_at = [0.0; 2];
    let mut csw_at = [0u64; 2];
    let mut segs_at = [0u64; 2];
    let mut sample = |i: usize| {
        segs_at[i] = cpu::tcp_out_segs().unwrap_or(0);
        csw_at[i] = cpu::context_switches(pid).unwrap_or(0);
        cpu_at[i] = cpu::process_cpu_ns(pid).unwrap_or(0);
        stat_at[i] = cpu::proc_stat_times(pid).unwrap_or((0.0, 0.0));
        busy_at[i] = cpu::cpus_busy_s(&bench_cpus).unwrap_or(0.0);
    };
    let result = load::run(&plan, &mut |m| match m {
        Mark::WindowStart => sample(0),
        Mark::WindowEnd => sample(1),
        Mark::Connected => {}
    });
    let metrics = srv.stop();
    let g = result?;
    let d = o.duration.as_secs_f64();
    let server_cpu_s = cpu_at[1].saturating_sub(cpu_at[0]) as f64 / 1e9;
    let ours = server_cpu_s + g.cpu_ns as f64 / 1e9;
    // /proc/stat counts 10 ms ticks: too coarse for short windows (smoke), so none there.
    let foreign = if d >= 0.2 {
        ((busy_at[1] - busy_at[0]) - ours).max(0.0) / (d * bench_cpus.len() as f64)
    } else {
        0.0
    };
    Ok(RunRecord {
        cell,
        server,
        run,
        duration_s: d,
        echoes: g.echoes,
        bytes: g.bytes,
        p50_us: g.hist.quantile(0.5) as f64 / 1e3,
        p99_us: g.hist.quantile(0.99) as f64 / 1e3,
        p999_us: g.hist.quantile(0.999) as f64 / 1e3,
        max_us: g.hist.quantile(1.0) as f64 / 1e3,
        offered_per_s: rate,
        server_cpu_s,
        server_user_s: stat_at[1].0 - stat_at[0].0,
        server_sys_s: stat_at[1].1 - stat_at[0].1,
        gen_cpu_s: g.cpu_ns as f64 / 1e9,
        gen_busy: g.max_thread_busy,
        verified: g.total_echoes,
        foreign,
        server_csw: csw_at[1].saturating_sub(csw_at[0]),
        tcp_segs: segs_at[1].saturating_sub(segs_at[0]),
        server_metrics: metrics,
    })
}

fn out_dir(o: &Opts) -> PathBuf {
    o.out.clone().unwrap_or_else(|| {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("target"));
        target.join("echo")
    })
}

type Failure = (u8, String);

/// Runs `runs` rounds of `cell` and appends the records (see [`run_round`]).
fn run_cell(
    o: &Opts,
    cell: Cell,
    servers: &[ServerKind],
    runs: usize,
    rate: Option<f64>,
    pattern: &Arc<Pattern>,
    records: &mut Vec<RunRecord>,
) -> Result<(), Failure> {
    for run in 0..runs {
        run_round(o, cell, servers, run, rate, pattern, records)?;
    }
    Ok(())
}

/// Runs round `run` of `cell`: every server of `servers` once, the order rotated each round;
/// appends the records.
fn run_round(
    o: &Opts,
    cell: Cell,
    servers: &[ServerKind],
    run: usize,
    rate: Option<f64>,
    pattern: &Arc<Pattern>,
    records: &mut Vec<RunRecord>,
) -> Result<(), Failure> {
    for k in 0..servers.len() {
        // Rotate the order each round: A B C, B C A, C A B, ...
        let server = servers[(k + run) % servers.len()];
        match run_one(o, cell, server, run, rate, pattern) {
            Ok(r) => {
                if o.verbose {
                    println!(
                        "  {cell} {server:<16} run {run}: {:>10.0} echoes/s, {:>10.0} \
                         echoes/CPU-s, p50 {:.1} us, max {:.0} us, {:.3} csw/echo, {:.2} \
                         segments/echo, server {:.3} s CPU ({:.3} user + {:.3} sys by \
                         /proc), gen {:.0}%, {} verified; {}",
                        r.echoes_per_s(),
                        r.echoes_per_cpu_s(),
                        r.p50_us,
                        r.max_us,
                        r.server_csw as f64 / r.echoes.max(1) as f64,
                        r.tcp_segs as f64 / r.echoes.max(1) as f64,
                        r.server_cpu_s,
                        r.server_user_s,
                        r.server_sys_s,
                        r.gen_busy * 100.0,
                        r.verified,
                        r.server_metrics
                    );
                }
                // A smoke window is too short to insist on echoes inside it, but every
                // server must have echoed something.
                if r.echoes == 0 && (o.preset != "smoke" || r.verified == 0) {
                    return Err((
                        1,
                        format!("{cell} {server} run {run}: no echo in the window"),
                    ));
                }
                records.push(r);
            }
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                return Err((
                    2,
                    format!("ECHO VERIFICATION FAILED: server {server}, {cell}, run {run}: {e}"),
                ));
            }
            Err(e) => return Err((1, format!("{cell} {server} run {run}: {e}"))),
        }
    }
    Ok(())
}

/// The offered rate of a fixed-rate cell in echoes per second: as given, or a percentage of
/// what the better epoll server sustained in the saturated cell of the same shape: the
/// median of that cell's runs so far, topped up now with runs of both epoll servers to
/// three of each (or `--runs`, if fewer).
fn resolve_rate(
    o: &Opts,
    cell: Cell,
    pattern: &Arc<Pattern>,
    records: &mut Vec<RunRecord>,
) -> Result<Option<f64>, Failure> {
    let pct = match cell.mode {
        Mode::Fixed(Rate::PerSec(r)) => return Ok(Some(r as f64)),
        Mode::Fixed(Rate::OfEpoll(p)) => f64::from(p),
        _ => return Ok(None),
    };
    let base = cell.saturated();
    let epolls = [ServerKind::EpollLt, ServerKind::EpollEt];
    // The rate is the median of at least three runs of each epoll server: in the quick
    // matrix only the twin's first round (one 0.1 s run each) has run by now, and rates
    // taken from that one run put the highest of three invocations in a row a third above
    // the lowest (107,580, 109,930 and 82,690 echoes/s; the twins' medians were
    // 100,000-105,000).
    let have = epolls
        .iter()
        .map(|&k| {
            records
                .iter()
                .filter(|r| r.cell == base && r.server == k)
                .count()
        })
        .min()
        .unwrap_or(0);
    let runs = o.runs.min(3).saturating_sub(have);
    if runs > 0 {
        println!("Measuring what epoll sustains in {base} ({runs} runs of each epoll server)...");
        let mut cal = Vec::new();
        run_cell(o, base, &epolls, runs, None, pattern, &mut cal)?;
        records.extend(cal.into_iter().map(|mut r| {
            // Kept apart from the matrix's cells: the calibration is not a result.
            r.run += 1 << 20;
            r
        }));
    }
    let (kind, max) = report::best_epoll_rate(records, base)
        .ok_or((1, format!("no epoll rate measured for {base}")))?;
    let rate = max * pct / 100.0;
    println!(
        "{cell}: offering {rate:.0} echoes/s ({pct:.0}% of {max:.0}/s, what {kind} sustained \
         in {base})."
    );
    Ok(Some(rate))
}

fn bench(o: &Opts) -> Result<(), Failure> {
    let fail = |code: u8| move |e: std::io::Error| (code, e.to_string());
    let nofile = benches::echo::raise_nofile().map_err(fail(1))?;
    let max_conns = o.cells.iter().map(|c| c.conns).max().unwrap_or(1) as u64;
    if nofile < max_conns + 64 {
        return Err((
            1,
            format!("RLIMIT_NOFILE is {nofile}: too few for {max_conns} connections (ulimit -n)"),
        ));
    }
    let ncpu = cpu_count();
    let gen_first = o.gen_cpu.unwrap_or(o.server_cpu + o.cores) % ncpu;
    let server_cpus: Vec<usize> = (0..o.cores).map(|i| (o.server_cpu + i) % ncpu).collect();
    let gen_cpus: Vec<usize> = (0..o.gen_threads.unwrap_or(o.cores))
        .map(|i| (gen_first + i) % ncpu)
        .collect();
    if gen_cpus.iter().any(|c| server_cpus.contains(c)) {
        eprintln!(
            "warning: generator CPUs {gen_cpus:?} overlap server CPUs {server_cpus:?} ({ncpu} CPUs)"
        );
    }
    let max_size = o.cells.iter().map(|c| c.size).max().unwrap_or(1) as usize;
    let pattern = Arc::new(Pattern::new(max_size));
    let total_runs = o.cells.len() * o.runs * o.servers.len();
    // Start-up, connecting and stopping a server: 20-35 ms a run on a 2-core VM (the quick
    // matrix's 840 runs took 143 s with 0.15 s of warm-up and window each).
    let per_run = o.warmup + o.duration + Duration::from_millis(30);
    println!(
        "echo --{}: {} cells x {} servers ({}) x {} runs = {} runs, window {:.2} s + warm-up \
         {:.2} s and {} echoes; about {:.0} s. Servers on CPU {:?}, load generator on CPU {:?}.",
        o.preset,
        o.cells.len(),
        o.servers.len(),
        o.servers
            .iter()
            .map(|k| k.name())
            .collect::<Vec<_>>()
            .join(", "),
        o.runs,
        total_runs,
        o.duration.as_secs_f64(),
        o.warmup.as_secs_f64(),
        o.warmup_echoes,
        (per_run * total_runs as u32).as_secs_f64(),
        server_cpus,
        gen_cpus,
    );
    let started = Instant::now();
    let mut records = Vec::with_capacity(total_runs);
    // Round by round over the whole matrix (round 1 of every cell, then round 2, ...), not
    // cell by cell: a VM's speed drifts over minutes, and this way every cell's rounds, and
    // so its intervals, span the whole run instead of one stretch of it. A fixed-rate cell's
    // rate is resolved at its first round, from the rounds of its saturated twin so far.
    let mut rates: Vec<Option<f64>> = vec![None; o.cells.len()];
    for run in 0..o.runs {
        for (i, cell) in o.cells.iter().enumerate() {
            if run == 0 {
                rates[i] = resolve_rate(o, *cell, &pattern, &mut records)?;
            }
            run_round(o, *cell, &o.servers, run, rates[i], &pattern, &mut records)?;
        }
        if o.runs > 1 {
            println!(
                "round {}/{} of every cell done ({:.0} s)",
                run + 1,
                o.runs,
                started.elapsed().as_secs_f64()
            );
        }
    }
    for cell in &o.cells {
        let summaries = report::summarize(
            &records
                .iter()
                .filter(|r| r.cell == *cell)
                .cloned()
                .collect::<Vec<_>>(),
        );
        let rows: Vec<_> = summaries.iter().collect();
        println!("{}", report::cell_table(&rows));
    }
    // Calibration runs (numbered past the matrix's) served their purpose.
    records.retain(|r| r.run < 1 << 20);
    let summaries = report::summarize(&records);
    print!("{}", report::render(&summaries, &records));
    let verified: u64 = records.iter().map(|r| r.verified).sum();
    let dir = out_dir(o);
    std::fs::create_dir_all(&dir).map_err(fail(1))?;
    report::write_runs_csv(&dir.join("results.csv"), &records).map_err(fail(1))?;
    report::write_summary_csv(&dir.join("summary.csv"), &summaries).map_err(fail(1))?;
    std::fs::write(dir.join("echo.svg"), report::svg(&summaries)).map_err(fail(1))?;
    println!(
        "{} runs in {:.1} s; {verified} echoes verified byte for byte. Wrote {}/{{results.csv, \
         summary.csv, echo.svg}}.",
        records.len(),
        started.elapsed().as_secs_f64(),
        dir.display()
    );
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|a| a == "--serve") {
        return match parse_serve(&args)
            .map_err(std::io::Error::other)
            .and_then(|s| benches::echo::serve(&s))
        {
            Ok(()) => {
                // Skip tearing down thousands of connections: the parent is done with us.
                std::process::exit(0);
            }
            Err(e) => {
                eprintln!("echo server: {e}");
                ExitCode::from(1)
            }
        };
    }
    let mut o = match parse_args(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    prepare_c_server(&mut o);
    if o.servers.is_empty() {
        eprintln!("no server left to run");
        return ExitCode::from(2);
    }
    match bench(&o) {
        Ok(()) => ExitCode::SUCCESS,
        Err((code, msg)) => {
            eprintln!("\n{msg}");
            ExitCode::from(code)
        }
    }
}
