//! An HTTP/1.1 "Hello, world!" server: hyper 1.x on the io_uring runtime, through
//! `net::compat::Compat`.
//!
//! ```text
//! cargo run -p examples --example http -- [PORT]     # or PORT=8080; default 8080
//! curl http://127.0.0.1:8080/
//! curl --data-binary @some-file http://127.0.0.1:8080/echo
//! ```
//!
//! One core serves every connection; run it per core with `SO_REUSEPORT` to use more.

use std::io;

use net::TcpListener;

#[runtime::main]
async fn main() -> io::Result<()> {
    let port: u16 = match std::env::args()
        .nth(1)
        .or_else(|| std::env::var("PORT").ok())
    {
        Some(p) => p.parse().map_err(|e| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("bad port {p:?}: {e}"))
        })?,
        None => 8080,
    };
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on http://{}/", listener.local_addr());
    examples::http::serve(listener).await
}
