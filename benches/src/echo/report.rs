//! Per-run records, their medians per cell and server, the ratios to the best epoll, and the
//! outputs: the table, CSV files and an SVG plot.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::path::Path;

use super::run::{Cell, Engine, Mode, ServerKind};
use super::stats::{median, spread};

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

/// Medians over the runs of one server in one cell, and its ratios to the best epoll.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The cell.
    pub cell: Cell,
    /// The server.
    pub server: ServerKind,
    /// Runs.
    pub runs: usize,
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
    /// `eff` over the best epoll's in this cell.
    pub ratio_eff: Option<f64>,
    /// Echoes per second over the best epoll's (by throughput) in this cell.
    pub ratio_thr: Option<f64>,
    /// Which epoll flavour had the best `eff` in this cell.
    pub best_epoll: Option<ServerKind>,
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
                echoes_per_s: m(&|r| r.echoes_per_s()),
                mb_per_s: m(&|r| r.mb_per_s()),
                p50_us: m(&|r| r.p50_us),
                p99_us: m(&|r| r.p99_us),
                p999_us: m(&|r| r.p999_us),
                server_cpu_s: m(&|r| r.server_cpu_s),
                eff,
                eff_spread: spread(&effs),
                us_per_echo: if eff > 0.0 { 1e6 / eff } else { 0.0 },
                gen_pct: m(&|r| r.gen_busy * 100.0),
                foreign_pct: m(&|r| r.foreign * 100.0),
                csw_per_echo: m(&|r| r.server_csw as f64 / r.echoes.max(1) as f64),
                segs_per_echo: m(&|r| r.tcp_segs as f64 / r.echoes.max(1) as f64),
                ratio_eff: None,
                ratio_thr: None,
                best_epoll: None,
            }
        })
        .collect();
    let cells: Vec<Cell> = {
        let mut c: Vec<Cell> = out.iter().map(|s| s.cell).collect();
        c.dedup();
        c
    };
    for cell in cells {
        let epolls: Vec<&Summary> = out
            .iter()
            .filter(|s| s.cell == cell && s.server.is_epoll_baseline())
            .collect();
        let best_eff = epolls
            .iter()
            .max_by(|a, b| a.eff.total_cmp(&b.eff))
            .map(|s| (s.server, s.eff));
        let best_thr = epolls
            .iter()
            .map(|s| s.echoes_per_s)
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
        for s in out.iter_mut().filter(|s| s.cell == cell) {
            if let Some((kind, eff)) = best_eff
                && eff > 0.0
            {
                s.ratio_eff = Some(s.eff / eff);
                s.best_epoll = Some(kind);
            }
            if let Some(thr) = best_thr
                && thr > 0.0
            {
                s.ratio_thr = Some(s.echoes_per_s / thr);
            }
        }
    }
    out
}

/// The target for the `runtime` server's echoes per server CPU-second over the best epoll,
/// in the cells that have one; the bench reports against it (the `target` and `met` columns)
/// and asserts nothing.
pub fn target(cell: &Cell) -> Option<f64> {
    if cell.mode != Mode::PingPong {
        return None;
    }
    match (cell.engine, cell.conns, cell.size) {
        (_, 1, _) => Some(0.95),
        (Engine::Uring, 500, 64 | 512) => Some(1.15),
        (Engine::Uring, 50, _) => Some(1.05),
        (Engine::Epoll, 50 | 500, _) => Some(1.0),
        _ => None,
    }
}

