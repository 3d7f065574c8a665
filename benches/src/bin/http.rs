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
//! Options: `--protos h1,h2 --conns 1,50,500 --bodies hello,16k --depth K --duration S
//! --warmup S --runs N --servers ours,tokio-ct,tokio-mt --cores N --server-cpu C --gen-cpu C`.
//! `--depth` is the requests in flight per connection: pipelined in HTTP/1.1, concurrent
//! streams in HTTP/2.
//! `--wrong-body` makes the servers answer a body other than the expected one (the run must
//! fail: a test of the verification). When `wrk` is installed it is run as a cross-check
//! (`wrk -t1 -c50 -d2s --latency` per server, hello body, alternated; `--wrk-conns`,
//! `--wrk-duration`; `--no-wrk` to skip).

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

use benches::cpu::{cpu_count, pin_thread, pin_to, process_cpu_ns};
use benches::http::server::Proto;
use benches::http::{Kind, load};
use benches::{arg, bad_value, median};

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

const USAGE: &str = "usage: http [--protos h1,h2] [--conns 1,50,500] [--bodies hello,16k] \
[--servers ours,tokio-ct,tokio-mt] [--depth K] [--duration S] [--warmup S] [--runs N] [--cores N] \
[--server-cpu C] [--gen-cpu C] [--no-wrk] [--wrk-conns N] [--wrk-duration S] [--smoke] \
[--wrong-body]";

