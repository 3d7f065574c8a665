//! Turns `async fn` into a sync `fn` that builds a runtime and runs the body on it.
//!
//! Shapes produced (`R` is the declared return type, `()` when none):
//!
//! ```text
//! // #[runtime::main] or #[runtime::test], one core (`::ringloop` for #[ringloop::main],
//! // the given path for `crate = "path"`):
//! fn name() -> R {
//!     let rt = match ::runtime::Builder::new().cores(1usize)/* .entries(..) .. */.build() {
//!         Ok(rt) => rt,
//!         Err(err) => panic!("failed to start the io_uring runtime of #[runtime::main]: {}", err),
//!     };
//!     rt.block_on(async move { body })
//! }
//!
//! // #[runtime::main(cores = N)], N > 1: the body runs once on each of N pinned workers.
//! fn name() -> R {
//!     let rt = match ::runtime::Builder::new().cores(Nusize).build() { .. };
//!     rt.run_per_core(move |_: usize| async move { let out: R = async move { body }.await; out })
//!         .into_iter()
//!         .collect::<R>()
//! }
//! ```
//!
//! `rt`, `err` and `out` are spelled with `Span::mixed_site()`, so the body cannot see or shadow them.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Attribute, Ident, ItemFn, ReturnType, Signature, Type};

use crate::args::Args;

/// Which attribute is expanding; they differ in messages, in `cores` and in the `#[test]` marker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Main,
    Test,
}

/// One of the four attributes: `main` or `test`, under the crate path its expansion names by
/// default (`runtime` for `#[runtime::main]`, `ringloop` for the facade's `#[ringloop::main]`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Macro {
    pub(crate) kind: Kind,
    pub(crate) krate: &'static str,
}

impl Macro {
    /// How the user spells it, for messages: `#[ringloop::main]`.
    fn name(self) -> String {
        let which = match self.kind {
            Kind::Main => "main",
            Kind::Test => "test",
        };
        format!("#[{}::{which}]", self.krate)
    }
}

/// The whole expansion: the new function, or the errors followed by a stand-in for the function
/// (so that a `main` with a bad attribute does not also report "`main` function not found").
pub(crate) fn expand(mac: Macro, args: TokenStream, item: TokenStream) -> TokenStream {
    let func: ItemFn = match syn::parse2(item.clone()) {
        Ok(func) => func,
        Err(err) => {
            let err = syn::Error::new(
                err.span(),
                format!("{} applies to an `async fn`: {err}", mac.name()),
            );
            let mut out = err.to_compile_error();
            out.extend(item);
            return out;
        }
    };
    let args = syn::parse2::<Args>(args);
    let checked = check(mac, &func, args.as_ref().ok());
    match (args, checked) {
        (Ok(args), Ok(())) => generate(mac, &args, func),
        (args, checked) => {
            let errors = combine(args.err().into_iter().chain(checked.err()))
                .expect("one of the two results is an error");
            let mut out = errors.to_compile_error();
            out.extend(stand_in(mac, func));
            out
        }
    }
}

/// All the errors as one, each keeping its own span and message; `None` when there are none.
fn combine(errors: impl IntoIterator<Item = syn::Error>) -> Option<syn::Error> {
    errors.into_iter().reduce(|mut all, err| {
        all.combine(err);
        all
    })
}

