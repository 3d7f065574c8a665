//! An HTTP "Hello, world!" server: hyper 1.x on the io_uring runtime, through `net::hyper`
//! (see `examples::http`), speaking HTTP/1.1 or HTTP/2 (cleartext, prior knowledge) as each
//! client opens.
//!
//! ```text
//! cargo run -p examples --example http -- [--addr PORT|IP:PORT] [PORT]   # or PORT=8080; default 8080
//! cargo run -p examples --example http -- --demo
//! curl http://127.0.0.1:8080/
//! curl --http2-prior-knowledge http://127.0.0.1:8080/
//! curl --data-binary @some-file http://127.0.0.1:8080/echo
//! ```
//!
//! One core serves every connection; run it per core with `SO_REUSEPORT` to use more.

use std::process::ExitCode;

use examples::cli::{self, Spec};
use net::TcpListener;

const SPEC: Spec = Spec {
    name: "http",
    usage: "usage: http [--addr PORT|IP:PORT] [PORT] [--demo]

  --addr  where to listen (default 127.0.0.1:8080, or the PORT argument or variable;
          port 0: any free port)
  --demo  listen on a free port, send requests with hyper's client, verify, exit",
    flags: &["demo"],
    options: &["addr"],
};

fn main() -> ExitCode {
    cli::main(&SPEC, |args| {
        let demo = args.flag("demo");
        let port = match args
            .positional()
            .first()
            .cloned()
            .or_else(|| std::env::var("PORT").ok())
        {
            Some(p) => p
                .parse()
                .map_err(|e| cli::usage_error(format_args!("bad port {p:?}: {e}")))?,
            None => 8080,
        };
        let addr = match demo {
            true => cli::loopback_any_port(),
            false => args.addr(port)?,
        };
        runtime::Runtime::new()?.block_on(async {
            let listener = TcpListener::bind(addr).await?;
            cli::print_listening(listener.local_addr()?);
            if demo {
                println!("{}", examples::http::demo(listener).await?);
                return Ok(());
            }
            examples::http::serve(listener).await
        })
    })
}
