//! Per-run records, their medians per cell and server, the ratios (with intervals) to the
//! better epoll, to tokio and to the C reference, and the outputs: tables, verdicts, CSV
//! files and an SVG plot.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::path::Path;

#[cfg(test)]
use super::run::Engine;
use super::run::{Cell, Mode, ServerKind};
use super::stats::{Interval, LEVEL_BAND, Verdict, interval_rank, median, ratio_interval, spread};

/// What one run of one server in one cell measured.
#[derive(Debug, Clone)]
pub struct RunRecord {
    /// The cell.
    pub cell: Cell,
    /// The server.
    pub server: ServerKind,
    /// The run's number (0-based) within the cell.
    pub run: usize,
    /// The window's length, in seconds.
    pub duration_s: f64,
    /// Echoes completed in the window.
    pub echoes: u64,
    /// Their payload bytes.
    pub bytes: u64,
    /// Latency percentiles, in microseconds.
    pub p50_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// The largest latency.
    pub max_us: f64,
    /// The offered rate of an open loop (echoes per second, all connections), `None` for a
    /// closed loop.
    pub offered_per_s: Option<f64>,
    /// The server's CPU time in the window (all threads), in seconds.
    pub server_cpu_s: f64,
    /// Its user part, from `/proc/<pid>/stat` (10 ms ticks).
    pub server_user_s: f64,
    /// Its system part, from `/proc/<pid>/stat` (10 ms ticks).
    pub server_sys_s: f64,
    /// The generator threads' CPU time in the window, summed, in seconds.
    pub gen_cpu_s: f64,
    /// The busiest generator thread's share of the window (1.0 = one CPU, saturated).
    pub gen_busy: f64,
    /// Echoes verified in all (warm-up included).
    pub verified: u64,
    /// The server's context switches in the window (each a sleep and a wake-up, mostly).
    pub server_csw: u64,
    /// TCP segments the host sent in the window (both sides, pure ACKs included).
    pub tcp_segs: u64,
    /// Busy time of the benchmark's CPUs (server's and generator's) in the window that was
    /// not the server's nor the generator's, as a fraction of those CPUs' time: other
    /// processes or the hypervisor. Tick resolution, so only a few percent are noise.
    pub foreign: f64,
    /// The server's own counters (`key=value ...` per core).
    pub server_metrics: String,
}

impl RunRecord {
    /// Echoes per second.
    pub fn echoes_per_s(&self) -> f64 {
        self.echoes as f64 / self.duration_s
    }

    /// Payload MB (10^6 bytes) echoed per second.
    pub fn mb_per_s(&self) -> f64 {
        self.bytes as f64 / self.duration_s / 1e6
    }

    /// Echoes per second of server CPU time.
    pub fn echoes_per_cpu_s(&self) -> f64 {
        if self.server_cpu_s > 0.0 {
            self.echoes as f64 / self.server_cpu_s
        } else {
            0.0
        }
    }
}

/// The confidence level of the intervals: 0.9, the 5th to the 95th percentile.
pub const LEVEL: f64 = 0.9;

/// A ratio between two servers in one cell: the median of the per-run ratios, each run of
/// one server paired with the same round's run of the other (a round runs every server back
/// to back, so drift over the matrix hits both), and its confidence interval when there are
/// enough runs ([`ratio_interval`]: it spans the paired and the unpaired interval, so a
/// verdict needs both to clear the band).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ratio {
    /// The median of the paired ratios.
    pub mid: f64,
    /// Its confidence interval ([`LEVEL`], [`ratio_interval`]); `None` with fewer than five
    /// pairs.
    pub interval: Option<Interval>,
}

impl Ratio {
    /// Better or worse when the interval clears 1.0 ± `LEVEL_BAND`, level when it does not;
    /// `None` without an interval.
    pub fn verdict(&self) -> Option<Verdict> {
        self.interval.map(|i| i.verdict())
    }

    /// `1.02x [0.98-1.05]`, or `1.02x` without an interval.
    pub fn show(&self) -> String {
        match self.interval {
            Some(i) => format!("{:.2}x [{:.2}-{:.2}]", self.mid, i.lo, i.hi),
            None => format!("{:.2}x", self.mid),
        }
    }

    /// [`Ratio::show`] and the verdict: `1.02x [0.98-1.05] level`.
    pub fn judged(&self) -> String {
        match self.verdict() {
            Some(v) => format!("{} {}", self.show(), v.name()),
            None => format!("{} (too few runs to judge)", self.show()),
        }
    }
}

