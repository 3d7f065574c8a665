//! HTTP/1.1 over loopback: hyper on this runtime (`net::hyper::Server`) against hyper on
//! tokio's current_thread and multi_thread runtimes (same core count), behind our own load
//! generator (keep-alive, optional pipelining, every response verified).
//!
//! ```text
//! cargo run --release -p benches --bin http             # 1, 50, 500 conns x hello, 16 KiB; ~2 min
//! cargo run --release -p benches --bin http -- --smoke  # tiny, for tests
//! ```
//!
//! Each server runs as a child process (this binary with `--serve KIND`) pinned to
//! `--server-cpu` (0, and the next `--cores` - 1 CPUs); the generator runs here pinned to
//! `--gen-cpu` (the CPU after the servers'). Per cell the servers alternate run by run, and
//! the table shows medians of `--runs` (5) runs: requests/s, p50/p99 latency, requests per
//! server CPU-second (the server process's CPU clock over the window) and its ratio to
//! tokio current_thread. For ours, SQEs, enters and loop turns per request come from the
//! runtime's counters. A wrong response fails the run (exit status 2).
//!
//! Options: `--conns 1,50,500 --bodies hello,16k --depth K --duration S --warmup S --runs N
//! --servers ours,tokio-ct,tokio-mt --cores N --server-cpu C --gen-cpu C`.
//! `--wrong-body` makes the servers answer a body other than the expected one (the run must
//! fail: a test of the verification). `wrk` is run as a cross-check when installed (`--no-wrk` to skip).

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

use benches::cpu::{cpu_count, pin_thread, pin_to, process_cpu_ns};
use benches::http::{Kind, load};
use benches::median;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.windows(2).find(|w| w[0] == name).map(|w| w[1].clone())
}

fn flag(name: &str) -> bool {
    std::env::args().any(|a| a == name)
}

fn body_of(name: &str) -> Option<Vec<u8>> {
    match name {
        "hello" => Some(b"Hello, world!".to_vec()),
        "16k" => Some((0..16 * 1024).map(|i| b'a' + (i % 26) as u8).collect()),
        _ => None,
    }
}

/// One run's numbers.
#[derive(Default, Clone)]
struct Run {
    rps: f64,
    p50: f64,
    p99: f64,
    per_cpu_s: f64,
    /// Per request, ours only: enters, SQEs, loop turns.
    ring: Option<(f64, f64, f64)>,
}

fn main() -> ExitCode {
    if let Some(kind) = arg("--serve") {
        let kind = Kind::parse(&kind).expect("--serve KIND");
        let cores: usize = arg("--cores").and_then(|c| c.parse().ok()).unwrap_or(1);
        let body = body_of(&arg("--body").unwrap_or_default()).expect("--body");
        let cpu: usize = arg("--server-cpu")
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let cpus: Vec<usize> = (0..cores).map(|i| (cpu + i) % cpu_count()).collect();
        if let Err(e) = pin_to(&cpus) {
            eprintln!("server: pinning to {cpus:?}: {e}");
            return ExitCode::FAILURE;
        }
        return match benches::http::server::serve(kind, cores, body.into()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("server: {e}");
                ExitCode::FAILURE
            }
        };
    }
    match bench() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("http bench: {e}");
            ExitCode::from(2)
        }
    }
}

fn list(name: &str, default: &str) -> Vec<String> {
    arg(name)
        .unwrap_or_else(|| default.to_string())
        .split(',')
        .map(str::to_string)
        .collect()
}

