//! A soak of the echo server: connections with random sizes, client resets and clients that
//! never read, every echoed byte verified, resident memory and fds checked (see
//! `examples::soak`). Exits 1 when anything went wrong.
//!
//! ```text
//! cargo run -p examples --example soak -- [--seconds 60] [--clients 8]
//! ```

use std::process::ExitCode;
use std::time::Duration;

use examples::cli::{self, Spec};
use examples::soak;

const SPEC: Spec = Spec {
    name: "soak",
    usage: "usage: soak [--seconds N] [--clients N]

  --seconds  how long to run (default 60; 3600 for the hour-long run)
  --clients  client threads (default 8)",
    flags: &[],
    options: &["seconds", "clients"],
};

fn main() -> ExitCode {
    cli::main(&SPEC, |args| {
        let seconds: u64 = args.value("seconds")?.unwrap_or(60);
        let clients: usize = args.value("clients")?.unwrap_or(8);
        let report = soak::run(Duration::from_secs(seconds), clients)?;
        println!("soak: {seconds} s, {clients} clients: {report}");
        let problems = report.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(std::io::Error::other(problems.join("; ")))
        }
    })
}