/// Echoes per server CPU-second of `a` over `b`'s in `cell`, paired by run number.
pub fn ratio(records: &[RunRecord], cell: Cell, a: ServerKind, b: ServerKind) -> Option<Ratio> {
    let of = |k: ServerKind| -> BTreeMap<usize, f64> {
        records
            .iter()
            .filter(|r| r.cell == cell && r.server == k && r.echoes_per_cpu_s() > 0.0)
            .map(|r| (r.run, r.echoes_per_cpu_s()))
            .collect()
    };
    let (a, b) = (of(a), of(b));
    let pairs: Vec<f64> = a
        .iter()
        .filter_map(|(run, x)| b.get(run).map(|y| x / y))
        .collect();
    if pairs.is_empty() {
        return None;
    }
    let (a, b): (Vec<f64>, Vec<f64>) = (a.into_values().collect(), b.into_values().collect());
    Some(Ratio {
        mid: median(&pairs),
        interval: ratio_interval(&pairs, &a, &b, LEVEL),
    })
}

/// Medians over the runs of one server in one cell, and its ratios to the better epoll.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The cell.
    pub cell: Cell,
    /// The server.
    pub server: ServerKind,
    /// Runs.
    pub runs: usize,
    /// The offered rate of an open loop, echoes per second.
    pub offered_per_s: Option<f64>,
    /// Echoes per second.
    pub echoes_per_s: f64,
    /// MB per second.
    pub mb_per_s: f64,
    /// Latency percentiles, in microseconds.
    pub p50_us: f64,
    /// 99th.
    pub p99_us: f64,
    /// 99.9th.
    pub p999_us: f64,
    /// The largest latency (the median of the runs' largest).
    pub max_us: f64,
    /// Server CPU seconds in the window.
    pub server_cpu_s: f64,
    /// Echoes per server CPU-second (the median of the runs' values).
    pub eff: f64,
    /// (max - min) / median of the runs' echoes per server CPU-second.
    pub eff_spread: f64,
    /// Server CPU microseconds per echo (1e6 / `eff`).
    pub us_per_echo: f64,
    /// The busiest generator thread's share of the window, as a percentage.
    pub gen_pct: f64,
    /// Median share of the benchmark's CPUs taken by others, as a percentage.
    pub foreign_pct: f64,
    /// Median server context switches per echo.
    pub csw_per_echo: f64,
    /// Median TCP segments per echo (2 when every ACK rides on data).
    pub segs_per_echo: f64,
    /// Echoes per server CPU-second against the better epoll of this cell.
    pub vs_epoll: Option<Ratio>,
    /// Echoes per second over the better epoll's (by throughput) in this cell, medians.
    pub ratio_thr: Option<f64>,
    /// Which epoll flavour had the better median echoes per server CPU-second here.
    pub best_epoll: Option<ServerKind>,
}

impl Summary {
    /// Whether the server kept up with an open loop's offered rate (within 3%); true for a
    /// closed loop.
    pub fn kept_up(&self) -> bool {
        self.offered_per_s
            .is_none_or(|o| self.echoes_per_s >= 0.97 * o)
    }
}

