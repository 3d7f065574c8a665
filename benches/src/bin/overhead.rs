//! Runtime overhead, side by side with tokio's current_thread runtime in the same run:
//! spawn+join throughput, yield ping-pong between two tasks, NOP round trips through the
//! runtime vs raw `uring-sys` (batch 32, with and without SQPOLL, with the poller's CPU
//! time), and 100,000 timers created and dropped.
//!
//! `cargo run --release -p benches --bin overhead [-- --runs N]`. Medians of N runs (default 5).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use benches::{median, parse_runs};
use runtime::op::{Completion, Op, Operation};
use uring_sys::{Ring, Sqe, prep};

const SPAWNS: usize = 200_000;
const YIELDS: usize = 200_000;
const NOPS: usize = 1_000_000;
const BATCH: usize = 32;
const TIMERS: usize = 100_000;

struct Nop;

// SAFETY: a NOP's SQE points to no memory.
unsafe impl Operation for Nop {
    type Output = std::io::Result<u32>;
    fn sqe(&mut self) -> Sqe {
        prep::prep_nop()
    }
    fn complete(self, result: std::io::Result<u32>, _: Completion) -> Self::Output {
        result
    }
}

/// Polls every future of a batch until all are done (no allocation).
struct JoinAll<F: Future, const N: usize> {
    futures: [Option<F>; N],
    left: usize,
}

impl<F: Future + Unpin, const N: usize> Future for JoinAll<F, N> {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        for slot in this.futures.iter_mut() {
            if let Some(f) = slot
                && Pin::new(f).poll(cx).is_ready()
            {
                *slot = None;
                this.left -= 1;
            }
        }
        if this.left == 0 {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

fn join_all<F: Future + Unpin, const N: usize>(futures: [F; N]) -> JoinAll<F, N> {
    JoinAll {
        futures: futures.map(Some),
        left: N,
    }
}

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

/// `SPAWNS` times in turn: spawns a task returning `i` with `spawn` and awaits it; the rate.
async fn spawn_join<H, E>(spawn: impl Fn(usize) -> H) -> f64
where
    H: Future<Output = Result<usize, E>>,
    E: std::fmt::Debug,
{
    let t = Instant::now();
    for i in 0..SPAWNS {
        let h = spawn(i);
        assert_eq!(h.await.unwrap(), i);
    }
    rate(SPAWNS, t.elapsed())
}

/// One of the two tasks of a yield measurement: `YIELDS / 2` calls of `yield_now`.
async fn yield_half<F: Future<Output = ()>>(yield_now: fn() -> F) {
    for _ in 0..YIELDS / 2 {
        yield_now().await;
    }
}

fn ours_spawn_join() -> f64 {
    let rt = runtime::Runtime::new().unwrap();
    rt.block_on(async { spawn_join(|i| runtime::spawn(async move { i })).await })
}

fn tokio_spawn_join() -> f64 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async {
        spawn_join(|i| tokio::task::spawn_local(async move { i })).await
    })
}

fn ours_yield() -> f64 {
    let rt = runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let t = Instant::now();
        let a = runtime::spawn(yield_half(runtime::yield_now));
        let b = runtime::spawn(yield_half(runtime::yield_now));
        a.await.unwrap();
        b.await.unwrap();
        rate(YIELDS, t.elapsed())
    })
}

fn tokio_yield() -> f64 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async {
        let t = Instant::now();
        let a = tokio::task::spawn_local(yield_half(tokio::task::yield_now));
        let b = tokio::task::spawn_local(yield_half(tokio::task::yield_now));
        a.await.unwrap();
        b.await.unwrap();
        rate(YIELDS, t.elapsed())
    })
}

/// NOPs through the runtime: one task awaits batches of 32 `Op<Nop>` at once.
fn ours_nop(sqpoll: bool) -> (f64, f64, Duration) {
    let mut b = runtime::Builder::new();
    if sqpoll {
        b.sqpoll_idle(Duration::from_millis(100));
    }
    let rt = b.build().unwrap();
    rt.block_on(async {
        let before = runtime::metrics().unwrap();
        let cpu0 = sqpoll_cpu();
        let t = Instant::now();
        for _ in 0..NOPS / BATCH {
            join_all::<_, BATCH>(std::array::from_fn(|_| Op::new(Nop))).await;
        }
        let elapsed = t.elapsed();
        let after = runtime::metrics().unwrap();
        let enters = (after.enter_calls - before.enter_calls) as f64 / (NOPS / BATCH) as f64;
        (
            rate(NOPS, elapsed),
            enters,
            sqpoll_cpu().saturating_sub(cpu0),
        )
    })
}

/// The same through raw uring-sys: push 32, one enter, reap 32.
fn raw_nop(sqpoll: bool) -> f64 {
    let mut b = Ring::builder(256);
    if sqpoll {
        b.sqpoll(Duration::from_millis(100));
    } else {
        b.single_issuer(true).defer_taskrun(true);
    }
    let mut ring = b.build().or_else(|_| Ring::new(256)).unwrap();
    let t = Instant::now();
    for _ in 0..NOPS / BATCH {
        for i in 0..BATCH {
            // SAFETY: a NOP points to no memory.
            unsafe {
                ring.sq()
                    .push(&prep::prep_nop().user_data(i as u64))
                    .unwrap()
            };
        }
        ring.submit_and_wait(BATCH as u32).unwrap();
        let mut n = 0;
        while n < BATCH {
            while ring.cq().pop().is_some() {
                n += 1;
            }
            if n < BATCH {
                ring.submit_and_wait(1).unwrap();
            }
        }
    }
    rate(NOPS, t.elapsed())
}

