//! The attribute's arguments: `cores = 4, entries = 256, cq_entries = 512, sqpoll_idle_ms = 10`,
//! and `crate = "path"`.
//!
//! Every value but `crate`'s is an integer literal, read at compile time and checked here, so
//! that a typo or an impossible value is an error on its own token instead of a panic when the
//! program starts.

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::{Expr, ExprLit, Ident, Lit, LitInt, LitStr, Token};

/// The names the attributes accept, in the order error messages list them.
pub(crate) const KNOWN: [&str; 5] = ["cores", "entries", "cq_entries", "sqpoll_idle_ms", "crate"];

/// One argument's value and where its literal is, so errors and the generated setter point there.
#[derive(Debug)]
pub(crate) struct Arg<T> {
    pub(crate) value: T,
    span: Span,
}

impl<T> Arg<T> {
    /// The span of the value's literal.
    pub(crate) fn span(&self) -> Span {
        self.span
    }
}

/// The parsed arguments of `#[runtime::main(..)]` or `#[runtime::test(..)]`; `None` where left out.
#[derive(Debug, Default)]
pub(crate) struct Args {
    /// `Builder::cores`: how many pinned workers; more than 1 makes a per-core `main`.
    pub(crate) cores: Option<Arg<usize>>,
    /// `Builder::entries`: submission queue size.
    pub(crate) entries: Option<Arg<u32>>,
    /// `Builder::cq_entries`: completion queue size.
    pub(crate) cq_entries: Option<Arg<u32>>,
    /// `Builder::sqpoll_idle`, in milliseconds.
    pub(crate) sqpoll_idle_ms: Option<Arg<u32>>,
    /// The path of the crate the expansion names (`runtime::Builder` …), for a dependency
    /// renamed in `Cargo.toml`: `crate = "rl"` for `rl = { package = "ringloop", .. }`.
    pub(crate) krate: Option<Arg<TokenStream>>,
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut args = Args::default();
        while !input.is_empty() {
            // `parse_any` also takes keywords, so `async = 1` is reported as an unknown name
            // rather than as "expected identifier".
            let name = input.call(Ident::parse_any)?;
            let key = name.to_string();
            if !KNOWN.contains(&key.as_str()) {
                return Err(syn::Error::new(
                    name.span(),
                    format!("unknown argument `{key}`; expected one of {}", known_list()),
                ));
            }
            if args.is_set(&key) {
                return Err(syn::Error::new(
                    name.span(),
                    format!("`{key}` is given twice; keep one"),
                ));
            }
            if !input.peek(Token![=]) {
                return Err(input.error(format!(
                    "expected `=` after `{key}`, as in `{key} = {}`",
                    example(&key)
                )));
            }
            input.parse::<Token![=]>()?;
            let value: Expr = input.parse()?;
            if key == "crate" {
                args.krate = Some(crate_path(value)?);
                if input.is_empty() {
                    break;
                }
                input.parse::<Token![,]>()?;
                continue;
            }
            let lit = int_literal(&key, value)?;
            match key.as_str() {
                "cores" => {
                    let arg = parse_value::<usize>(&key, lit)?;
                    if arg.value == 0 {
                        return Err(syn::Error::new(
                            arg.span(),
                            "`cores = 0` would start no worker; use `cores = 1` for one thread, \
                             or more for one pinned worker per core",
                        ));
                    }
                    args.cores = Some(arg);
                }
                "entries" => args.entries = Some(nonzero_u32(&key, lit, "submission")?),
                "cq_entries" => args.cq_entries = Some(nonzero_u32(&key, lit, "completion")?),
                "sqpoll_idle_ms" => args.sqpoll_idle_ms = Some(parse_value::<u32>(&key, lit)?),
                _ => unreachable!("found {key:?}, which is in KNOWN"),
            }
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        Ok(args)
    }
}

impl Args {
    fn is_set(&self, key: &str) -> bool {
        match key {
            "cores" => self.cores.is_some(),
            "entries" => self.entries.is_some(),
            "cq_entries" => self.cq_entries.is_some(),
            "sqpoll_idle_ms" => self.sqpoll_idle_ms.is_some(),
            "crate" => self.krate.is_some(),
            _ => unreachable!("found {key:?}, which is not in KNOWN"),
        }
    }
}

/// "`cores`, `entries`, `cq_entries` or `sqpoll_idle_ms`".
fn known_list() -> String {
    let quoted: Vec<String> = KNOWN.iter().map(|k| format!("`{k}`")).collect();
    let (last, rest) = quoted.split_last().expect("KNOWN is not empty");
    format!("{} or {last}", rest.join(", "))
}

