//! A tokio line server ported to ringloop by changing imports and buffer passing only (see
//! `examples::tokio_port` and `docs/coming-from-tokio.md`).
//!
//! ```text
//! cargo run -p examples --example tokio_port -- [--addr PORT|IP:PORT] [--exit-after N]
//! cargo run -p examples --example tokio_port -- --demo
//! nc 127.0.0.1 7003
//! ```

use std::process::ExitCode;

use examples::cli::{self, Spec};
use examples::tokio_port;
use ringloop::net::TcpListener;

const SPEC: Spec = Spec {
    name: "tokio_port",
    usage: "usage: tokio_port [--addr PORT|IP:PORT] [--exit-after N] [--demo]

  --addr        where to listen (default 127.0.0.1:7003; port 0: any free port)
  --exit-after  exit after N connections (default 1)
  --demo        listen on a free port, run 4 clients against it, verify, exit",
    flags: &["demo"],
    options: &["addr", "exit-after"],
};

fn main() -> ExitCode {
    cli::main(&SPEC, |args| {
        let demo = args.flag("demo");
        let addr = match demo {
            true => cli::loopback_any_port(),
            false => args.addr(7003)?,
        };
        let connections = args.value("exit-after")?.unwrap_or(1);
        ringloop::Runtime::new()?.block_on(async {
            let listener = TcpListener::bind(addr).await?;
            cli::print_listening(listener.local_addr()?);
            if demo {
                println!("{}", tokio_port::demo(listener).await?);
            } else {
                let lines = tokio_port::serve(listener, connections).await?;
                eprintln!("tokio_port: {lines} lines from {connections} connections");
            }
            Ok(())
        })
    })
}
