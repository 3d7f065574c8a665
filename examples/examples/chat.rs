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
use examples::signal::Signal;

const SPEC: Spec = Spec {
    name: "chat",
    usage: "usage: chat [--cores N] [--addr PORT|IP:PORT] [--exit-after N] [--demo]

  --cores       cores (threads, one listener and one room each; default: one per CPU)
  --addr        where to listen (default 127.0.0.1:7002; port 0: any free port)
  --exit-after  exit after N client sessions have ended, on all cores together
  --demo        listen on a free port, run 6 clients from core 0, verify, exit",
    flags: &["demo"],
    options: &["addr", "cores", "exit-after"],
};

fn main() -> ExitCode {
    cli::main(&SPEC, |args| {
        let cores = match args.value("cores")? {
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        if args.flag("demo") {
            println!("{}", chat::demo(cores)?);
            return Ok(());
        }
        let addr = args.addr(chat::DEFAULT_PORT)?;
        let stop = Signal::after(args.value("exit-after")?);
        let per_core = chat::run(addr, cores, stop)?;
        eprintln!("chat: clients accepted per core: {per_core:?}");
        Ok(())
    })
}