/// Summarizes `records` per (cell, server), cells in matrix order.
pub fn summarize(records: &[RunRecord]) -> Vec<Summary> {
    let mut groups: BTreeMap<(Cell, ServerKind), Vec<&RunRecord>> = BTreeMap::new();
    for r in records {
        groups.entry((r.cell, r.server)).or_default().push(r);
    }
    let mut out: Vec<Summary> = groups
        .into_iter()
        .map(|((cell, server), rs)| {
            let m = |f: &dyn Fn(&RunRecord) -> f64| {
                median(&rs.iter().map(|r| f(r)).collect::<Vec<_>>())
            };
            let effs: Vec<f64> = rs.iter().map(|r| r.echoes_per_cpu_s()).collect();
            let eff = median(&effs);
            Summary {
                cell,
                server,
                runs: rs.len(),
                offered_per_s: rs.first().and_then(|r| r.offered_per_s),
                echoes_per_s: m(&|r| r.echoes_per_s()),
                mb_per_s: m(&|r| r.mb_per_s()),
                p50_us: m(&|r| r.p50_us),
                p99_us: m(&|r| r.p99_us),
                p999_us: m(&|r| r.p999_us),
                max_us: m(&|r| r.max_us),
                server_cpu_s: m(&|r| r.server_cpu_s),
                eff,
                eff_spread: spread(&effs),
                us_per_echo: if eff > 0.0 { 1e6 / eff } else { 0.0 },
                gen_pct: m(&|r| r.gen_busy * 100.0),
                foreign_pct: m(&|r| r.foreign * 100.0),
                csw_per_echo: m(&|r| r.server_csw as f64 / r.echoes.max(1) as f64),
                segs_per_echo: m(&|r| r.tcp_segs as f64 / r.echoes.max(1) as f64),
                vs_epoll: None,
                ratio_thr: None,
                best_epoll: None,
            }
        })
        .collect();
    // Cells in the order they ran, servers in their order.
    let first_run = |c: Cell| records.iter().position(|r| r.cell == c);
    out.sort_by_key(|s| (first_run(s.cell), s.server));
    for cell in cells_of(&out) {
        let epolls: Vec<&Summary> = out
            .iter()
            .filter(|s| s.cell == cell && s.server.is_epoll_baseline())
            .collect();
        let best = epolls
            .iter()
            .filter(|s| s.eff > 0.0)
            .max_by(|a, b| a.eff.total_cmp(&b.eff))
            .map(|s| s.server);
        let best_thr = epolls.iter().map(|s| s.echoes_per_s).fold(0.0, f64::max);
        for s in out.iter_mut().filter(|s| s.cell == cell) {
            if let Some(kind) = best {
                s.vs_epoll = ratio(records, cell, s.server, kind);
                s.best_epoll = Some(kind);
            }
            if best_thr > 0.0 {
                s.ratio_thr = Some(s.echoes_per_s / best_thr);
            }
        }
    }
    out
}

/// The cells of `summaries`, in their order.
fn cells_of(summaries: &[Summary]) -> Vec<Cell> {
    let mut cells: Vec<Cell> = summaries.iter().map(|s| s.cell).collect();
    cells.dedup();
    cells
}

/// The servers of `summaries`, in their (alternation) order.
fn servers_of(summaries: &[Summary]) -> Vec<ServerKind> {
    let mut v: Vec<ServerKind> = summaries.iter().map(|s| s.server).collect();
    v.sort();
    v.dedup();
    v
}

/// The best rate an epoll server sustained in `cell` (the median echoes per second of the
/// better one): what a percentage rate refers to.
pub fn best_epoll_rate(records: &[RunRecord], cell: Cell) -> Option<(ServerKind, f64)> {
    summarize(
        &records
            .iter()
            .filter(|r| r.cell == cell && r.server.is_epoll_baseline())
            .cloned()
            .collect::<Vec<_>>(),
    )
    .into_iter()
    .map(|s| (s.server, s.echoes_per_s))
    .max_by(|a, b| a.1.total_cmp(&b.1))
}

