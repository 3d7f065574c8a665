//! The command lines of the examples: a small parser (`--flag`, `--name VALUE` or
//! `--name=VALUE`, positional arguments), listen addresses, and a `main` wrapper that prints
//! errors and usage and turns them into an exit code ([`per_core_main`]: the whole `main` of
//! the servers on every core).
//!
//! Every server example prints `listening on ADDR` as its first line of stdout
//! ([`print_listening`]), so a script that starts it on port 0 can read the port back.

use std::fmt;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::str::FromStr;

use crate::signal::Signal;

/// What an example accepts: its name, a usage text, and its flags and options (without the
/// leading `--`). `--help` is always accepted.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// The example's name, for messages.
    pub name: &'static str,
    /// The usage text printed by `--help` and after a usage error.
    pub usage: &'static str,
    /// Switches: `--demo`, `--manual`, ….
    pub flags: &'static [&'static str],
    /// Options that take a value: `--addr 127.0.0.1:7000`, `--cores 4`, ….
    pub options: &'static [&'static str],
}

/// Parsed arguments.
#[derive(Debug, Default, Clone)]
pub struct Args {
    flags: Vec<String>,
    values: Vec<(String, String)>,
    positional: Vec<String>,
}

/// A usage error (unknown option, missing or malformed value): [`main`] prints it with the
/// usage text and exits with 2.
pub fn usage_error(msg: impl fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, UsageError(msg.to_string()))
}

/// The payload that marks an `io::Error` as a usage error.
#[derive(Debug)]
struct UsageError(String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

fn is_usage_error(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<UsageError>())
}

impl Args {
    /// Parses `args` (without the program name) against `spec`.
    ///
    /// # Errors
    /// `InvalidInput` for an unknown `--option` or an option without its value.
    pub fn parse<I, S>(spec: &Spec, args: I) -> io::Result<Args>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut out = Args::default();
        let mut args = args.into_iter().map(Into::into);
        while let Some(arg) = args.next() {
            if arg == "--" {
                out.positional.extend(args.by_ref());
                break;
            }
            let Some(name) = arg.strip_prefix("--") else {
                out.positional.push(arg);
                continue;
            };
            let (name, inline) = match name.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (name, None),
            };
            if name == "help" || spec.flags.contains(&name) {
                if inline.is_some() {
                    return Err(usage_error(format_args!("--{name} takes no value")));
                }
                out.flags.push(name.to_string());
            } else if spec.options.contains(&name) {
                let value = match inline {
                    Some(v) => v,
                    None => args
                        .next()
                        .ok_or_else(|| usage_error(format_args!("--{name} needs a value")))?,
                };
                out.values.push((name.to_string(), value));
            } else {
                return Err(usage_error(format_args!("unknown option --{name}")));
            }
        }
        Ok(out)
    }

    /// Whether `--name` was given.
    pub fn flag(&self, name: &str) -> bool {
        self.flags.iter().any(|f| f == name)
    }

    /// The value of the last `--name VALUE`, parsed.
    ///
    /// # Errors
    /// `InvalidInput` naming the option when the value does not parse.
    pub fn value<T>(&self, name: &str) -> io::Result<Option<T>>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        match self.values.iter().rev().find(|(n, _)| n == name) {
            Some((_, v)) => v
                .parse()
                .map(Some)
                .map_err(|e| usage_error(format_args!("bad value {v:?} for --{name}: {e}"))),
            None => Ok(None),
        }
    }

    /// The arguments that are not options, in order.
    pub fn positional(&self) -> &[String] {
        &self.positional
    }

    /// The listen address of `--addr` (`PORT`, `HOST:PORT` or `[V6]:PORT`); by default
    /// 127.0.0.1 on `default_port`. Port 0 asks the kernel for a free port.
    ///
    /// # Errors
    /// `InvalidInput` when `--addr` is neither a port nor a socket address.
    pub fn addr(&self, default_port: u16) -> io::Result<SocketAddr> {
        match self.values.iter().rev().find(|(n, _)| n == "addr") {
            Some((_, v)) => parse_addr(v),
            None => Ok(SocketAddr::new(
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                default_port,
            )),
        }
    }
}