/// CPU time of this process's SQPOLL threads (`iou-sqp-*`), from /proc.
fn sqpoll_cpu() -> Duration {
    let mut ticks = 0u64;
    if let Ok(dir) = std::fs::read_dir("/proc/self/task") {
        for task in dir.flatten() {
            let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            if !comm.starts_with("iou-sqp") {
                continue;
            }
            if let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) {
                let fields: Vec<&str> = stat
                    .rsplit(')')
                    .next()
                    .unwrap_or("")
                    .split_whitespace()
                    .collect();
                ticks += fields
                    .get(11)
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0);
                ticks += fields
                    .get(12)
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0);
            }
        }
    }
    Duration::from_millis(ticks * 10)
}

fn ours_timers() -> f64 {
    let rt = runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let t = Instant::now();
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let mut sleeps: Vec<_> = (0..TIMERS)
            .map(|i| runtime::time::sleep(Duration::from_secs(10 + i as u64 % 100)))
            .collect();
        for s in sleeps.iter_mut() {
            assert!(Pin::new(s).poll(&mut cx).is_pending());
        }
        drop(sleeps);
        rate(TIMERS, t.elapsed())
    })
}

/// How late an idle core's timers fire: 200 sleeps of 1-3 ms; (median, p99, max) in us.
fn ours_timer_lateness() -> (f64, f64, f64) {
    let rt = runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut late = Vec::with_capacity(200);
        for i in 0..200u64 {
            let d = Duration::from_micros(1000 + (i * 37) % 2000);
            let t = Instant::now();
            runtime::time::sleep(d).await;
            late.push((t.elapsed().saturating_sub(d)).as_secs_f64() * 1e6);
        }
        late.sort_by(f64::total_cmp);
        (late[100], late[198], late[199])
    })
}

fn tokio_timers() -> f64 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let t = Instant::now();
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let mut sleeps: Vec<_> = (0..TIMERS)
            .map(|i| Box::pin(tokio::time::sleep(Duration::from_secs(10 + i as u64 % 100))))
            .collect();
        for s in sleeps.iter_mut() {
            assert!(s.as_mut().poll(&mut cx).is_pending());
        }
        drop(sleeps);
        rate(TIMERS, t.elapsed())
    })
}

fn main() {
    benches::check_args(
        "usage: overhead [--runs N] [--nop-only] [--raw-nop-only]",
        &["--runs"],
        &["--nop-only", "--raw-nop-only"],
    );
    let runs = parse_runs(5);
    if std::env::args().any(|a| a == "--nop-only") {
        // For profiling the op path alone (callgrind): one runtime NOP run.
        let (r, e, _) = ours_nop(false);
        println!("runtime NOP batch {BATCH}: {r:.0} ops/s, {e:.2} enters per batch");
        return;
    }
    if std::env::args().any(|a| a == "--raw-nop-only") {
        println!("raw NOP batch {BATCH}: {:.0} ops/s", raw_nop(false));
        return;
    }
    println!(
        "runtime overhead, medians of {runs} runs (release); ours vs tokio current_thread in the same run\n"
    );
    let mut rows: Vec<(&str, Vec<f64>, Vec<f64>)> = vec![
        ("spawn+join /s", vec![], vec![]),
        ("yield ping-pong /s", vec![], vec![]),
        ("100k timers create+drop /s", vec![], vec![]),
    ];
    let (mut nop_rt, mut nop_raw, mut nop_sq_rt, mut nop_sq_raw, mut enters, mut sq_cpu) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for _ in 0..runs {
        rows[0].1.push(ours_spawn_join());
        rows[0].2.push(tokio_spawn_join());
        rows[1].1.push(ours_yield());
        rows[1].2.push(tokio_yield());
        rows[2].1.push(ours_timers());
        rows[2].2.push(tokio_timers());
        let (r, e, _) = ours_nop(false);
        nop_rt.push(r);
        enters.push(e);
        nop_raw.push(raw_nop(false));
        let (r, _, cpu) = ours_nop(true);
        nop_sq_rt.push(r);
        sq_cpu.push(cpu.as_secs_f64());
        nop_sq_raw.push(raw_nop(true));
    }
    println!(
        "{:<30} {:>14} {:>14} {:>8}",
        "benchmark", "ours", "tokio", "ratio"
    );
    for (name, ours, tokio) in &rows {
        let (o, t) = (median(ours), median(tokio));
        println!("{name:<30} {o:>14.0} {t:>14.0} {:>7.2}x", o / t);
    }
    println!();
    println!(
        "{:<30} {:>14} {:>14} {:>8}",
        "NOP, batch 32", "runtime", "raw uring-sys", "ratio"
    );
    let (o, r) = (median(&nop_rt), median(&nop_raw));
    println!("{:<30} {o:>14.0} {r:>14.0} {:>7.2}x", "ops/s", o / r);
    let (o, r) = (median(&nop_sq_rt), median(&nop_sq_raw));
    println!(
        "{:<30} {o:>14.0} {r:>14.0} {:>7.2}x",
        "ops/s with SQPOLL",
        o / r
    );
    println!(
        "enters per batch (runtime, no SQPOLL): {:.2}",
        median(&enters)
    );
    println!(
        "SQPOLL thread CPU per runtime run: {:.2} s",
        median(&sq_cpu)
    );
    let (p50, p99, max) = ours_timer_lateness();
    println!(
        "timer lateness on an idle core (200 sleeps of 1-3 ms): median {p50:.0} us, p99 {p99:.0} us, max {max:.0} us"
    );
}