fn fmt_count(v: f64) -> String {
    let v = v.round() as u64;
    let s = v.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// Busiest generator thread above this share of its CPU: the generator, not the server, may
/// bound the numbers.
pub const GEN_SATURATED_PCT: f64 = 90.0;

/// Other processes above this share of the benchmark's CPUs: the numbers are disturbed.
pub const NOISY_PCT: f64 = 5.0;

/// The table for one cell's summaries.
pub fn cell_table(rows: &[&Summary]) -> String {
    let mut t = String::new();
    let Some(first) = rows.first() else {
        return t;
    };
    let best = first.best_epoll.map_or("none", |k| k.name());
    let offered = first
        .offered_per_s
        .map_or(String::new(), |o| format!("; offered {}/s", fmt_count(o)));
    let _ = writeln!(
        t,
        "== {}  ({} runs{offered}; better epoll: {best}) ==",
        first.cell, first.runs
    );
    let _ = writeln!(
        t,
        "{:<16} {:>10} {:>7} {:>8} {:>8} {:>8} {:>8} {:>8} {:>11} {:>6} {:>8} {:>8} {:>5} {:>6}  echo/CPU-s vs better epoll",
        "server",
        "echoes/s",
        "MB/s",
        "p50 us",
        "p99 us",
        "p99.9 us",
        "max us",
        "CPU us/e",
        "echo/CPU-s",
        "spread",
        "csw/echo",
        "seg/echo",
        "gen%",
        "noise%",
    );
    for s in rows {
        let sat = if s.gen_pct > GEN_SATURATED_PCT {
            "!"
        } else {
            ""
        };
        let noisy = if s.foreign_pct > NOISY_PCT { "!" } else { "" };
        let vs = if Some(s.server) == s.best_epoll {
            "1 (the baseline)".to_string()
        } else {
            s.vs_epoll.map_or("-".to_string(), |r| r.show())
        };
        let behind = if s.kept_up() { "" } else { "  (fell behind)" };
        let _ = writeln!(
            t,
            "{:<16} {:>10} {:>7.1} {:>8.1} {:>8.1} {:>8.1} {:>8.0} {:>8.2} {:>11} {:>5.1}% {:>8.3} {:>8.2} {:>4.0}{sat:<1} {:>5.0}{noisy:<1}  {vs}{behind}",
            s.server.name(),
            fmt_count(s.echoes_per_s),
            s.mb_per_s,
            s.p50_us,
            s.p99_us,
            s.p999_us,
            s.max_us,
            s.us_per_echo,
            fmt_count(s.eff),
            s.eff_spread * 100.0,
            s.csw_per_echo,
            s.segs_per_echo,
            s.gen_pct,
            s.foreign_pct,
        );
    }
    t
}

/// Which pairs the intervals span, in words: "with 24 rounds, the 8th to the 17th pair"
/// (the most rounds any cell ran).
fn ranks_in_words(records: &[RunRecord]) -> String {
    let rounds = records.iter().map(|r| r.run + 1).max().unwrap_or(0);
    match interval_rank(rounds, LEVEL) {
        Some(1) => format!("with {rounds} rounds, the range of the pairs"),
        Some(k) => format!(
            "with {rounds} rounds, the {} to the {} pair",
            ordinal(k),
            ordinal(rounds + 1 - k)
        ),
        None => format!("with {rounds} rounds, too few for one"),
    }
}

/// 1st, 2nd, 3rd, 4th, ..., 11th, 12th, 13th, 21st, ...
fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// The closing report: every server's ratio to the better epoll per cell, the verdicts for
/// this runtime's servers, the fixed-rate latencies, and how to read them.
pub fn render(summaries: &[Summary], records: &[RunRecord]) -> String {
    let mut t = String::new();
    let cells = cells_of(summaries);
    let servers = servers_of(summaries);
    let cw = cells
        .iter()
        .map(|c| c.to_string().len())
        .max()
        .unwrap_or(4)
        .max(4);
    let _ = writeln!(
        t,
        "Echoes per server CPU-second, as a ratio to the better epoll server of each cell \
         (median of the runs paired by round [{:.0}% interval]):",
        LEVEL * 100.0
    );
    let _ = write!(t, "{:<cw$}  {:>19}", "cell", "better epoll");
    for s in &servers {
        let _ = write!(t, "  {:>18}", s.name());
    }
    t.push('\n');
    let mut saturated = 0;
    let mut noisy = 0;
    for cell in &cells {
        let rows: Vec<&Summary> = summaries.iter().filter(|s| s.cell == *cell).collect();
        let best = rows
            .iter()
            .find(|s| Some(s.server) == s.best_epoll)
            .map_or("-".to_string(), |s| {
                format!("{} ({})", fmt_count(s.eff), s.server.name())
            });
        let _ = write!(t, "{:<cw$}  {:>19}", cell.to_string(), best);
        for k in &servers {
            let shown = match rows.iter().find(|s| s.server == *k) {
                Some(s) if Some(s.server) == s.best_epoll => "1".to_string(),
                Some(s) => s.vs_epoll.map_or("-".to_string(), |r| r.show()),
                None => "-".to_string(),
            };
            let _ = write!(t, "  {shown:>18}");
        }
        if rows.iter().any(|s| s.gen_pct > GEN_SATURATED_PCT) {
            saturated += 1;
            t.push_str("  (client saturated)");
        }
        if rows.iter().any(|s| s.foreign_pct > NOISY_PCT) {
            noisy += 1;
            t.push_str("  (noisy)");
        }
        t.push('\n');
    }
    t.push('\n');
    t.push_str(&verdicts(summaries, records));
    t.push_str(&fixed_rate_table(summaries));
    let _ = writeln!(
        t,
        "How to read: a ratio above 1 means more echoes per CPU-second of the server (less CPU \
         per echo). Each run of a server is paired with the same round's run of the other \
         (the servers of a round run back to back); the interval spans two distribution-free \
         {:.0}% confidence intervals: one for the median of those pairs (order statistics by \
         the sign test: {}), and one for the ratio of the two servers' runs taken unpaired \
         (Mann-Whitney), which holds even where the machine changed speed within a round. \
         `better` or `worse` only when the interval clears 1.0 by more than {:.0}%; `level` \
         otherwise: the runs cannot tell the servers apart. Fixed-rate latency counts from \
         each message's intended send time.",
        LEVEL * 100.0,
        ranks_in_words(records),
        LEVEL_BAND * 100.0
    );
    if noisy > 0 {
        let _ = writeln!(
            t,
            "WARNING: other processes took more than {NOISY_PCT:.0}% of the benchmark's CPUs in \
             {noisy} cell(s) (`noise%`): rerun on a quiet machine."
        );
    }
    if saturated > 0 {
        let _ = writeln!(
            t,
            "Note: the load generator saturated its CPU in {saturated} cell(s): there it bounds \
             echoes/s; echoes per server CPU-second still measures the server."
        );
    }
    t
}

/// What the verdict tables compare this runtime's servers with, in order.
const COMPARED: [(&str, Option<ServerKind>); 3] = [
    ("vs better epoll", None),
    ("vs tokio", Some(ServerKind::Tokio)),
    ("vs c-liburing", Some(ServerKind::CLiburing)),
];

/// For each of this runtime's servers, per cell: its ratio and verdict against the better
/// epoll, tokio and the C reference (those that ran).
pub fn verdicts(summaries: &[Summary], records: &[RunRecord]) -> String {
    let mut t = String::new();
    let cells = cells_of(summaries);
    let servers = servers_of(summaries);
    let cw = cells
        .iter()
        .map(|c| c.to_string().len())
        .max()
        .unwrap_or(4)
        .max(4);
    let compared: Vec<_> = COMPARED
        .iter()
        .filter(|(_, k)| k.is_none_or(|k| servers.contains(&k)))
        .collect();
    for ours in servers.iter().filter(|k| k.is_ours()) {
        let _ = writeln!(
            t,
            "Verdicts for `{ours}` (echoes per server CPU-second; better/worse only when the {:.0}% \
             interval clears 1.0 by more than {:.0}%):",
            LEVEL * 100.0,
            LEVEL_BAND * 100.0
        );
        let _ = write!(t, "{:<cw$}", "cell");
        for (name, _) in &compared {
            let _ = write!(t, "  {name:<30}");
        }
        t.push('\n');
        for cell in &cells {
            let _ = write!(t, "{:<cw$}", cell.to_string());
            for (_, other) in &compared {
                let r = match other {
                    None => summaries
                        .iter()
                        .find(|s| s.cell == *cell && s.server == *ours)
                        .and_then(|s| s.vs_epoll),
                    Some(k) => ratio(records, *cell, *ours, *k),
                };
                let _ = write!(t, "  {:<30}", r.map_or("-".to_string(), |r| r.judged()));
            }
            t.push('\n');
        }
        t.push('\n');
    }
    t
}

/// The open-loop cells: per server, offered and achieved rates, latency from the intended
/// send times, and server CPU per echo.
pub fn fixed_rate_table(summaries: &[Summary]) -> String {
    let mut t = String::new();
    let rows: Vec<&Summary> = summaries
        .iter()
        .filter(|s| s.offered_per_s.is_some())
        .collect();
    if rows.is_empty() {
        return t;
    }
    let _ = writeln!(
        t,
        "Fixed rate (open loop; latency from each message's intended send time; medians of the \
         runs):"
    );
    let _ = writeln!(
        t,
        "{:<46} {:<16} {:>10} {:>10} {:>8} {:>8} {:>9} {:>8} {:>11}",
        "cell",
        "server",
        "offered/s",
        "achieved/s",
        "p50 us",
        "p99 us",
        "p99.9 us",
        "max us",
        "CPU us/echo"
    );
    for s in rows {
        let _ = writeln!(
            t,
            "{:<46} {:<16} {:>10} {:>10} {:>8.1} {:>8.1} {:>9.1} {:>8.0} {:>11.2}{}",
            s.cell.to_string(),
            s.server.name(),
            fmt_count(s.offered_per_s.unwrap_or(0.0)),
            fmt_count(s.echoes_per_s),
            s.p50_us,
            s.p99_us,
            s.p999_us,
            s.max_us,
            s.us_per_echo,
            if s.kept_up() { "" } else { "  (fell behind)" }
        );
    }
    t.push('\n');
    t
}

fn mode_cols(m: Mode) -> (String, u32) {
    (m.label(), m.depth())
}

/// Writes one CSV line per run.
///
/// # Errors
/// The file's.
pub fn write_runs_csv(path: &Path, records: &[RunRecord]) -> io::Result<()> {
    let mut s = String::from(
        "engine,conns,size,mode,depth,offered_per_s,server,run,duration_s,echoes,bytes,echoes_per_s,mb_per_s,\
         p50_us,p99_us,p999_us,max_us,server_cpu_s,server_user_s,server_sys_s,echoes_per_server_cpu_s,\
         server_us_per_echo,gen_cpu_s,gen_busiest_thread_pct,foreign_cpu_pct,server_context_switches,tcp_segments,verified_echoes,server_metrics\n",
    );
    for r in records {
        let (mode, depth) = mode_cols(r.cell.mode);
        let eff = r.echoes_per_cpu_s();
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{},{},{:.4},{},{},{:.1},{:.3},{:.2},{:.2},{:.2},{:.2},{:.5},{:.3},{:.3},{:.1},{:.4},{:.5},{:.1},{:.1},{},{},{},\"{}\"",
            r.cell.engine.name(),
            r.cell.conns,
            r.cell.size,
            mode,
            depth,
            r.offered_per_s.map_or(String::new(), |o| format!("{o:.0}")),
            r.server.name(),
            r.run,
            r.duration_s,
            r.echoes,
            r.bytes,
            r.echoes_per_s(),
            r.mb_per_s(),
            r.p50_us,
            r.p99_us,
            r.p999_us,
            r.max_us,
            r.server_cpu_s,
            r.server_user_s,
            r.server_sys_s,
            eff,
            if eff > 0.0 { 1e6 / eff } else { 0.0 },
            r.gen_cpu_s,
            r.gen_busy * 100.0,
            r.foreign * 100.0,
            r.server_csw,
            r.tcp_segs,
            r.verified,
            r.server_metrics.replace('"', "'"),
        );
    }
    std::fs::write(path, s)
}

