//! NOP round trips per second through `uring-sys`: for each batch size (1, 8, 32, 128 SQEs per
//! `io_uring_enter`), push a batch of NOPs, `submit_and_wait(batch)`, pop every CQE; repeat
//! for a fixed number of operations. Prints the median, min and max of several runs, and the
//! number of enter calls per batch (the `submit*` calls we make; check with
//! `strace -c -f`).
//!
//! The ring uses `SINGLE_ISSUER | DEFER_TASKRUN` where the kernel has them (6.1), else plain
//! flags. `benches/c/nop_liburing.c` does the same with liburing, for comparison.
//!
//! Usage: `cargo run --release -p benches --bin nop -- [--runs N] [--ops N]`

use std::hint::black_box;
use std::io;
use std::time::Instant;

use uring_sys::{Ring, prep};

const BATCHES: [u32; 4] = [1, 8, 32, 128];

struct Args {
    runs: usize,
    ops: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        runs: 5,
        ops: 2_000_000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| -> Result<u64, String> {
            it.next()
                .ok_or(format!("{name} needs a value"))?
                .parse()
                .map_err(|e| format!("{name}: {e}"))
        };
        match flag.as_str() {
            "--runs" => args.runs = value("--runs")?.max(1) as usize,
            "--ops" => args.ops = value("--ops")?.max(128),
            "-h" | "--help" => {
                return Err("usage: nop [--runs N] [--ops N]".to_string());
            }
            other => {
                return Err(format!(
                    "unknown argument {other:?}; usage: nop [--runs N] [--ops N]"
                ));
            }
        }
    }
    Ok(args)
}

/// One run: `iters` batches of `batch` NOPs. Returns (seconds, enter calls).
fn run(ring: &mut Ring, batch: u32, iters: u64) -> io::Result<(f64, u64)> {
    let nop = prep::prep_nop();
    let mut enters = 0;
    let start = Instant::now();
    for _ in 0..iters {
        for i in 0..batch {
            // SAFETY: a NOP points to no memory.
            unsafe { ring.sq().push(&nop.user_data(u64::from(i))) }?;
        }
        let mut reaped = 0;
        while reaped < batch {
            ring.submit_and_wait(batch - reaped)?;
            enters += 1;
            for cqe in ring.cq() {
                black_box(cqe.res());
                reaped += 1;
            }
        }
    }
    Ok((start.elapsed().as_secs_f64(), enters))
}

fn main() -> io::Result<()> {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let entries = *BATCHES.iter().max().unwrap();
    let (mut ring, mode) = match Ring::builder(entries)
        .single_issuer(true)
        .defer_taskrun(true)
        .build()
    {
        Ok(ring) => (ring, "SINGLE_ISSUER|DEFER_TASKRUN"),
        Err(e) => {
            eprintln!("falling back to a plain ring: {e}");
            (Ring::new(entries)?, "plain")
        }
    };
    println!(
        "uring-sys NOP round trips: ring of {entries} ({mode}, registered ring fd: {}), \
         {} ops per run, median of {} runs",
        ring.uses_registered_fd(),
        args.ops,
        args.runs
    );
    println!(
        "{:>5}  {:>14}  {:>14}  {:>14}  {:>13}",
        "batch", "ops/s median", "min", "max", "enters/batch"
    );
    for batch in BATCHES {
        let iters = args.ops / u64::from(batch);
        // Warm-up: fault in the rings and settle the CPU frequency.
        run(&mut ring, batch, iters / 10 + 1)?;
        let mut rates = Vec::with_capacity(args.runs);
        let mut enters = 0;
        for _ in 0..args.runs {
            let (secs, e) = run(&mut ring, batch, iters)?;
            rates.push((iters * u64::from(batch)) as f64 / secs);
            enters += e;
        }
        rates.sort_by(f64::total_cmp);
        println!(
            "{batch:>5}  {:>14.0}  {:>14.0}  {:>14.0}  {:>13.3}",
            rates[rates.len() / 2],
            rates[0],
            rates[rates.len() - 1],
            enters as f64 / (iters * args.runs as u64) as f64
        );
    }
    Ok(())
}
