//! `cat`: prints files to stdout, read with `File::read_at` in chunks and written at stdout's
//! current position (see `examples::cat`).
//!
//! ```text
//! cargo run -p examples --example cat -- FILE...    # `-` or nothing: standard input
//! cargo run -p examples --example cat -- --demo
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use examples::cat;
use examples::cli::{self, Spec};

const SPEC: Spec = Spec {
    name: "cat",
    usage: "usage: cat [FILE...] [--demo]

  FILE    files to print in order (`-` or none: standard input)
  --demo  cat temporary files into another, verify, exit",
    flags: &["demo"],
    options: &[],
};

fn main() -> ExitCode {
    cli::main(&SPEC, |args| {
        let mut paths: Vec<PathBuf> = args.positional().iter().map(PathBuf::from).collect();
        if paths.is_empty() {
            paths.push(PathBuf::from("-"));
        }
        runtime::Runtime::new()?.block_on(async {
            if args.flag("demo") {
                println!("{}", cat::demo().await?);
                return Ok(());
            }
            let out = cat::stdout()?;
            cat::cat(&paths, &out).await?;
            out.close().await
        })
    })
}