/// Writes one CSV line per (cell, server) with the medians and ratios.
///
/// # Errors
/// The file's.
pub fn write_summary_csv(path: &Path, summaries: &[Summary]) -> io::Result<()> {
    let mut s = String::from(
        "engine,conns,size,mode,depth,offered_per_s,server,runs,echoes_per_s,mb_per_s,p50_us,p99_us,p999_us,max_us,\
         server_cpu_s,echoes_per_server_cpu_s,eff_spread_pct,server_us_per_echo,gen_busiest_thread_pct,\
         foreign_cpu_pct,server_csw_per_echo,tcp_segs_per_echo,eff_ratio_vs_better_epoll,eff_ratio_lo,eff_ratio_hi,\
         verdict_vs_better_epoll,thr_ratio_vs_better_epoll,better_epoll\n",
    );
    for x in summaries {
        let (mode, depth) = mode_cols(x.cell.mode);
        let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.4}"));
        let iv = x.vs_epoll.and_then(|r| r.interval);
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{},{},{:.1},{:.3},{:.2},{:.2},{:.2},{:.2},{:.5},{:.1},{:.2},{:.4},{:.1},{:.1},{:.4},{:.3},{},{},{},{},{},{}",
            x.cell.engine.name(),
            x.cell.conns,
            x.cell.size,
            mode,
            depth,
            x.offered_per_s.map_or(String::new(), |o| format!("{o:.0}")),
            x.server.name(),
            x.runs,
            x.echoes_per_s,
            x.mb_per_s,
            x.p50_us,
            x.p99_us,
            x.p999_us,
            x.max_us,
            x.server_cpu_s,
            x.eff,
            x.eff_spread * 100.0,
            x.us_per_echo,
            x.gen_pct,
            x.foreign_pct,
            x.csw_per_echo,
            x.segs_per_echo,
            opt(x.vs_epoll.map(|r| r.mid)),
            opt(iv.map(|i| i.lo)),
            opt(iv.map(|i| i.hi)),
            x.vs_epoll
                .and_then(|r| r.verdict())
                .map_or("", |v| v.name()),
            opt(x.ratio_thr),
            x.best_epoll.map_or("", |k| k.name()),
        );
    }
    std::fs::write(path, s)
}

