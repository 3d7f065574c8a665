//! Runnable examples of the runtime live in `examples/` of this crate (`cargo run -p examples
//! --example NAME`).