fn bench() -> std::io::Result<()> {
    let smoke = flag("--smoke");
    let conns: Vec<usize> = list("--conns", if smoke { "1,50" } else { "1,50,500" })
        .iter()
        .map(|c| c.parse().expect("--conns"))
        .collect();
    let bodies = list("--bodies", "hello,16k");
    let servers: Vec<Kind> = list("--servers", "ours,tokio-ct,tokio-mt")
        .iter()
        .map(|s| Kind::parse(s).expect("--servers"))
        .collect();
    let secs = |name, default: f64| {
        Duration::from_secs_f64(arg(name).and_then(|d| d.parse().ok()).unwrap_or(default))
    };
    let window = secs("--duration", if smoke { 0.2 } else { 1.0 });
    let warmup = secs("--warmup", if smoke { 0.05 } else { 0.3 });
    let runs = benches::parse_runs(if smoke { 1 } else { 5 });
    let depth: usize = arg("--depth").and_then(|d| d.parse().ok()).unwrap_or(1);
    let cores: usize = arg("--cores").and_then(|c| c.parse().ok()).unwrap_or(1);
    let server_cpu: usize = arg("--server-cpu")
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let gen_cpu: usize = arg("--gen-cpu")
        .and_then(|c| c.parse().ok())
        .unwrap_or((server_cpu + cores) % cpu_count());
    pin_thread(gen_cpu)?;
    println!(
        "http: servers on CPU {server_cpu}.. ({cores} core(s)), generator on CPU {gen_cpu}; \
         depth {depth}; {runs} run(s) of {window:?} per cell"
    );
    println!(
        "{:>5} {:>6} {:>9} | {:>10} {:>8} {:>8} {:>11} {:>6} | {:>22}",
        "conns",
        "body",
        "server",
        "req/s",
        "p50 us",
        "p99 us",
        "req/CPU-s",
        "ratio",
        "enters/SQEs/turns per req"
    );
    for &c in &conns {
        for b in &bodies {
            let body = body_of(b).expect("--bodies: hello or 16k");
            let mut results: Vec<Vec<Run>> = vec![Vec::new(); servers.len()];
            for run in 0..runs {
                for i in 0..servers.len() {
                    let k = (i + run) % servers.len();
                    results[k].push(one_run(
                        servers[k], cores, server_cpu, b, &body, c, depth, warmup, window,
                    )?);
                }
            }
            let base = servers
                .iter()
                .position(|&k| k == Kind::TokioCt)
                .map(|i| median(&results[i].iter().map(|r| r.per_cpu_s).collect::<Vec<_>>()));
            for (k, rs) in servers.iter().zip(&results) {
                let m = |f: fn(&Run) -> f64| median(&rs.iter().map(f).collect::<Vec<_>>());
                let per_cpu = m(|r| r.per_cpu_s);
                let ratio = base.map_or(String::from("-"), |b| format!("{:.2}", per_cpu / b));
                let ring = match rs[0].ring {
                    Some(_) => format!(
                        "{:.2}/{:.2}/{:.2}",
                        m(|r| r.ring.map_or(0.0, |x| x.0)),
                        m(|r| r.ring.map_or(0.0, |x| x.1)),
                        m(|r| r.ring.map_or(0.0, |x| x.2))
                    ),
                    None => "-".to_string(),
                };
                println!(
                    "{c:>5} {b:>6} {:>9} | {:>10.0} {:>8.0} {:>8.0} {:>11.0} {:>6} | {:>22}",
                    k.name(),
                    m(|r| r.rps),
                    m(|r| r.p50),
                    m(|r| r.p99),
                    per_cpu,
                    ratio,
                    ring
                );
            }
        }
    }
    if !flag("--no-wrk") && !smoke {
        match Command::new("wrk").arg("--version").output() {
            Ok(_) => {
                println!("wrk: installed, but the cross-check is not wired up yet: run it by hand")
            }
            Err(_) => println!("wrk: not installed; no cross-check (apt-get install wrk)"),
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn one_run(
    kind: Kind,
    cores: usize,
    server_cpu: usize,
    body_name: &str,
    body: &[u8],
    conns: usize,
    depth: usize,
    warmup: Duration,
    window: Duration,
) -> std::io::Result<Run> {
    let mut child = Command::new(std::env::current_exe()?)
        .args(["--serve", kind.name(), "--cores", &cores.to_string()])
        .args(["--server-cpu", &server_cpu.to_string()])
        // A check of the checker: the server answers another body than the one expected.
        .args([
            "--body",
            if flag("--wrong-body") {
                "16k"
            } else {
                body_name
            },
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let pid = child.id();
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line)?;
    let port: u16 = line
        .strip_prefix("READY ")
        .and_then(|p| p.trim().parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("server said {line:?}")))?;
    let mut cpu = (0u64, 0u64);
    let measured = load::run(
        ([127, 0, 0, 1], port).into(),
        conns,
        depth,
        body,
        warmup,
        window,
        &mut |open| {
            let now = process_cpu_ns(pid).unwrap_or(0);
            if open { cpu.0 = now } else { cpu.1 = now }
        },
    );
    // Stop: stdin closes; ours prints its counters.
    drop(child.stdin.take());
    let mut rest = String::new();
    let mut totals = (0u64, 0u64, 0u64);
    while out.read_line(&mut rest)? > 0 {
        if let Some(m) = rest.strip_prefix("METRICS ") {
            let get = |k: &str| {
                m.split_whitespace()
                    .find_map(|kv| kv.strip_prefix(k)?.strip_prefix('=')?.parse::<u64>().ok())
                    .unwrap_or(0)
            };
            totals.0 += get("enters");
            totals.1 += get("sqes");
            totals.2 += get("turns");
        }
        rest.clear();
    }
    let _ = child.wait();
    let measured = measured?;
    let cpu_s = (cpu.1.saturating_sub(cpu.0)) as f64 / 1e9;
    let _ = std::io::stdout().flush();
    // The counters cover the whole process life (warm-up and connection setup included):
    // per request over the requests of the window and the warm-up alike is an estimate.
    let total_requests = measured.rps() * (window + warmup).as_secs_f64();
    Ok(Run {
        rps: measured.rps(),
        p50: measured.percentile(50.0),
        p99: measured.percentile(99.0),
        per_cpu_s: measured.requests as f64 / cpu_s.max(1e-9),
        ring: (kind == Kind::Ours).then(|| {
            let n = total_requests.max(1.0);
            (
                totals.0 as f64 / n,
                totals.1 as f64 / n,
                totals.2 as f64 / n,
            )
        }),
    })
}