fn main() -> ExitCode {
    benches::check_args(
        USAGE,
        &[
            "--conns",
            "--bodies",
            "--servers",
            "--depth",
            "--duration",
            "--warmup",
            "--runs",
            "--cores",
            "--server-cpu",
            "--gen-cpu",
            "--protos",
            "--wrk-conns",
            "--wrk-duration",
            // A server child's (`--serve KIND --body B --proto P`, with `--cores`,
            // `--server-cpu`).
            "--serve",
            "--body",
            "--proto",
        ],
        &["--smoke", "--no-wrk", "--wrong-body"],
    );
    if let Some(kind) = arg("--serve") {
        let kind = Kind::parse(&kind).unwrap_or_else(|| bad_value("--serve", &kind));
        let cores: usize = benches::arg_value("--cores").unwrap_or(1);
        let body = arg("--body").unwrap_or_default();
        let body = body_of(&body).unwrap_or_else(|| bad_value("--body", &body));
        let proto = arg("--proto").unwrap_or_else(|| "h1".to_string());
        let proto = Proto::parse(&proto).unwrap_or_else(|| bad_value("--proto", &proto));
        let cpu: usize = benches::arg_value("--server-cpu").unwrap_or(0);
        let cpus: Vec<usize> = (0..cores).map(|i| (cpu + i) % cpu_count()).collect();
        if let Err(e) = pin_to(&cpus) {
            eprintln!("server: pinning to {cpus:?}: {e}");
            return ExitCode::FAILURE;
        }
        return match benches::http::server::serve(kind, cores, body.into(), proto) {
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
        .map(|c| c.parse().unwrap_or_else(|_| bad_value("--conns", c)))
        .collect();
    let protos: Vec<Proto> = list("--protos", "h1")
        .iter()
        .map(|p| Proto::parse(p).unwrap_or_else(|| bad_value("--protos", p)))
        .collect();
    let bodies = list("--bodies", "hello,16k");
    if let Some(b) = bodies.iter().find(|b| body_of(b).is_none()) {
        bad_value("--bodies", b);
    }
    let servers: Vec<Kind> = list("--servers", "ours,tokio-ct,tokio-mt")
        .iter()
        .map(|s| Kind::parse(s).unwrap_or_else(|| bad_value("--servers", s)))
        .collect();
    let secs =
        |name, default: f64| Duration::from_secs_f64(benches::arg_value(name).unwrap_or(default));
    let window = secs("--duration", if smoke { 0.2 } else { 1.0 });
    let warmup = secs("--warmup", if smoke { 0.05 } else { 0.3 });
    let runs = benches::parse_runs(if smoke { 1 } else { 5 });
    let depth: usize = benches::arg_value("--depth").unwrap_or(1);
    let cores: usize = benches::arg_value("--cores").unwrap_or(1);
    let server_cpu: usize = benches::arg_value("--server-cpu").unwrap_or(0);
    let gen_cpu: usize =
        benches::arg_value("--gen-cpu").unwrap_or((server_cpu + cores) % cpu_count());
    pin_thread(gen_cpu)?;
    println!(
        "http: servers on CPU {server_cpu}.. ({cores} core(s)), generator on CPU {gen_cpu}; \
         depth {depth}; {runs} run(s) of {window:?} per cell"
    );
    println!(
        "{:>5} {:>5} {:>6} {:>9} | {:>10} {:>8} {:>8} {:>11} {:>6} | {:>22}",
        "proto",
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
    for (&proto, &c) in protos
        .iter()
        .flat_map(|p| conns.iter().map(move |c| (p, c)))
    {
        for b in &bodies {
            let body = body_of(b).unwrap_or_else(|| bad_value("--bodies", b));
            let mut results: Vec<Vec<Run>> = vec![Vec::new(); servers.len()];
            for run in 0..runs {
                for i in 0..servers.len() {
                    let k = (i + run) % servers.len();
                    results[k].push(one_run(
                        servers[k], proto, cores, server_cpu, b, &body, c, depth, warmup, window,
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
                    "{:>5} {c:>5} {b:>6} {:>9} | {:>10.0} {:>8.0} {:>8.0} {:>11.0} {:>6} | {:>22}",
                    proto.name(),
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
        // `wrk --version` exits 1 after printing its version: its presence is what counts.
        match Command::new("wrk").arg("--version").output() {
            Ok(_) => wrk_cross_check(&servers, cores, server_cpu, runs),
            Err(_) => println!("wrk: not installed; no cross-check (apt-get install wrk)"),
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn one_run(
    kind: Kind,
    proto: Proto,
    cores: usize,
    server_cpu: usize,
    body_name: &str,
    body: &[u8],
    conns: usize,
    depth: usize,
    warmup: Duration,
    window: Duration,
) -> std::io::Result<Run> {
    let server = Server::start(kind, proto, cores, server_cpu, body_name)?;
    let (pid, port) = (server.pid, server.port);
    let mut cpu = (0u64, 0u64);
    let measured = load::run(
        ([127, 0, 0, 1], port).into(),
        proto,
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
    let totals = server.stop()?;
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

/// A server child process: started with `--serve`, stopped by closing its stdin.
struct Server {
    child: std::process::Child,
    out: BufReader<std::process::ChildStdout>,
    pid: u32,
    port: u16,
}

impl Server {
    fn start(
        kind: Kind,
        proto: Proto,
        cores: usize,
        server_cpu: usize,
        body_name: &str,
    ) -> std::io::Result<Server> {
        let mut child = Command::new(std::env::current_exe()?)
            .args(["--serve", kind.name(), "--cores", &cores.to_string()])
            .args(["--proto", proto.name()])
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
        Ok(Server {
            child,
            out,
            pid,
            port,
        })
    }

    /// Closes the server's stdin and waits for it; returns ours's counters (enters, SQEs,
    /// loop turns over its whole life), zeros for the others.
    fn stop(mut self) -> std::io::Result<(u64, u64, u64)> {
        drop(self.child.stdin.take());
        let mut rest = String::new();
        let mut totals = (0u64, 0u64, 0u64);
        while self.out.read_line(&mut rest)? > 0 {
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
        let _ = self.child.wait();
        Ok(totals)
    }
}

/// One `wrk` run against a fresh server: requests/s, p50 and p99 in microseconds (wrk's
/// `--latency` distribution) and requests per server CPU-second. wrk inherits this thread's
/// CPU (the generator's).
fn wrk_run(
    kind: Kind,
    cores: usize,
    server_cpu: usize,
    conns: usize,
    secs: u64,
) -> std::io::Result<(f64, f64, f64, f64)> {
    let server = Server::start(kind, Proto::H1, cores, server_cpu, "hello")?;
    let before = process_cpu_ns(server.pid).unwrap_or(0);
    let out = Command::new("wrk")
        .args([
            "-t1",
            &format!("-c{conns}"),
            &format!("-d{secs}s"),
            "--latency",
        ])
        .arg(format!("http://127.0.0.1:{}/", server.port))
        .output();
    let after = process_cpu_ns(server.pid).unwrap_or(0);
    server.stop()?;
    let out = out?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(std::io::Error::other(format!("wrk failed: {text}")));
    }
    let parse = parse_wrk(&text)
        .ok_or_else(|| std::io::Error::other(format!("wrk said something unexpected: {text}")))?;
    let (rps, requests, p50, p99) = parse;
    let cpu_s = after.saturating_sub(before) as f64 / 1e9;
    Ok((rps, p50, p99, requests / cpu_s.max(1e-9)))
}

/// wrk's "Requests/sec", total requests, and its 50% and 99% latencies in microseconds.
fn parse_wrk(text: &str) -> Option<(f64, f64, f64, f64)> {
    let us = |v: &str| -> Option<f64> {
        let (n, unit) = v.split_at(v.find(|c: char| c.is_ascii_alphabetic())?);
        let n: f64 = n.parse().ok()?;
        Some(match unit {
            "us" => n,
            "ms" => n * 1e3,
            "s" => n * 1e6,
            _ => return None,
        })
    };
    let mut rps = None;
    let mut requests = None;
    let (mut p50, mut p99) = (None, None);
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["Requests/sec:", v] => rps = v.parse().ok(),
            [n, "requests", "in", ..] => requests = n.parse().ok(),
            ["50%", v] => p50 = us(v),
            ["99%", v] => p99 = us(v),
            _ => {}
        }
    }
    Some((rps?, requests?, p50?, p99?))
}

/// Runs wrk against every server (hello body, `--wrk-conns`, alternated, `runs` times each)
/// and prints medians beside our generator's table: a check that our generator does not
/// favour a server.
fn wrk_cross_check(servers: &[Kind], cores: usize, server_cpu: usize, runs: usize) {
    let conns: usize = benches::arg_value("--wrk-conns").unwrap_or(50);
    let secs: u64 = benches::arg_value("--wrk-duration").unwrap_or(2);
    println!(
        "wrk cross-check: wrk -t1 -c{conns} -d{secs}s --latency, hello body, {runs} alternated run(s) per server"
    );
    let mut results: Vec<Vec<(f64, f64, f64, f64)>> = vec![Vec::new(); servers.len()];
    for run in 0..runs {
        for i in 0..servers.len() {
            let k = (i + run) % servers.len();
            match wrk_run(servers[k], cores, server_cpu, conns, secs) {
                Ok(r) => results[k].push(r),
                Err(e) => {
                    println!("wrk: {e}; cross-check skipped");
                    return;
                }
            }
        }
    }
    let med = |rs: &[(f64, f64, f64, f64)], f: fn(&(f64, f64, f64, f64)) -> f64| {
        median(&rs.iter().map(f).collect::<Vec<_>>())
    };
    let base = servers
        .iter()
        .position(|&k| k == Kind::TokioCt)
        .map(|i| med(&results[i], |r| r.3));
    for (k, rs) in servers.iter().zip(&results) {
        let per_cpu = med(rs, |r| r.3);
        let ratio = base.map_or(String::from("-"), |b| format!("{:.2}", per_cpu / b));
        println!(
            "{conns:>5} {:>6} {:>9} | {:>10.0} {:>8.0} {:>8.0} {:>11.0} {:>6} | (wrk)",
            "hello",
            k.name(),
            med(rs, |r| r.0),
            med(rs, |r| r.1),
            med(rs, |r| r.2),
            per_cpu,
            ratio
        );
    }
}

#[cfg(test)]
mod tests {
    use super::parse_wrk;

    #[test]
    fn parses_wrk_output() {
        let text = "Running 2s test @ http://127.0.0.1:1/
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   310.50us   50.00us   1.20ms   90.00%
  Latency Distribution
     50%  300.00us
     75%  320.00us
     90%  350.00us
     99%    1.10ms
  320000 requests in 2.00s, 30.00MB read
Requests/sec: 160000.00
Transfer/sec:     15.00MB
";
        assert_eq!(parse_wrk(text), Some((160000.0, 320000.0, 300.0, 1100.0)));
        assert_eq!(parse_wrk("Running 2s test"), None);
    }
}
