//! The HTTP benchmark (`cargo run --release -p benches --bin http`): hyper on this runtime
//! ([`net::hyper::Server`]) against hyper on tokio (current_thread and multi_thread), as
//! child processes ([`server`]), behind our own load generator ([`load`]): keep-alive
//! HTTP/1.1, optional pipelining, every response verified, latency percentiles.

pub mod load;
pub mod server;

pub use server::Kind;
