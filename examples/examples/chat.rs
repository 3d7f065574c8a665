//! A chat server across cores: clients on every core, a line from anyone goes to everyone
//! (see `examples::chat`).
//!
//! ```text
//! cargo run -p examples --example chat -- [--cores N] [--addr PORT|IP:PORT] [--exit-after N]
//! cargo run -p examples --example chat -- --demo [--cores N]
//! nc 127.0.0.1 7002      # in two terminals; type lines, /who, /quit
//! ```

use std::process::ExitCode;

use examples::chat;
use examples::cli::{self, Spec};

const SPEC: Spec = cli::per_core_spec(
    "chat",
    "usage: chat [--cores N] [--addr PORT|IP:PORT] [--exit-after N] [--demo]

  --cores       cores (threads, one listener and one room each; default: one per CPU)
  --addr        where to listen (default 127.0.0.1:7002; port 0: any free port)
  --exit-after  exit after N client sessions have ended, on all cores together
  --demo        listen on a free port, run 6 clients from core 0, verify, exit",
);

fn main() -> ExitCode {
    cli::per_core_main(&SPEC, chat::DEFAULT_PORT, chat::demo, chat::run, "clients")
}
