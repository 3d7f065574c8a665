//! Runnable examples of the runtime live in `examples/` of this crate (`cargo run -p examples
//! --example NAME`); what they share is here.
//!
//! - [`http`]: hyper 1.x on the runtime (the `http` example and its integration test).

pub mod http;
