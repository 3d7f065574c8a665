//! Helpers shared by the benchmark binaries: argument parsing, statistics, and CPUs
//! ([`cpu`]: allowed CPUs, pinning, CPU clocks).

pub mod cpu;
pub mod echo;
pub mod http;

/// The median of `values` (0 for none).
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// `--runs N` from the command line, or `default`.
pub fn parse_runs(default: usize) -> usize {
    arg_value("--runs").unwrap_or(default)
}

/// Checks the command line against the options a benchmark knows before it runs: `-h` or
/// `--help` prints `usage` and exits 0; an unknown argument, or an option of `values`
/// without its value, prints what is wrong and `usage` and exits 2. A typo must not run the
/// default matrix for minutes.
pub fn check_args(usage: &str, values: &[&str], flags: &[&str]) {
    match check(std::env::args().skip(1), values, flags) {
        Ok(()) => {}
        Err(None) => {
            println!("{usage}");
            std::process::exit(0);
        }
        Err(Some(why)) => {
            eprintln!("{why}\n{usage}");
            std::process::exit(2);
        }
    }
}

/// `Err(None)`: help was asked for; `Err(Some(why))`: a bad command line.
fn check(
    mut args: impl Iterator<Item = String>,
    values: &[&str],
    flags: &[&str],
) -> Result<(), Option<String>> {
    while let Some(a) = args.next() {
        if a == "-h" || a == "--help" {
            return Err(None);
        }
        if values.contains(&a.as_str()) {
            if args.next().is_none() {
                return Err(Some(format!("{a} needs a value")));
            }
        } else if !flags.contains(&a.as_str()) {
            return Err(Some(format!("unknown argument {a:?}")));
        }
    }
    Ok(())
}

/// The value of option `name` as given on the command line, or `None`.
pub fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.windows(2).find(|w| w[0] == name).map(|w| w[1].clone())
}

/// The value of option `name` parsed as a `T`, or `None` when it is not given; a value that
/// does not parse is [`bad_value`] rather than a fall-back to a default.
pub fn arg_value<T: std::str::FromStr>(name: &str) -> Option<T> {
    let raw = arg(name)?;
    Some(raw.parse().unwrap_or_else(|_| bad_value(name, &raw)))
}

/// Prints that `v` is not a valid value of option `name` and exits with status 2.
pub fn bad_value(name: &str, v: &str) -> ! {
    eprintln!("{name}: {v:?} is not a valid value (--help lists the options)");
    std::process::exit(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> impl Iterator<Item = String> {
        line.split_whitespace()
            .map(str::to_string)
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn the_command_line_is_checked_against_the_known_options() {
        let (values, flags) = (&["--runs", "--conns"][..], &["--smoke"][..]);
        assert_eq!(
            check(args("--runs 3 --smoke --conns 1,50"), values, flags),
            Ok(())
        );
        assert_eq!(check(args(""), values, flags), Ok(()));
        assert_eq!(check(args("--runs 3 --help"), values, flags), Err(None));
        assert_eq!(check(args("-h"), values, flags), Err(None));
        assert_eq!(
            check(args("--conn 50"), values, flags),
            Err(Some("unknown argument \"--conn\"".to_string()))
        );
        assert_eq!(
            check(args("--smoke --runs"), values, flags),
            Err(Some("--runs needs a value".to_string()))
        );
        // A value is taken as a value even if it looks like an option.
        assert_eq!(check(args("--conns --smoke"), values, flags), Ok(()));
    }

    #[test]
    fn median_of_even_and_odd() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
    }
}