/// Everything wrong with the function and with the arguments as they apply to it, together, so
/// one build shows all of it. Each error points at its own token.
fn check(mac: Macro, func: &ItemFn, args: Option<&Args>) -> syn::Result<()> {
    let sig = &func.sig;
    let mut errors: Vec<syn::Error> = Vec::new();
    if sig.asyncness.is_none() {
        errors.push(syn::Error::new(
            sig.fn_token.span,
            "the `async` keyword is missing from the function declaration",
        ));
    }
    if let Some(constness) = &sig.constness {
        errors.push(syn::Error::new(
            constness.span,
            format!("{} cannot run a `const fn`; remove `const`", mac.name()),
        ));
    }
    if !sig.inputs.is_empty() {
        let what = match mac.kind {
            Kind::Main => "the function",
            Kind::Test => "a test function",
        };
        errors.push(syn::Error::new_spanned(
            &sig.inputs,
            format!("{what} cannot take arguments under {}", mac.name()),
        ));
    }
    if let Some(variadic) = &sig.variadic {
        errors.push(syn::Error::new_spanned(
            variadic,
            format!("{} cannot run a variadic function", mac.name()),
        ));
    }
    if !sig.generics.params.is_empty() {
        errors.push(syn::Error::new_spanned(
            &sig.generics,
            format!("{} cannot run a generic function", mac.name()),
        ));
    }
    if let Some(where_clause) = &sig.generics.where_clause {
        errors.push(syn::Error::new_spanned(
            where_clause,
            format!("{} cannot run a function with a `where` clause", mac.name()),
        ));
    }
    if mac.kind == Kind::Test {
        if let Some(attr) = func.attrs.iter().find(|attr| is_test_attr(attr)) {
            errors.push(syn::Error::new_spanned(
                attr,
                format!(
                    "a second test attribute: `{}` already marks the function `#[test]`; \
                     remove this one",
                    mac.name()
                ),
            ));
        }
        if let Some(cores) = args.and_then(|args| args.cores.as_ref())
            && cores.value > 1
        {
            errors.push(syn::Error::new(
                cores.span(),
                format!(
                    "{} runs the test on its own thread, so `cores` must be 1 or left out; \
                     to test per-core code, build a runtime in the test with \
                     `{}::Builder::new().cores({})` and call `run_per_core`",
                    mac.name(),
                    mac.krate,
                    cores.value
                ),
            ));
        }
    }
    combine(errors).map_or(Ok(()), Err)
}

/// `#[test]`, `#[core::prelude::v1::test]`, `#[tokio::test]`, a second `#[runtime::test]`…:
/// any attribute whose path ends in `test` would make a second test, or fail on our output.
fn is_test_attr(attr: &Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|segment| segment.ident == "test")
}

fn generate(mac: Macro, args: &Args, func: ItemFn) -> TokenStream {
    let ItemFn {
        attrs,
        vis,
        mut sig,
        block,
    } = func;
    sig.asyncness = None;
    let output = output_type(&sig);
    let rt = Ident::new("rt", Span::mixed_site());
    let build = builder(mac, args);
    let test_attr = match mac.kind {
        Kind::Main => TokenStream::new(),
        Kind::Test => quote!(#[::core::prelude::v1::test]),
    };
    let cores = args.cores.as_ref().map_or(1, |cores| cores.value);
    // The body is spanned at itself, so a body whose type is not the return type is reported
    // on the body, as for a plain `fn`, not on the attribute.
    let body_span = block.brace_token.span.join();
    // `async move` marked as the macro's own, so lints on it (clippy's `redundant_async_block`
    // for a body that is one `.await`) see generated code, not the user's.
    let body_future = {
        let span = Span::mixed_site().located_at(body_span);
        quote_spanned! {span=> async move #block }
    };
    let run = if cores > 1 {
        let out = Ident::new("out", Span::mixed_site().located_at(body_span));
        let per_core = quote_spanned! {body_span=>
            async move {
                let #out: #output = #body_future.await;
                #out
            }
        };
        // Spanned at the return type: a type that cannot be collected from the per-core outputs,
        // or that is not `Send`, is reported there.
        let ret_span = return_span(&sig);
        quote_spanned! {ret_span=>
            ::core::iter::Iterator::collect::<#output>(::core::iter::IntoIterator::into_iter(
                #rt.run_per_core(move |_: usize| #per_core),
            ))
        }
    } else {
        let rt = Ident::new("rt", Span::mixed_site().located_at(body_span));
        quote_spanned! {body_span=> #rt.block_on(#body_future) }
    };
    quote! {
        #(#attrs)*
        #test_attr
        #vis #sig {
            let #rt = #build;
            #run
        }
    }
}