fn example(key: &str) -> &'static str {
    match key {
        "cores" => "4",
        "entries" => "256",
        "cq_entries" => "512",
        "crate" => "\"ringloop\"",
        _ => "10",
    }
}

/// The value must be a plain integer literal: the attribute is read at compile time, so a
/// constant, an expression or a string cannot be used.
fn int_literal(key: &str, value: Expr) -> syn::Result<LitInt> {
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Int(lit),
            attrs,
        }) if attrs.is_empty() => Ok(lit),
        other => Err(syn::Error::new_spanned(
            other,
            format!(
                "`{key}` takes an integer literal, as in `{key} = {}`; to choose it at run time, \
                 build the runtime with `runtime::Builder` instead of this attribute",
                example(key)
            ),
        )),
    }
}

/// `crate = "path"`: a string literal holding a path, as tokio's macros take it. The path's
/// tokens carry the literal's span, so an unresolved path is reported at the string.
fn crate_path(value: Expr) -> syn::Result<Arg<TokenStream>> {
    let message = "`crate` takes a string literal naming the runtime crate's path, as in \
                   `crate = \"ringloop\"` (for a dependency renamed in Cargo.toml)";
    let lit: LitStr = match value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(lit),
            attrs,
        }) if attrs.is_empty() => lit,
        other => return Err(syn::Error::new_spanned(other, message)),
    };
    let path = lit
        .parse_with(syn::Path::parse_mod_style)
        .map_err(|_| syn::Error::new(lit.span(), message))?;
    Ok(Arg {
        value: path.into_token_stream(),
        span: lit.span(),
    })
}

/// Reads `lit` as a `T`, accepting no suffix or `T`'s own.
fn parse_value<T>(key: &str, lit: LitInt) -> syn::Result<Arg<T>>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    let ty = std::any::type_name::<T>();
    let suffix = lit.suffix();
    if !suffix.is_empty() && suffix != ty {
        return Err(syn::Error::new(
            lit.span(),
            format!("`{key}` is a `{ty}`; remove the `{suffix}` suffix"),
        ));
    }
    match lit.base10_parse::<T>() {
        Ok(value) => Ok(Arg {
            value,
            span: lit.span(),
        }),
        Err(_) => Err(syn::Error::new(
            lit.span(),
            format!("`{key}` must fit in a `{ty}`"),
        )),
    }
}

