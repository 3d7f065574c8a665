//! A TCP echo server: a task per connection, multishot accept, and a zero-copy echo of each
//! received provided buffer (see `examples::echo`).
//!
//! ```text
//! cargo run -p examples --example echo -- [--addr PORT|IP:PORT] [--exit-after N]
//! cargo run -p examples --example echo -- --demo
//! nc 127.0.0.1 7000
//! ```

use std::process::ExitCode;

use examples::cli::{self, Spec};
use examples::echo;
use examples::signal::Signal;
use net::TcpListener;

const SPEC: Spec = Spec {
    name: "echo",
    usage: "usage: echo [--addr PORT|IP:PORT] [--exit-after N] [--demo]

  --addr        where to listen (default 127.0.0.1:7000; port 0: any free port)
  --exit-after  exit after N connections have been served
  --demo        listen on a free port, run 10 clients against it, verify, exit",
    flags: &["demo"],
    options: &["addr", "exit-after"],
};

fn main() -> ExitCode {
    cli::main(&SPEC, |args| {
        let demo = args.flag("demo");
        let addr = match demo {
            true => cli::loopback_any_port(),
            false => args.addr(echo::DEFAULT_PORT)?,
        };
        let exit_after = args.value("exit-after")?;
        runtime::Runtime::new()?.block_on(async {
            let listener = TcpListener::bind(addr).await?;
            cli::print_listening(listener.local_addr()?);
            if demo {
                println!("{}", echo::demo(listener).await?);
            } else {
                let n = echo::serve(listener, Signal::after(exit_after)).await?;
                eprintln!("echo: served {n} connections");
            }
            Ok(())
        })
    })
}