fn color(k: ServerKind) -> &'static str {
    match k {
        ServerKind::EpollLt => "#9a9a9a",
        ServerKind::EpollEt => "#404040",
        ServerKind::Runtime => "#d62728",
        ServerKind::RuntimeRw => "#ff7f0e",
        ServerKind::RuntimeFallback => "#9467bd",
        ServerKind::Tokio => "#1f77b4",
        ServerKind::CLiburing => "#2ca02c",
        ServerKind::Faulty => "#bcbd22",
    }
}

/// Escapes `&`, `<` and `>` for SVG text.
fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// An SVG plot: a row per cell, one mark per server at its ratio to the better epoll of the
/// cell (echoes per server CPU-second), with a bar over its interval, and a line at 1.0.
pub fn svg(summaries: &[Summary]) -> String {
    let cells = cells_of(summaries);
    let servers = servers_of(summaries);
    let (label_w, plot_w, right) = (330.0, 520.0, 20.0);
    let (top, legend_h, bottom) = (40.0, 26.0, 50.0);
    let step = 13.0;
    let band = step * servers.len().max(1) as f64 + 12.0;
    let width = label_w + plot_w + right;
    let height = top + legend_h + band * cells.len() as f64 + bottom;
    // The x range: every interval, and 1.0, with a margin; ticks every 0.05 or 0.1.
    let mut lo: f64 = 1.0;
    let mut hi: f64 = 1.0;
    for s in summaries {
        if let Some(r) = s.vs_epoll {
            let (a, b) = r.interval.map_or((r.mid, r.mid), |i| (i.lo, i.hi));
            lo = lo.min(a).min(r.mid);
            hi = hi.max(b).max(r.mid);
        }
    }
    let tick = if hi - lo > 0.6 { 0.1 } else { 0.05 };
    let lo = ((lo - tick / 2.0) / tick).floor() * tick;
    let hi = ((hi + tick / 2.0) / tick).ceil() * tick;
    let x0 = label_w;
    let x = |v: f64| x0 + (v - lo) / (hi - lo) * plot_w;
    let y_plot = top + legend_h;
    let y_end = y_plot + band * cells.len() as f64;
    let mut o = String::new();
    let _ = writeln!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(o, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        o,
        r#"<text x="10" y="20" font-size="14" font-weight="bold">Echoes per server CPU-second, ratio to the better epoll server of each cell</text>"#
    );
    let _ = writeln!(
        o,
        r##"<text x="10" y="35" fill="#555">dot: median of the runs paired by round; bar: {:.0}% interval of that median; right of 1.0 is better</text>"##,
        LEVEL * 100.0
    );
    for (i, k) in servers.iter().enumerate() {
        let lx = 10.0 + i as f64 * 135.0;
        let ly = top + 14.0;
        let _ = writeln!(
            o,
            r#"<circle cx="{lx}" cy="{}" r="4" fill="{}"/><text x="{}" y="{}">{}</text>"#,
            ly - 4.0,
            color(*k),
            lx + 8.0,
            ly,
            k.name()
        );
    }
    // Grid and axis.
    let mut v = lo;
    while v <= hi + 1e-9 {
        let gx = x(v);
        let one = (v - 1.0).abs() < 1e-9;
        let _ = writeln!(
            o,
            r##"<line x1="{gx:.1}" y1="{y_plot}" x2="{gx:.1}" y2="{y_end}" stroke="{}" stroke-width="{}"/><text x="{gx:.1}" y="{}" text-anchor="middle">{v:.2}</text>"##,
            if one { "#000" } else { "#e4e4e4" },
            if one { 1.5 } else { 1.0 },
            y_end + 16.0
        );
        v += tick;
    }
    let _ = writeln!(
        o,
        r#"<text x="{}" y="{}" text-anchor="middle">ratio to the better epoll (echoes per server CPU-second)</text>"#,
        x0 + plot_w / 2.0,
        y_end + 36.0
    );
    for (ci, cell) in cells.iter().enumerate() {
        let by = y_plot + band * ci as f64;
        if ci % 2 == 1 {
            let _ = writeln!(
                o,
                r##"<rect x="0" y="{by}" width="{width}" height="{band}" fill="#f6f6f6" fill-opacity="0.6"/>"##
            );
        }
        let _ = writeln!(
            o,
            r#"<text x="10" y="{}">{}</text>"#,
            by + band / 2.0 + 4.0,
            xml(&cell.to_string())
        );
        for (si, k) in servers.iter().enumerate() {
            let Some(s) = summaries.iter().find(|s| s.cell == *cell && s.server == *k) else {
                continue;
            };
            let Some(r) = s.vs_epoll else { continue };
            let cy = by + 6.0 + step * (si as f64 + 0.5);
            if let Some(i) = r.interval {
                let _ = writeln!(
                    o,
                    r#"<line x1="{:.1}" y1="{cy:.1}" x2="{:.1}" y2="{cy:.1}" stroke="{}" stroke-width="2.5"/>"#,
                    x(i.lo),
                    x(i.hi),
                    color(*k)
                );
            }
            let _ = writeln!(
                o,
                r#"<circle cx="{:.1}" cy="{cy:.1}" r="4" fill="{}"><title>{}: {}</title></circle>"#,
                x(r.mid),
                color(*k),
                k.name(),
                xml(&r.show())
            );
        }
    }
    o.push_str("</svg>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(server: ServerKind, echoes: u64, cpu: f64) -> RunRecord {
        RunRecord {
            cell: Cell {
                engine: Engine::Uring,
                conns: 50,
                size: 64,
                mode: Mode::PingPong,
            },
            server,
            run: 0,
            duration_s: 1.0,
            echoes,
            bytes: echoes * 64,
            p50_us: 1.0,
            p99_us: 2.0,
            p999_us: 3.0,
            max_us: 4.0,
            offered_per_s: None,
            server_cpu_s: cpu,
            server_user_s: 0.0,
            server_sys_s: cpu,
            gen_cpu_s: 0.5,
            gen_busy: 0.5,
            verified: echoes,
            foreign: 0.0,
            server_csw: 0,
            tcp_segs: 0,
            server_metrics: String::new(),
        }
    }

    #[test]
    fn ratios_are_against_the_better_epoll_paired_by_round() {
        let mut recs = Vec::new();
        for run in 0..5 {
            // Round `run` is slower for everyone (drift): pairing by round cancels it, the
            // unpaired interval does not.
            let slow = 1.0 + run as f64 * 0.1;
            for (k, echoes, cpu) in [
                (ServerKind::EpollLt, 100, 1.0),
                (ServerKind::EpollEt, 100, 0.5),
                (ServerKind::Runtime, 150, 0.5),
                (ServerKind::Tokio, 100 + run as u64, 0.5),
            ] {
                recs.push(RunRecord {
                    run,
                    ..rec(k, echoes, cpu * slow)
                });
            }
        }
        let s = summarize(&recs);
        let ours = s.iter().find(|x| x.server == ServerKind::Runtime).unwrap();
        assert_eq!(ours.best_epoll, Some(ServerKind::EpollEt));
        let r = ours.vs_epoll.unwrap();
        assert!((r.mid - 1.5).abs() < 1e-9, "{r:?}");
        let i = r.interval.unwrap();
        // The paired ratios are all 1.5; the unpaired ones are 1.5 x (drift of one round
        // over another's): the 5th of 25 ratios from either end, with five runs each.
        let (lo, hi) = (1.5 * 1.1 / 1.3, 1.5 * 1.3 / 1.1);
        assert!(
            (i.lo - lo).abs() < 1e-9 && (i.hi - hi).abs() < 1e-9,
            "{i:?}"
        );
        assert_eq!(r.verdict(), Some(Verdict::Better));
        // tokio is within 4% of epoll-et, and the interval holds 1.0.
        let tokio = ratio(&recs, ours.cell, ServerKind::Tokio, ServerKind::EpollEt).unwrap();
        assert_eq!(tokio.verdict(), Some(Verdict::Level), "{tokio:?}");
        let report = render(&s, &recs);
        assert!(report.contains("1.50x [1.27-1.77] better"), "{report}");
        assert!(!report.contains("target"), "{report}");
        let plot = svg(&s);
        assert!(
            plot.starts_with("<svg") && plot.contains("runtime: 1.50x"),
            "{plot}"
        );
    }

    #[test]
    fn one_run_gives_a_ratio_but_no_verdict() {
        let recs = [
            rec(ServerKind::EpollLt, 100, 1.0),
            rec(ServerKind::Runtime, 90, 1.0),
        ];
        let s = summarize(&recs);
        let ours = s.iter().find(|x| x.server == ServerKind::Runtime).unwrap();
        let r = ours.vs_epoll.unwrap();
        assert!((r.mid - 0.9).abs() < 1e-9);
        assert_eq!(r.verdict(), None);
        assert!(render(&s, &recs).contains("too few runs"));
    }

    #[test]
    fn a_fixed_rate_cell_reports_whether_the_server_kept_up() {
        let fixed = |server, echoes| RunRecord {
            cell: Cell {
                mode: Mode::Fixed(super::super::run::Rate::OfEpoll(50)),
                ..rec(server, 0, 1.0).cell
            },
            offered_per_s: Some(100.0),
            ..rec(server, echoes, 1.0)
        };
        let recs = [
            fixed(ServerKind::EpollLt, 100),
            fixed(ServerKind::Runtime, 50),
        ];
        let s = summarize(&recs);
        let table = fixed_rate_table(&s);
        assert_eq!(table.matches("fell behind").count(), 1, "{table}");
        assert!(table.contains("at 50% of epoll's max"), "{table}");
    }
}
