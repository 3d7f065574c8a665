//! What could break the kernel's ownership of memory does not compile from safe code: each
//! file in `tests/unsafe_api/` is a misuse whose compile error is pinned in its `.stderr`.

#[test]
fn compile_fail_unsafe_powers() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/unsafe_api/*.rs");
}