/// Queue sizes: the kernel rejects an empty queue, so 0 is an error here, not at startup.
fn nonzero_u32(key: &str, lit: LitInt, queue: &str) -> syn::Result<Arg<u32>> {
    let arg = parse_value::<u32>(key, lit)?;
    if arg.value == 0 {
        return Err(syn::Error::new(
            arg.span(),
            format!("`{key}` must be at least 1: io_uring_setup(2) rejects an empty {queue} queue"),
        ));
    }
    Ok(arg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(src: &str) -> syn::Result<Args> {
        syn::parse_str(src)
    }

    /// The message and the exact source text its span covers.
    fn error(src: &str) -> (String, String) {
        let err = parse(src).expect_err("should not parse");
        let text = err.span().source_text().unwrap_or_default();
        (err.to_string(), text)
    }

    #[test]
    fn empty_arguments_set_nothing() {
        let args = parse("").unwrap();
        assert!(args.cores.is_none());
        assert!(args.entries.is_none());
        assert!(args.cq_entries.is_none());
        assert!(args.sqpoll_idle_ms.is_none());
        assert!(args.krate.is_none());
    }

    #[test]
    fn crate_path_is_read() {
        let args = parse(r#"crate = "::my::rl", cores = 2"#).unwrap();
        assert_eq!(args.krate.unwrap().value.to_string(), ":: my :: rl");
        assert_eq!(args.cores.unwrap().value, 2);
    }

    #[test]
    fn crate_must_be_a_string_holding_a_path() {
        let (msg, at) = error("crate = ringloop");
        assert!(msg.starts_with("`crate` takes a string literal"), "{msg}");
        assert_eq!(at, "ringloop");
        let (_, at) = error(r#"crate = "not a path""#);
        assert_eq!(at, r#""not a path""#);
    }

    #[test]
    fn every_argument_is_read() {
        let args =
            parse("cores = 4, entries = 256, cq_entries = 1024, sqpoll_idle_ms = 10").unwrap();
        assert_eq!(args.cores.unwrap().value, 4);
        assert_eq!(args.entries.unwrap().value, 256);
        assert_eq!(args.cq_entries.unwrap().value, 1024);
        assert_eq!(args.sqpoll_idle_ms.unwrap().value, 10);
    }

    #[test]
    fn trailing_comma_is_accepted() {
        assert_eq!(parse("entries = 8,").unwrap().entries.unwrap().value, 8);
    }

    #[test]
    fn matching_suffix_and_underscores_are_accepted() {
        let args = parse("cores = 2usize, entries = 4_096u32").unwrap();
        assert_eq!(args.cores.unwrap().value, 2);
        assert_eq!(args.entries.unwrap().value, 4096);
    }

    #[test]
    fn hex_literal_is_accepted() {
        assert_eq!(
            parse("entries = 0x100").unwrap().entries.unwrap().value,
            256
        );
    }

    #[test]
    fn unknown_name_lists_the_known_ones() {
        let (msg, at) = error("entries = 8, workers = 4");
        assert_eq!(
            msg,
            "unknown argument `workers`; expected one of `cores`, `entries`, `cq_entries`, \
             `sqpoll_idle_ms` or `crate`"
        );
        assert_eq!(at, "workers");
    }

    #[test]
    fn keyword_as_name_is_an_unknown_argument() {
        let (msg, at) = error("async = 1");
        assert!(msg.starts_with("unknown argument `async`"), "{msg}");
        assert_eq!(at, "async");
    }

    #[test]
    fn duplicate_points_at_the_second() {
        let (msg, at) = error("entries = 64, cores = 2, entries = 128");
        assert_eq!(msg, "`entries` is given twice; keep one");
        assert_eq!(at, "entries");
        // The second occurrence, not the first: it is preceded by `cores = 2, `.
        let err = parse("entries = 64, cores = 2, entries = 128").unwrap_err();
        assert_eq!(err.span().start().column, 25);
    }

    #[test]
    fn string_value_is_rejected_at_the_string() {
        let (msg, at) = error(r#"cores = "4""#);
        assert!(
            msg.starts_with("`cores` takes an integer literal, as in `cores = 4`"),
            "{msg}"
        );
        assert_eq!(at, r#""4""#);
    }

    #[test]
    fn expression_value_is_rejected_at_the_expression() {
        let (msg, at) = error("entries = 2 * 128");
        assert!(
            msg.starts_with("`entries` takes an integer literal"),
            "{msg}"
        );
        assert_eq!(at, "2 * 128");
    }

    #[test]
    fn negative_value_is_rejected() {
        let (_, at) = error("cores = -1");
        assert_eq!(at, "-1");
    }

    #[test]
    fn float_value_is_rejected() {
        let (msg, at) = error("sqpoll_idle_ms = 1.5");
        assert!(
            msg.starts_with("`sqpoll_idle_ms` takes an integer literal"),
            "{msg}"
        );
        assert_eq!(at, "1.5");
    }

    #[test]
    fn foreign_suffix_is_rejected() {
        let (msg, at) = error("entries = 8u8");
        assert_eq!(msg, "`entries` is a `u32`; remove the `u8` suffix");
        assert_eq!(at, "8u8");
    }

    #[test]
    fn overflow_is_rejected() {
        let (msg, at) = error("entries = 4294967296");
        assert_eq!(msg, "`entries` must fit in a `u32`");
        assert_eq!(at, "4294967296");
    }

    #[test]
    fn zero_cores_is_rejected_at_the_zero() {
        let (msg, at) = error("cores = 0");
        assert!(
            msg.starts_with("`cores = 0` would start no worker"),
            "{msg}"
        );
        assert_eq!(at, "0");
    }

    #[test]
    fn zero_queue_sizes_are_rejected() {
        assert!(error("entries = 0").0.contains("empty submission queue"));
        assert!(error("cq_entries = 0").0.contains("empty completion queue"));
    }

    #[test]
    fn zero_idle_is_accepted() {
        // The kernel reads 0 as its default idle time, so it is a valid choice.
        assert_eq!(
            parse("sqpoll_idle_ms = 0")
                .unwrap()
                .sqpoll_idle_ms
                .unwrap()
                .value,
            0
        );
    }

    #[test]
    fn missing_equals_is_explained() {
        let (msg, at) = error("cores 4");
        assert_eq!(msg, "expected `=` after `cores`, as in `cores = 4`");
        assert_eq!(at, "4");
    }

    #[test]
    fn missing_comma_points_at_the_next_token() {
        let (msg, at) = error("cores = 4 entries = 8");
        assert_eq!(msg, "expected `,`");
        assert_eq!(at, "entries");
    }
}