fn fmt_count(v: f64) -> String {
    let v = v.round() as u64;
    let s = v.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn fmt_ratio(r: Option<f64>) -> String {
    r.map_or("-".to_string(), |r| format!("{r:.2}x"))
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
    let best = first
        .best_epoll
        .map_or("none".to_string(), |k| k.name().to_string());
    let _ = writeln!(
        t,
        "== {}  ({} runs; best epoll by echoes/CPU-s: {best}) ==",
        first.cell, first.runs
    );
    let _ = writeln!(
        t,
        "{:<11} {:>11} {:>8} {:>8} {:>8} {:>8} {:>8} {:>12} {:>7} {:>8} {:>8} {:>8} {:>6} {:>6} {:>9} {:>9}",
        "server",
        "echoes/s",
        "MB/s",
        "p50 us",
        "p99 us",
        "p99.9 us",
        "srv CPU",
        "echo/CPU-s",
        "spread",
        "us/echo",
        "csw/echo",
        "seg/echo",
        "gen%",
        "noise%",
        "eff/epoll",
        "thr/epoll"
    );
    for s in rows {
        let sat = if s.gen_pct > GEN_SATURATED_PCT {
            "!"
        } else {
            ""
        };
        let noisy = if s.foreign_pct > NOISY_PCT { "!" } else { "" };
        let _ = writeln!(
            t,
            "{:<11} {:>11} {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>7.3}s {:>12} {:>6.1}% {:>8.2} {:>8.3} {:>8.2} {:>5.0}{sat:<1} {:>5.0}{noisy:<1} {:>9} {:>9}",
            s.server.name(),
            fmt_count(s.echoes_per_s),
            s.mb_per_s,
            s.p50_us,
            s.p99_us,
            s.p999_us,
            s.server_cpu_s,
            fmt_count(s.eff),
            s.eff_spread * 100.0,
            s.us_per_echo,
            s.csw_per_echo,
            s.segs_per_echo,
            s.gen_pct,
            s.foreign_pct,
            fmt_ratio(s.ratio_eff),
            fmt_ratio(s.ratio_thr),
        );
    }
    t
}

/// The full report: every cell's table, then the ratio matrix with the targets.
pub fn render(summaries: &[Summary]) -> String {
    let mut t = String::new();
    let mut cells: Vec<Cell> = summaries.iter().map(|s| s.cell).collect();
    cells.dedup();
    for cell in &cells {
        let rows: Vec<&Summary> = summaries.iter().filter(|s| s.cell == *cell).collect();
        t.push_str(&cell_table(&rows));
        t.push('\n');
    }
    let servers: Vec<ServerKind> = {
        let mut v: Vec<ServerKind> = summaries.iter().map(|s| s.server).collect();
        v.sort();
        v.dedup();
        v
    };
    let _ = writeln!(
        t,
        "Echoes per server CPU-second, as a ratio to the better epoll of each cell (which one \
         in brackets); target for `runtime` (issue 6) where there is one:"
    );
    let _ = write!(t, "{:<34} {:>16}", "cell", "best epoll");
    for s in &servers {
        let _ = write!(t, " {:>10}", s.name());
    }
    let _ = writeln!(t, " {:>8} {:>6}", "target", "met");
    let mut saturated = 0;
    let mut noisy = 0;
    for cell in &cells {
        let rows: Vec<&Summary> = summaries.iter().filter(|s| s.cell == *cell).collect();
        let best =
            rows.iter()
                .find(|s| Some(s.server) == s.best_epoll)
                .map_or("-".to_string(), |s| {
                    format!(
                        "{} [{}]",
                        fmt_count(s.eff),
                        if s.server == ServerKind::EpollLt {
                            "lt"
                        } else {
                            "et"
                        }
                    )
                });
        let _ = write!(t, "{:<34} {:>16}", cell.to_string(), best);
        for k in &servers {
            let r = rows.iter().find(|s| s.server == *k);
            let _ = write!(
                t,
                " {:>10}",
                r.map_or("-".to_string(), |s| fmt_ratio(s.ratio_eff))
            );
        }
        let ours = rows.iter().find(|s| s.server == ServerKind::Runtime);
        let tokio = rows.iter().find(|s| s.server == ServerKind::Tokio);
        match (target(cell), ours.and_then(|s| s.ratio_eff)) {
            (Some(goal), Some(r)) => {
                let beats_tokio = match (ours, tokio) {
                    (Some(o), Some(k)) => o.eff >= k.eff,
                    _ => true,
                };
                let met = if r >= goal && beats_tokio {
                    "yes"
                } else {
                    "NO"
                };
                let _ = write!(t, " {:>7.2}x {met:>6}", goal);
            }
            _ => {
                let _ = write!(t, " {:>8} {:>6}", "-", "");
            }
        }
        if rows.iter().any(|s| s.gen_pct > GEN_SATURATED_PCT) {
            saturated += 1;
            t.push_str("  (generator saturated)");
        }
        if rows.iter().any(|s| s.foreign_pct > NOISY_PCT) {
            noisy += 1;
            t.push_str("  (noisy)");
        }
        t.push('\n');
    }
    let _ = writeln!(
        t,
        "\n`met` also needs runtime >= tokio in echoes per server CPU-second. `spread` is (max - \
         min) / median over the runs. `csw/echo`: the server's context switches (sleeps) per \
         echo; `seg/echo`: TCP segments sent per echo by both sides (2 when every ACK rides on \
         data). `gen%` is the busiest generator thread's CPU share; `!` \
         marks >{GEN_SATURATED_PCT:.0}%. `noise%` is the \
         share of the benchmark's CPUs that other processes took (from /proc/stat)."
    );
    if noisy > 0 {
        let _ = writeln!(
            t,
            "WARNING: other processes took more than {NOISY_PCT:.0}% of the benchmark's CPUs in {noisy} cell(s) (`noise%`, `!`): rerun those on a quiet machine."
        );
    }
    if saturated > 0 {
        let _ = writeln!(
            t,
            "WARNING: the generator was saturated in {saturated} cell(s): there the generator, not \
             the server, may bound echoes/s (echoes per server CPU-second stays meaningful)."
        );
    }
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
        "engine,conns,size,mode,depth,server,run,duration_s,echoes,bytes,echoes_per_s,mb_per_s,\
         p50_us,p99_us,p999_us,server_cpu_s,server_user_s,server_sys_s,echoes_per_server_cpu_s,\
         server_us_per_echo,gen_cpu_s,gen_busiest_thread_pct,foreign_cpu_pct,server_context_switches,tcp_segments,verified_echoes,server_metrics\n",
    );
    for r in records {
        let (mode, depth) = mode_cols(r.cell.mode);
        let eff = r.echoes_per_cpu_s();
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{},{:.4},{},{},{:.1},{:.3},{:.2},{:.2},{:.2},{:.5},{:.3},{:.3},{:.1},{:.4},{:.5},{:.1},{:.1},{},{},{},\"{}\"",
            r.cell.engine.name(),
            r.cell.conns,
            r.cell.size,
            mode,
            depth,
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
        "engine,conns,size,mode,depth,server,runs,echoes_per_s,mb_per_s,p50_us,p99_us,p999_us,\
         server_cpu_s,echoes_per_server_cpu_s,eff_spread_pct,server_us_per_echo,gen_busiest_thread_pct,\
         foreign_cpu_pct,server_csw_per_echo,tcp_segs_per_echo,eff_ratio_vs_best_epoll,thr_ratio_vs_best_epoll,best_epoll,target\n",
    );
    for x in summaries {
        let (mode, depth) = mode_cols(x.cell.mode);
        let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.4}"));
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{},{:.1},{:.3},{:.2},{:.2},{:.2},{:.5},{:.1},{:.2},{:.4},{:.1},{:.1},{:.4},{:.3},{},{},{},{}",
            x.cell.engine.name(),
            x.cell.conns,
            x.cell.size,
            mode,
            depth,
            x.server.name(),
            x.runs,
            x.echoes_per_s,
            x.mb_per_s,
            x.p50_us,
            x.p99_us,
            x.p999_us,
            x.server_cpu_s,
            x.eff,
            x.eff_spread * 100.0,
            x.us_per_echo,
            x.gen_pct,
            x.foreign_pct,
            x.csw_per_echo,
            x.segs_per_echo,
            opt(x.ratio_eff),
            opt(x.ratio_thr),
            x.best_epoll.map_or("", |k| k.name()),
            if x.server == ServerKind::Runtime {
                opt(target(&x.cell))
            } else {
                String::new()
            },
        );
    }
    std::fs::write(path, s)
}

