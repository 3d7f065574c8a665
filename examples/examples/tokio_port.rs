//! A tokio program ported to ringloop by changing imports and buffer passing only, in four
//! parts: echo, chat, a hyper server and a file walker (see `examples::tokio_port` and
//! `docs/coming-from-tokio.md`).
//!
//! ```text
//! cargo run -p examples --example tokio_port -- --demo
//! cargo run -p examples --example tokio_port -- [--addr PORT|IP:PORT] [--serve chat|echo|http]
//! cargo run -p examples --example tokio_port -- --walk DIR
//! nc 127.0.0.1 7003
//! ```

use std::process::ExitCode;
use std::time::Duration;

use examples::cli::{self, Spec};
use examples::tokio_port::{self, chat, echo, http, walk};
use ringloop::net::TcpListener;

const SPEC: Spec = Spec {
    name: "tokio_port",
    usage: "usage: tokio_port [--addr PORT|IP:PORT] [--serve chat|echo|http] [--walk DIR] [--demo]

  --addr   where to listen (default 127.0.0.1:7003; port 0: any free port)
  --serve  which part to serve until killed (default chat; idle clients go after 60 s)
  --walk   count the files, directories and bytes under DIR, and exit
  --demo   run all four parts against clients of their own, verify, exit",
    flags: &["demo"],
    options: &["addr", "serve", "walk"],
};

fn main() -> ExitCode {
    cli::main(&SPEC, |args| {
        let rt = ringloop::Runtime::new()?;
        if let Some(dir) = args.value::<String>("walk")? {
            let t = rt.block_on(walk::walk(dir))?;
            println!("{} files, {} dirs, {} bytes", t.files, t.dirs, t.bytes);
            return Ok(());
        }
        let demo = args.flag("demo");
        let addr = match demo {
            true => cli::loopback_any_port(),
            false => args.addr(7003)?,
        };
        let part = args
            .value::<String>("serve")?
            .unwrap_or_else(|| "chat".into());
        if !["chat", "echo", "http"].contains(&part.as_str()) {
            return Err(cli::usage_error(format_args!(
                "--serve {part}: expected chat, echo or http"
            )));
        }
        rt.block_on(async {
            let listener = TcpListener::bind(addr).await?;
            cli::print_listening(listener.local_addr()?);
            match part.as_str() {
                _ if demo => println!("{}", tokio_port::demo(listener).await?),
                "chat" => chat::serve(listener, Duration::from_secs(60)).await?,
                "echo" => echo::serve(listener).await?,
                _ => http::serve(listener).await?,
            }
            Ok(())
        })
    })
}
