//! The echo server on every core: `run_per_core` with one `SO_REUSEPORT` listener per core
//! (see `examples::echo_per_core`).
//!
//! ```text
//! cargo run -p examples --example echo_per_core -- [--cores N] [--addr PORT|IP:PORT] [--exit-after N]
//! cargo run -p examples --example echo_per_core -- --demo [--cores N]
//! ```

use std::process::ExitCode;

use examples::cli::{self, Spec};
use examples::echo_per_core;

const SPEC: Spec = cli::per_core_spec(
    "echo_per_core",
    "usage: echo_per_core [--cores N] [--addr PORT|IP:PORT] [--exit-after N] [--demo]

  --cores       cores (threads, one listener each; default: one per CPU)
  --addr        where to listen (default 127.0.0.1:7001; port 0: any free port)
  --exit-after  exit after N connections have been served, on all cores together
  --demo        listen on a free port, run 24 clients from core 0, verify, exit",
);

fn main() -> ExitCode {
    cli::per_core_main(
        &SPEC,
        echo_per_core::DEFAULT_PORT,
        echo_per_core::demo,
        echo_per_core::run,
        "connections",
    )
}
