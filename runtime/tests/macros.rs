//! `#[runtime::main]` and `#[runtime::test]`: what they accept, run and return
//! (the tests below), and what they reject, with the error where it points (`tests/ui`).

use std::error::Error;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Each misuse in `tests/ui/*.rs` is a compile error whose text and span are pinned in the
/// `.stderr` beside it. After changing a message, refresh them with `TRYBUILD=overwrite`.
#[test]
fn compile_fail() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}

#[runtime::test]
async fn test_runs_the_body_to_completion() {
    let n = async { 40 }.await + 2;
    assert_eq!(n, 42);
}

#[runtime::test]
async fn test_may_return_ok() -> Result<(), Box<dyn Error>> {
    let n: u32 = "7".parse()?;
    assert_eq!(n, 7);
    Ok(())
}

#[runtime::test]
#[should_panic(expected = "panicked inside the runtime")]
async fn test_panic_fails_the_test() {
    panic!("panicked inside the runtime");
}

#[runtime::test]
#[ignore = "shows that other attributes are kept: this body would fail"]
async fn test_keeps_other_attributes() {
    unreachable!("an #[ignore]d test is not run");
}

#[runtime::test(cores = 1, entries = 8, cq_entries = 16)]
async fn test_takes_queue_sizes() {
    assert_eq!(async { "sized" }.await, "sized");
}

/// A `main` under another name is an ordinary function that callers run to completion.
#[runtime::main]
async fn answer() -> u32 {
    async { 42 }.await
}

#[test]
fn main_returns_the_body_output() {
    assert_eq!(answer(), 42);
}

#[runtime::main(entries = 32)]
async fn return_early() -> &'static str {
    if async { true }.await {
        return "early";
    }
    "late"
}

#[test]
fn main_return_leaves_the_body() {
    assert_eq!(return_early(), "early");
}

#[runtime::main]
async fn fails_with_question_mark() -> Result<u32, Box<dyn Error>> {
    let n: u32 = "not a number".parse()?;
    Ok(n)
}

#[test]
fn main_question_mark_converts_the_error() {
    let err = fails_with_question_mark().unwrap_err();
    assert_eq!(err.to_string(), "invalid digit found in string");
}

mod visibility {
    #[runtime::main]
    pub(crate) async fn visible_from_the_parent() -> bool {
        true
    }
}

#[test]
fn main_keeps_the_visibility() {
    assert!(visibility::visible_from_the_parent());
}

static PER_CORE_RUNS: AtomicUsize = AtomicUsize::new(0);

#[runtime::main(cores = 2)]
async fn on_each_core() {
    PER_CORE_RUNS.fetch_add(1, Ordering::SeqCst);
}

#[test]
fn per_core_main_runs_the_body_once_per_core() {
    on_each_core();
    assert_eq!(PER_CORE_RUNS.load(Ordering::SeqCst), 2);
}

static PER_CORE_OK_RUNS: AtomicUsize = AtomicUsize::new(0);

#[runtime::main(cores = 2)]
async fn per_core_ok() -> Result<(), Box<dyn Error + Send + Sync>> {
    let n: u8 = "1".parse()?;
    PER_CORE_OK_RUNS.fetch_add(usize::from(n), Ordering::SeqCst);
    Ok(())
}

#[test]
fn per_core_main_collects_ok_results() {
    per_core_ok().unwrap();
    assert_eq!(PER_CORE_OK_RUNS.load(Ordering::SeqCst), 2);
}

#[runtime::main(cores = 2, entries = 16)]
async fn per_core_err() -> Result<(), String> {
    if async { true }.await {
        return Err("a worker failed".to_owned());
    }
    Ok(())
}

#[test]
fn per_core_main_returns_a_worker_error() {
    assert_eq!(per_core_err(), Err("a worker failed".to_owned()));
}

/// Compiled, not run: SQPOLL may need privileges the test machine lacks.
#[allow(dead_code)]
#[runtime::main(sqpoll_idle_ms = 10)]
async fn with_sqpoll_idle() {}