/// `PORT` (on 127.0.0.1), `HOST:PORT` or `[V6]:PORT`.
///
/// # Errors
/// `InvalidInput` for anything else (names are not resolved: give an IP address).
pub fn parse_addr(s: &str) -> io::Result<SocketAddr> {
    if let Ok(port) = s.parse::<u16>() {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    s.parse().map_err(|e| {
        usage_error(format_args!(
            "bad address {s:?} ({e}): give PORT, IP:PORT or [IPV6]:PORT"
        ))
    })
}

/// 127.0.0.1 with port 0: what `--demo` listens on.
pub fn loopback_any_port() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0)
}

/// Prints `listening on ADDR` (the first line of every server example) and flushes it, so a
/// reader on a pipe sees it at once.
pub fn print_listening(addr: SocketAddr) {
    println!("listening on {addr}");
    let _ = io::stdout().flush();
}

/// The body of an example's `main`: parses the command line against `spec`, prints the
/// usage for `--help`, runs `body`, and reports an error on stderr. Returns the process's exit
/// code: 0 on success, 2 for a usage error ([`usage_error`]), 1 for any other error.
pub fn main(spec: &Spec, body: impl FnOnce(Args) -> io::Result<()>) -> ExitCode {
    let args = match Args::parse(spec, std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("{}: {e}\n\n{}", spec.name, spec.usage);
            return ExitCode::from(2);
        }
    };
    if args.flag("help") {
        println!("{}", spec.usage);
        return ExitCode::SUCCESS;
    }
    match body(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_usage_error(&e) => {
            eprintln!("{}: {e}\n\n{}", spec.name, spec.usage);
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("{}: {e}", spec.name);
            ExitCode::FAILURE
        }
    }
}

/// The [`Spec`] of a server on every core, for [`per_core_main`]: the flag `--demo` and the
/// options `--addr`, `--cores` and `--exit-after`.
pub const fn per_core_spec(name: &'static str, usage: &'static str) -> Spec {
    Spec {
        name,
        usage,
        flags: &["demo"],
        options: &["addr", "cores", "exit-after"],
    }
}

/// The `main` of a server on every core (`echo_per_core`, `chat`), with a `spec` from
/// [`per_core_spec`]: `--cores N` (default: one per CPU), then either `--demo`, which prints
/// the report of `demo(cores)`, or `run(addr, cores, stop)` on `--addr` (default port
/// `default_port`) until `--exit-after N` sessions have ended; at exit prints how many
/// `accepted` (`connections`, `clients`) each core accepted.
pub fn per_core_main(
    spec: &Spec,
    default_port: u16,
    demo: fn(usize) -> io::Result<String>,
    run: fn(SocketAddr, usize, Signal) -> io::Result<Vec<usize>>,
    accepted: &str,
) -> ExitCode {
    main(spec, |args| {
        let cores = match args.value("cores")? {
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        if args.flag("demo") {
            println!("{}", demo(cores)?);
            return Ok(());
        }
        let addr = args.addr(default_port)?;
        let stop = Signal::after(args.value("exit-after")?);
        let per_core = run(addr, cores, stop)?;
        eprintln!("{}: {accepted} accepted per core: {per_core:?}", spec.name);
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: Spec = Spec {
        name: "t",
        usage: "usage",
        flags: &["demo"],
        options: &["addr", "cores"],
    };

    #[test]
    fn parses_flags_options_and_positionals() {
        let a = Args::parse(
            &SPEC,
            ["--demo", "--cores=3", "a", "--addr", "9000", "--", "--b"],
        )
        .unwrap();
        assert!(a.flag("demo"));
        assert_eq!(a.value::<usize>("cores").unwrap(), Some(3));
        assert_eq!(a.addr(1).unwrap(), "127.0.0.1:9000".parse().unwrap());
        assert_eq!(a.positional(), ["a", "--b"]);
    }

    #[test]
    fn rejects_unknown_and_incomplete_options() {
        assert!(Args::parse(&SPEC, ["--nope"]).is_err());
        assert!(Args::parse(&SPEC, ["--cores"]).is_err());
        assert!(Args::parse(&SPEC, ["--demo=1"]).is_err());
        let a = Args::parse(&SPEC, ["--cores", "x"]).unwrap();
        assert!(a.value::<usize>("cores").is_err());
    }

    #[test]
    fn addresses() {
        assert_eq!(parse_addr("0").unwrap(), "127.0.0.1:0".parse().unwrap());
        assert_eq!(parse_addr("[::1]:80").unwrap(), "[::1]:80".parse().unwrap());
        assert!(parse_addr("localhost:80").is_err());
    }
}
