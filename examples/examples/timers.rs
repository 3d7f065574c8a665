//! Timers and timeouts: sleep, interval ticks, a timeout that cancels a read cleanly, and a
//! linked timeout on a connect (see `examples::timers`).
//!
//! ```text
//! cargo run -p examples --example timers -- [--ticks N] [--period-ms MS]
//! cargo run -p examples --example timers -- --demo
//! ```

use std::process::ExitCode;
use std::time::Duration;

use examples::cli::{self, Spec};
use examples::timers;

const SPEC: Spec = Spec {
    name: "timers",
    usage: "usage: timers [--ticks N] [--period-ms MS] [--demo]

  --ticks      interval ticks to wait for (default 5)
  --period-ms  the interval's period (default 10)
  --demo       the same steps with the defaults (each step verifies itself)",
    flags: &["demo"],
    options: &["ticks", "period-ms"],
};

fn main() -> ExitCode {
    cli::main(&SPEC, |args| {
        let (ticks, period) = match args.flag("demo") {
            true => (5, 10),
            false => (
                args.value("ticks")?.unwrap_or(5),
                args.value("period-ms")?.unwrap_or(10),
            ),
        };
        runtime::Runtime::new()?.block_on(async {
            for line in timers::demo(ticks, Duration::from_millis(period)).await? {
                println!("{line}");
            }
            Ok(())
        })
    })
}
