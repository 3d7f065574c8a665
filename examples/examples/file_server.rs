//! A static file server: HTTP/1.1 by hand, `Range` requests, traversal refused (see
//! `examples::file_server`).
//!
//! ```text
//! cargo run -p examples --example file_server -- [--root DIR] [--addr PORT|IP:PORT] [--exit-after N]
//! cargo run -p examples --example file_server -- --demo
//! curl -r 0-99 http://127.0.0.1:8000/Cargo.toml
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use examples::cli::{self, Spec};
use examples::file_server;
use examples::signal::Signal;
use net::TcpListener;

const SPEC: Spec = Spec {
    name: "file_server",
    usage: "usage: file_server [--root DIR] [--addr PORT|IP:PORT] [--exit-after N] [--demo]

  --root        the directory to serve (default: the current one)
  --addr        where to listen (default 127.0.0.1:8000; port 0: any free port)
  --exit-after  exit after N connections have been served
  --demo        serve a temporary tree on a free port, request it, verify, exit",
    flags: &["demo"],
    options: &["addr", "root", "exit-after"],
};

fn main() -> ExitCode {
    cli::main(&SPEC, |args| {
        let demo = args.flag("demo");
        let addr = match demo {
            true => cli::loopback_any_port(),
            false => args.addr(file_server::DEFAULT_PORT)?,
        };
        let root: PathBuf = args.value("root")?.unwrap_or_else(|| PathBuf::from("."));
        let exit_after = args.value("exit-after")?;
        runtime::Runtime::new()?.block_on(async {
            let listener = TcpListener::bind(addr).await?;
            cli::print_listening(listener.local_addr()?);
            if demo {
                println!("{}", file_server::demo(listener).await?);
            } else {
                let n = file_server::serve(listener, &root, Signal::after(exit_after)).await?;
                eprintln!("file_server: served {n} connections");
            }
            Ok(())
        })
    })
}
