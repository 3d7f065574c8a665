//! `#[ringloop::main]` and `#[ringloop::test]` (also `#[runtime::main]`, `#[runtime::test]`):
//! run an `async fn` on the io_uring runtime.
//!
//! Use them through the `ringloop` crate (or the `runtime` crate), which re-exports them as
//! `main` and `test`. The expansion names `::ringloop::Builder` (or `::runtime::Builder`), so
//! that crate must be a dependency under that name; for a renamed dependency, say where it is
//! with `crate = "path"`, as with tokio's macros:
//!
//! ```ignore
//! // Cargo.toml: rl = { package = "ringloop", version = "0.1" }
//! #[rl::main(crate = "rl")]
//! async fn main() {}
//! ```
//!
//! # A program
//!
//! ```ignore
//! #[runtime::main]
//! async fn main() -> std::io::Result<()> {
//!     // ...
//!     Ok(())
//! }
//! ```
//!
//! becomes a plain `fn main() -> std::io::Result<()>` that builds a runtime with
//! `runtime::Builder` and drives the body to completion on the calling thread with
//! `Runtime::block_on`.
//!
//! # One worker per core
//!
//! ```ignore
//! #[runtime::main(cores = 4, entries = 1024)]
//! async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//!     // Runs four times at once, once on each of four pinned workers.
//!     Ok(())
//! }
//! ```
//!
//! With `cores` above 1 the body is run by `Runtime::run_per_core`, once on each worker, and
//! the workers' results are collected into the return type with `FromIterator`: `()` stays
//! `()`, and a `Result<(), E>` is the first error, if any. So the return type must be `()` or a
//! `Result<(), E>` with `E: Send` (it crosses from the worker threads back to `main`).
//!
//! # A test
//!
//! ```ignore
//! #[runtime::test(entries = 8)]
//! async fn reads_back_what_it_wrote() -> std::io::Result<()> {
//!     // ...
//!     Ok(())
//! }
//! ```
//!
//! becomes a `#[test]` function that builds its own runtime and runs the body with
//! `Runtime::block_on`. Other attributes (`#[ignore]`, `#[should_panic]`, doc comments) are
//! kept.
//!
//! # Arguments
//!
//! Each but `crate` is an integer literal, and each maps to one `runtime::Builder` setter:
//!
//! | argument              | setter                                            | notes                             |
//! |-----------------------|---------------------------------------------------|-----------------------------------|
//! | `cores = 4`           | `Builder::cores(4)`                               | at least 1; only 1 for a test     |
//! | `entries = 256`       | `Builder::entries(256)`                           | submission queue size, at least 1 |
//! | `cq_entries = 512`    | `Builder::cq_entries(512)`                        | completion queue size, at least 1 |
//! | `sqpoll_idle_ms = 10` | `Builder::sqpoll_idle(Duration::from_millis(10))` |                                   |
//!
//! and `crate = "path"`, a string literal: the path of the runtime crate the expansion names.
//!
//! When `cores` is left out, `Builder::cores(1)` is used: `block_on` runs on the one calling
//! thread.
//!
//! # Errors
//!
//! Misuse is a compile error on the offending token: a function without `async`, with
//! parameters or generics, an unknown or repeated argument, a value that is not an integer
//! literal of the right range, `cores = 0`, and `cores` above 1 on a test.
//!
//! If the runtime cannot start (io_uring disabled by `kernel.io_uring_disabled`, denied by a
//! seccomp filter, too old a kernel, a queue size the kernel refuses), the generated function
//! panics with "failed to start the io_uring runtime of #\[runtime::main\]: " followed by the
//! `io::Error` as `Display` shows it (what failed, and what to do about it).

mod args;
mod expand;

use proc_macro::TokenStream;

use crate::expand::{Kind, Macro};

/// Runs `async fn main` (or any argument-less `async fn`) on the io_uring runtime.
///
/// The function keeps its name, visibility, attributes and return type and becomes a plain
/// `fn` that builds a runtime and runs the body to completion. With `cores = N` above 1, the
/// body runs once on each of `N` pinned workers and their outputs are collected into the
/// return type, which must then be `()` or `Result<(), E>` with `E: Send`.
///
/// Arguments: `cores`, `entries`, `cq_entries`, `sqpoll_idle_ms`, each `= <integer literal>`,
/// and `crate = "path"`; see the crate documentation.
///
/// # Examples
///
/// ```ignore
/// #[runtime::main(entries = 256)]
/// async fn main() {
///     println!("on the runtime");
/// }
/// ```
///
/// # Panics
///
/// The generated function panics if the runtime cannot be built, with the `io::Error` that
/// `Builder::build` returned.
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand(RUNTIME_MAIN, args.into(), item.into()).into()
}

/// Runs an `async fn` test on a runtime of its own, on the test's thread.
///
/// The function becomes a `#[test] fn` with the same name, attributes and return type (a
/// `Result` works as with a plain test). Arguments: `entries`, `cq_entries`,
/// `sqpoll_idle_ms`, `crate = "path"`, and `cores = 1` (the only value a test accepts).
///
/// # Examples
///
/// ```ignore
/// #[runtime::test]
/// async fn answers() {
///     assert_eq!(async { 42 }.await, 42);
/// }
/// ```
///
/// # Panics
///
/// The test panics, so fails, if the runtime cannot be built.
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand(RUNTIME_TEST, args.into(), item.into()).into()
}

/// `#[ringloop::main]`: [`macro@main`] as the `ringloop` crate re-exports it; its expansion
/// names `::ringloop` (or the `crate = "path"` given).
///
/// # Examples
///
/// ```ignore
/// #[ringloop::main(entries = 256)]
/// async fn main() -> std::io::Result<()> {
///     ringloop::time::sleep(std::time::Duration::from_millis(1)).await;
///     Ok(())
/// }
/// ```
///
/// # Panics
///
/// The generated function panics if the runtime cannot be built, with the `io::Error` that
/// `Builder::build` returned.
#[proc_macro_attribute]
pub fn ringloop_main(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand(RINGLOOP_MAIN, args.into(), item.into()).into()
}

/// `#[ringloop::test]`: [`macro@test`] as the `ringloop` crate re-exports it; its expansion
/// names `::ringloop` (or the `crate = "path"` given).
///
/// # Examples
///
/// ```ignore
/// #[ringloop::test]
/// async fn answers() {
///     assert_eq!(async { 42 }.await, 42);
/// }
/// ```
///
/// # Panics
///
/// The test panics, so fails, if the runtime cannot be built.
#[proc_macro_attribute]
pub fn ringloop_test(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand(RINGLOOP_TEST, args.into(), item.into()).into()
}

const RUNTIME_MAIN: Macro = Macro {
    kind: Kind::Main,
    krate: "runtime",
};
const RUNTIME_TEST: Macro = Macro {
    kind: Kind::Test,
    krate: "runtime",
};
const RINGLOOP_MAIN: Macro = Macro {
    kind: Kind::Main,
    krate: "ringloop",
};
const RINGLOOP_TEST: Macro = Macro {
    kind: Kind::Test,
    krate: "ringloop",
};
