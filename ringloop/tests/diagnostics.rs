//! Tokio habits that do not compile here get an error that says what to do instead.

#[test]
fn borrowed_buffers_are_explained() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