/// `match ::runtime::Builder::new().cores(..)….build() { Ok(rt) => rt, Err(err) => panic!(..) }`,
/// with a setter for each argument given, each value spanned at its literal so a type error
/// there points at the user's token. The crate is `crate = "path"` if given, else `::runtime`
/// or `::ringloop` by the attribute. A setup error is shown with `Display`: it says what
/// failed and what to do (`kernel.io_uring_disabled`, a seccomp profile …).
fn builder(mac: Macro, args: &Args) -> TokenStream {
    // Marked as the macro's own (mixed site), so lints such as clippy's `expect_used` do not
    // fire on the user's function for code the user did not write. Each setter is still
    // located at its literal, so an error there points at the user's value.
    let site = Span::mixed_site();
    let at = |span: Span| site.located_at(span);
    let krate = match &args.krate {
        Some(path) => path.value.clone(),
        None => {
            let name = Ident::new(mac.krate, site);
            quote_spanned!(site=> ::#name)
        }
    };
    let mut chain = quote_spanned!(site=> #krate::Builder::new());
    let cores = args.cores.as_ref().map_or(1, |cores| cores.value);
    let cores_span = args.cores.as_ref().map_or(site, |cores| at(cores.span()));
    chain.extend(quote_spanned!(cores_span=> .cores(#cores)));
    if let Some(entries) = &args.entries {
        let value = entries.value;
        chain.extend(quote_spanned!(at(entries.span())=> .entries(#value)));
    }
    if let Some(cq_entries) = &args.cq_entries {
        let value = cq_entries.value;
        chain.extend(quote_spanned!(at(cq_entries.span())=> .cq_entries(#value)));
    }
    if let Some(idle) = &args.sqpoll_idle_ms {
        let value = u64::from(idle.value);
        chain.extend(quote_spanned!(at(idle.span())=>
            .sqpoll_idle(::core::time::Duration::from_millis(#value))
        ));
    }
    let message = format!(
        "failed to start the io_uring runtime of {}: {{}}",
        mac.name()
    );
    quote_spanned! {site=>
        match #chain.build() {
            ::core::result::Result::Ok(rt) => rt,
            ::core::result::Result::Err(err) => ::core::panic!(#message, err),
        }
    }
}

fn output_type(sig: &Signature) -> TokenStream {
    match &sig.output {
        ReturnType::Default => quote!(()),
        ReturnType::Type(_, ty) => strip_group(ty).to_token_stream(),
    }
}

fn return_span(sig: &Signature) -> Span {
    match &sig.output {
        ReturnType::Default => sig.ident.span(),
        ReturnType::Type(_, ty) => ty.span(),
    }
}

/// A return type that came through a `macro_rules!` fragment arrives wrapped in an invisible
/// group; unwrapping it keeps `collect::<R>` readable in expansions. The type is unchanged.
fn strip_group(ty: &Type) -> &Type {
    match ty {
        Type::Group(group) => strip_group(&group.elem),
        other => other,
    }
}

/// What follows the errors: the function, no longer `async`, with no arguments or generics and
/// a body that is never run. It keeps `main` defined and callers of the function resolving, so
/// the only errors shown are the attribute's.
fn stand_in(mac: Macro, func: ItemFn) -> TokenStream {
    let ItemFn {
        attrs,
        vis,
        mut sig,
        ..
    } = func;
    sig.asyncness = None;
    sig.constness = None;
    sig.inputs = Default::default();
    sig.variadic = None;
    sig.generics = Default::default();
    let attrs = match mac.kind {
        Kind::Main => attrs,
        // Without `#[test]` the stand-in is never called: keep it out of the test harness and
        // out of the dead-code lint.
        Kind::Test => attrs
            .into_iter()
            .filter(|attr| !is_test_attr(attr))
            .collect(),
    };
    quote! {
        #(#attrs)*
        #[allow(dead_code)]
        #vis #sig {
            ::core::unreachable!()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expands and pretty-prints, so expected shapes read like code.
    /// `#[runtime::main]` or `#[runtime::test]`.
    fn runtime(kind: Kind) -> Macro {
        Macro {
            kind,
            krate: "runtime",
        }
    }

    fn expand_str(kind: Kind, args: &str, item: &str) -> String {
        expand_as(runtime(kind), args, item)
    }

    fn expand_as(mac: Macro, args: &str, item: &str) -> String {
        let out = expand(mac, args.parse().unwrap(), item.parse().unwrap());
        let file: syn::File = syn::parse2(out.clone())
            .unwrap_or_else(|err| panic!("expansion is not a file ({err}): {out}"));
        normalize(&file.to_token_stream().to_string())
    }

    fn normalize(s: &str) -> String {
        s.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    fn expected(tokens: TokenStream) -> String {
        normalize(&tokens.to_string())
    }

    /// The errors of an expansion, as (message, source text under the span).
    fn errors(kind: Kind, args: &str, item: &str) -> Vec<(String, String)> {
        let args: TokenStream = args.parse().unwrap();
        let item: TokenStream = item.parse().unwrap();
        let func: ItemFn = syn::parse2(item).unwrap();
        let parsed = syn::parse2::<Args>(args);
        let mut all = Vec::new();
        if let Err(err) = &parsed {
            all.extend(err.clone());
        }
        if let Err(err) = check(runtime(kind), &func, parsed.as_ref().ok()) {
            all.extend(err);
        }
        all.into_iter()
            .map(|err| {
                let text = err.span().source_text().unwrap_or_default();
                (err.to_string(), text)
            })
            .collect()
    }

    #[test]
    fn main_runs_the_body_on_one_core() {
        let got = expand_str(Kind::Main, "", "async fn main() { work().await }");
        let want = expected(quote! {
            fn main() {
                let rt = match ::runtime::Builder::new()
                    .cores(1usize).build() {
                    ::core::result::Result::Ok(rt) => rt,
                    ::core::result::Result::Err(err) => ::core::panic!(
                        "failed to start the io_uring runtime of #[runtime::main]: {}",
                        err
                    ),
                };
                rt.block_on(async move { work().await })
            }
        });
        assert_eq!(got, want);
    }

    #[test]
    fn main_keeps_attributes_visibility_name_and_return_type() {
        let got = expand_str(
            Kind::Main,
            "entries = 64, cq_entries = 256, sqpoll_idle_ms = 5",
            "/// Docs.\n#[inline(never)] pub(crate) async fn serve() -> std::io::Result<()> { Ok(()) }",
        );
        let want = expected(quote! {
            #[doc = " Docs."]
            #[inline(never)]
            pub(crate) fn serve() -> std::io::Result<()> {
                let rt = match ::runtime::Builder::new()
                    .cores(1usize)
                    .entries(64u32)
                    .cq_entries(256u32)
                    .sqpoll_idle(::core::time::Duration::from_millis(5u64)).build() {
                    ::core::result::Result::Ok(rt) => rt,
                    ::core::result::Result::Err(err) => ::core::panic!(
                        "failed to start the io_uring runtime of #[runtime::main]: {}",
                        err
                    ),
                };
                rt.block_on(async move { Ok(()) })
            }
        });
        assert_eq!(got, want);
    }

    #[test]
    fn main_with_cores_runs_per_core_and_collects_into_the_return_type() {
        let got = expand_str(
            Kind::Main,
            "cores = 4",
            "async fn main() -> Result<(), E> { Ok(()) }",
        );
        let want = expected(quote! {
            fn main() -> Result<(), E> {
                let rt = match ::runtime::Builder::new()
                    .cores(4usize).build() {
                    ::core::result::Result::Ok(rt) => rt,
                    ::core::result::Result::Err(err) => ::core::panic!(
                        "failed to start the io_uring runtime of #[runtime::main]: {}",
                        err
                    ),
                };
                ::core::iter::Iterator::collect::<Result<(), E> >(
                    ::core::iter::IntoIterator::into_iter(
                        rt.run_per_core(move |_: usize| async move {
                            let out: Result<(), E> = async move { Ok(()) }.await;
                            out
                        }),
                    )
                )
            }
        });
        assert_eq!(got, want);
    }

    #[test]
    fn facade_main_names_the_facade() {
        let mac = Macro {
            kind: Kind::Main,
            krate: "ringloop",
        };
        let got = expand_as(mac, "", "async fn main() {}");
        assert!(got.contains(":: ringloop :: Builder :: new ()"), "{got}");
        assert!(got.contains("of #[ringloop::main]: {}"), "{got}");
    }

    #[test]
    fn crate_argument_replaces_the_path() {
        let got = expand_str(
            Kind::Test,
            r#"crate = "rl", entries = 8"#,
            "async fn t() {}",
        );
        assert!(got.contains("match rl :: Builder :: new ()"), "{got}");
        assert!(!got.contains(":: runtime"), "{got}");
    }

    #[test]
    fn setup_error_is_shown_with_display() {
        let got = expand_str(Kind::Main, "", "async fn main() {}");
        assert!(got.contains("of #[runtime::main]: {}\" , err"), "{got}");
        assert!(!got.contains("expect"), "{got}");
    }

    #[test]
    fn main_with_one_core_uses_block_on() {
        let got = expand_str(Kind::Main, "cores = 1", "async fn main() {}");
        assert!(got.contains("rt . block_on"), "{got}");
        assert!(!got.contains("run_per_core"), "{got}");
    }

    #[test]
    fn per_core_main_without_return_type_collects_unit() {
        let got = expand_str(Kind::Main, "cores = 2", "async fn main() {}");
        assert!(got.contains("collect :: < () >"), "{got}");
    }

    #[test]
    fn test_is_marked_and_keeps_its_attributes() {
        let got = expand_str(
            Kind::Test,
            "entries = 8",
            "#[should_panic] async fn it_panics() -> Result<(), String> { Ok(()) }",
        );
        let want = expected(quote! {
            #[should_panic]
            #[::core::prelude::v1::test]
            fn it_panics() -> Result<(), String> {
                let rt = match ::runtime::Builder::new()
                    .cores(1usize)
                    .entries(8u32).build() {
                    ::core::result::Result::Ok(rt) => rt,
                    ::core::result::Result::Err(err) => ::core::panic!(
                        "failed to start the io_uring runtime of #[runtime::test]: {}",
                        err
                    ),
                };
                rt.block_on(async move { Ok(()) })
            }
        });
        assert_eq!(got, want);
    }

    #[test]
    fn test_accepts_one_core() {
        assert!(errors(Kind::Test, "cores = 1", "async fn t() {}").is_empty());
    }

    #[test]
    fn not_async_points_at_fn() {
        let errs = errors(Kind::Main, "", "fn main() {}");
        assert_eq!(
            errs,
            [(
                "the `async` keyword is missing from the function declaration".to_owned(),
                "fn".to_owned()
            )]
        );
    }

    #[test]
    fn arguments_point_at_the_parameters() {
        let errs = errors(Kind::Main, "", "async fn main(a: u8, b: u8) {}");
        assert_eq!(errs.len(), 1);
        assert_eq!(
            errs[0].0,
            "the function cannot take arguments under #[runtime::main]"
        );
        assert_eq!(errs[0].1, "a: u8, b: u8");
    }

    #[test]
    fn generics_and_where_clause_point_at_themselves() {
        let errs = errors(Kind::Test, "", "async fn t<T: Send>() where T: Sync {}");
        let texts: Vec<&str> = errs.iter().map(|(_, text)| text.as_str()).collect();
        assert_eq!(texts, ["<T: Send>", "where T: Sync"]);
    }

    #[test]
    fn test_rejects_more_than_one_core_at_the_value() {
        let errs = errors(Kind::Test, "entries = 8, cores = 4", "async fn t() {}");
        assert_eq!(errs.len(), 1);
        assert!(
            errs[0]
                .0
                .starts_with("#[runtime::test] runs the test on its own thread")
        );
        assert_eq!(errs[0].1, "4");
    }

    #[test]
    fn main_accepts_more_than_one_core() {
        assert!(errors(Kind::Main, "cores = 4", "async fn main() {}").is_empty());
    }

    #[test]
    fn second_test_attribute_is_rejected() {
        let errs = errors(Kind::Test, "", "#[test] async fn t() {}");
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].1, "#[test]");
    }

    #[test]
    fn argument_and_signature_errors_are_reported_together() {
        let errs = errors(Kind::Main, "cores = 0", "fn main(x: u8) {}");
        let texts: Vec<&str> = errs.iter().map(|(_, text)| text.as_str()).collect();
        assert_eq!(texts, ["0", "fn", "x: u8"]);
    }

    #[test]
    fn error_output_keeps_a_stand_in_function() {
        let out = expand(
            runtime(Kind::Main),
            quote!(cores = 0),
            quote!(
                pub async fn main(x: u8) -> Result<(), E> {
                    x
                }
            ),
        )
        .to_string();
        assert!(out.contains("compile_error"), "{out}");
        let want = normalize(
            &quote! {
                #[allow(dead_code)]
                pub fn main() -> Result<(), E> { ::core::unreachable!() }
            }
            .to_string(),
        );
        assert!(normalize(&out).ends_with(&want), "{out}");
    }

    #[test]
    fn test_stand_in_is_not_a_test() {
        let out = expand(
            runtime(Kind::Test),
            quote!(cores = 2),
            quote!(
                #[test]
                async fn t() {}
            ),
        );
        let out = normalize(&out.to_string());
        assert!(!out.contains("# [test]"), "{out}");
        assert!(
            out.ends_with("# [allow (dead_code)] fn t () { :: core :: unreachable ! () }"),
            "{out}"
        );
    }

    #[test]
    fn non_function_is_reported_and_passed_through() {
        let out = expand(
            runtime(Kind::Main),
            TokenStream::new(),
            quote!(
                struct S;
            ),
        )
        .to_string();
        assert!(out.contains("compile_error"), "{out}");
        assert!(
            out.contains("#[runtime::main] applies to an `async fn`"),
            "{out}"
        );
        assert!(normalize(&out).ends_with("struct S ;"), "{out}");
    }
}
