//! `cp`: copies a file with `fs::copy`, or by hand with several positional reads and writes
//! in flight (see `examples::cp`).
//!
//! ```text
//! cargo run -p examples --example cp -- SRC DST
//! cargo run -p examples --example cp -- --manual [--depth N] [--chunk BYTES] SRC DST
//! cargo run -p examples --example cp -- --demo
//! ```

use std::path::Path;
use std::process::ExitCode;

use examples::cli::{self, Spec};
use examples::cp;

const SPEC: Spec = Spec {
    name: "cp",
    usage: "usage: cp [--manual [--depth N] [--chunk BYTES]] SRC DST | cp --demo

  --manual  copy with read_at/write_at by hand instead of fs::copy
  --depth   chunks in flight with --manual (default 4)
  --chunk   bytes per chunk with --manual (default 262144)
  --demo    copy a temporary file both ways, verify, exit",
    flags: &["demo", "manual"],
    options: &["depth", "chunk"],
};

fn main() -> ExitCode {
    cli::main(&SPEC, |args| {
        let depth = args.value("depth")?.unwrap_or(cp::DEPTH);
        let chunk = args.value("chunk")?.unwrap_or(cp::CHUNK);
        runtime::Runtime::new()?.block_on(async {
            if args.flag("demo") {
                println!("{}", cp::demo().await?);
                return Ok(());
            }
            let [from, to] = args.positional() else {
                return Err(cli::usage_error("give a source and a destination"));
            };
            let (from, to) = (Path::new(from), Path::new(to));
            let n = if args.flag("manual") {
                cp::copy_pipelined(from, to, depth, chunk).await?
            } else {
                fs::copy(from, to).await?
            };
            println!("copied {n} bytes");
            Ok(())
        })
    })
}