fn color(k: ServerKind) -> &'static str {
    match k {
        ServerKind::EpollLt => "#7f7f7f",
        ServerKind::EpollEt => "#2f2f2f",
        ServerKind::Runtime => "#d62728",
        ServerKind::RuntimeRw => "#ff9896",
        ServerKind::Tokio => "#1f77b4",
        ServerKind::CLiburing => "#2ca02c",
        ServerKind::Faulty => "#bcbd22",
    }
}

/// An SVG plot: one panel per (engine, size, mode), echoes per server CPU-second by
/// connections (log scale), a line per server.
pub fn svg(summaries: &[Summary]) -> String {
    let mut panels: Vec<(Engine, u32, Mode)> = summaries
        .iter()
        .map(|s| (s.cell.engine, s.cell.size, s.cell.mode))
        .collect();
    panels.sort();
    panels.dedup();
    let mut servers: Vec<ServerKind> = summaries.iter().map(|s| s.server).collect();
    servers.sort();
    servers.dedup();
    let (pw, ph) = (460.0, 300.0);
    let (ml, mr, mt, mb) = (78.0, 16.0, 34.0, 44.0);
    let cols = 2usize;
    let rows = panels.len().div_ceil(cols).max(1);
    let legend_h = 30.0;
    let width = pw * cols as f64;
    let height = ph * rows as f64 + legend_h;
    let mut o = String::new();
    let _ = writeln!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(o, r#"<rect width="100%" height="100%" fill="white"/>"#);
    // Legend.
    for (i, k) in servers.iter().enumerate() {
        let x = 20.0 + i as f64 * 120.0;
        let _ = writeln!(
            o,
            r#"<line x1="{x}" y1="16" x2="{}" y2="16" stroke="{}" stroke-width="3"/><text x="{}" y="20">{}</text>"#,
            x + 24.0,
            color(*k),
            x + 30.0,
            k.name()
        );
    }
    for (pi, &(engine, size, mode)) in panels.iter().enumerate() {
        let ox = (pi % cols) as f64 * pw;
        let oy = legend_h + (pi / cols) as f64 * ph;
        let rows_here: Vec<&Summary> = summaries
            .iter()
            .filter(|s| s.cell.engine == engine && s.cell.size == size && s.cell.mode == mode)
            .collect();
        let mut xs: Vec<u32> = rows_here.iter().map(|s| s.cell.conns).collect();
        xs.sort();
        xs.dedup();
        let ymax = rows_here.iter().map(|s| s.eff).fold(0.0, f64::max).max(1.0) * 1.1;
        let (x0, x1) = (ox + ml, ox + pw - mr);
        let (y0, y1) = (oy + ph - mb, oy + mt);
        let lx = |c: u32| -> f64 {
            let (lo, hi) = (
                f64::from(*xs.first().unwrap_or(&1)).ln(),
                f64::from(*xs.last().unwrap_or(&1)).ln(),
            );
            if hi > lo {
                x0 + (f64::from(c).ln() - lo) / (hi - lo) * (x1 - x0)
            } else {
                (x0 + x1) / 2.0
            }
        };
        let ly = |v: f64| y0 - v / ymax * (y0 - y1);
        let _ = writeln!(
            o,
            r#"<text x="{}" y="{}" font-weight="bold">{} engine, {} B, {}</text>"#,
            x0,
            oy + 20.0,
            engine.name(),
            size,
            mode.label()
        );
        let _ = writeln!(
            o,
            r##"<rect x="{x0}" y="{y1}" width="{}" height="{}" fill="none" stroke="#999"/>"##,
            x1 - x0,
            y0 - y1
        );
        for i in 0..=4 {
            let v = ymax * f64::from(i) / 4.0;
            let y = ly(v);
            let _ = writeln!(
                o,
                r##"<line x1="{x0}" y1="{y}" x2="{x1}" y2="{y}" stroke="#eee"/><text x="{}" y="{}" text-anchor="end">{}</text>"##,
                x0 - 4.0,
                y + 4.0,
                fmt_count(v)
            );
        }
        for &c in &xs {
            let x = lx(c);
            let _ = writeln!(
                o,
                r#"<text x="{x}" y="{}" text-anchor="middle">{c}</text>"#,
                y0 + 14.0
            );
        }
        let _ = writeln!(
            o,
            r#"<text x="{}" y="{}" text-anchor="middle">connections</text>"#,
            (x0 + x1) / 2.0,
            y0 + 30.0
        );
        let _ = writeln!(
            o,
            r#"<text x="{}" y="{}" transform="rotate(-90 {} {})" text-anchor="middle">echoes per server CPU-s</text>"#,
            ox + 14.0,
            (y0 + y1) / 2.0,
            ox + 14.0,
            (y0 + y1) / 2.0
        );
        for k in &servers {
            let mut pts: Vec<(u32, f64)> = rows_here
                .iter()
                .filter(|s| s.server == *k)
                .map(|s| (s.cell.conns, s.eff))
                .collect();
            pts.sort_by_key(|p| p.0);
            if pts.is_empty() {
                continue;
            }
            let path: Vec<String> = pts
                .iter()
                .map(|&(c, v)| format!("{:.1},{:.1}", lx(c), ly(v)))
                .collect();
            let _ = writeln!(
                o,
                r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="2"/>"#,
                path.join(" "),
                color(*k)
            );
            for &(c, v) in &pts {
                let _ = writeln!(
                    o,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{}"><title>{} C={c}: {}</title></circle>"#,
                    lx(c),
                    ly(v),
                    color(*k),
                    k.name(),
                    fmt_count(v)
                );
            }
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
    fn ratios_are_against_the_better_epoll() {
        let recs = [
            rec(ServerKind::EpollLt, 100, 1.0),
            rec(ServerKind::EpollEt, 100, 0.5),
            rec(ServerKind::Runtime, 150, 0.5),
        ];
        let s = summarize(&recs);
        let ours = s.iter().find(|x| x.server == ServerKind::Runtime).unwrap();
        assert_eq!(ours.best_epoll, Some(ServerKind::EpollEt));
        assert!((ours.ratio_eff.unwrap() - 1.5).abs() < 1e-9);
        assert!((ours.ratio_thr.unwrap() - 1.5).abs() < 1e-9);
        let table = render(&s);
        assert!(table.contains("1.50x"), "{table}");
        assert!(svg(&s).starts_with("<svg"));
    }
}
