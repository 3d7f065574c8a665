//! Part 3, a hyper 1.x server: the accept loop of hyper's own tokio example, with
//! hyper-util's tokio adapters swapped for the runtime's (facade feature `hyper`).
//!
//! The tokio original:
//!
//! ```text
//! use hyper::server::conn::http1;
//! use hyper::service::service_fn;
//! use hyper_util::rt::{TokioIo, TokioTimer};
//! use tokio::net::TcpListener;
//!
//! pub async fn serve(listener: TcpListener) -> io::Result<()> {
//!     loop {
//!         let (stream, _) = listener.accept().await?;
//!         let io = TokioIo::new(stream);
//!         tokio::spawn(async move {
//!             let _ = http1::Builder::new()
//!                 .timer(TokioTimer::new())
//!                 .header_read_timeout(HEADER_READ_TIMEOUT)
//!                 .serve_connection(io, service_fn(hello))
//!                 .await;
//!         });
//!     }
//! }
//! ```
//!
//! What changed, line for line (`hello`, the service, is untouched):
//!
//! ```text
//! - use hyper_util::rt::{TokioIo, TokioTimer};      + use ringloop::net::hyper::{HyperIo, RuntimeTimer};
//! - use tokio::net::TcpListener;                    + use ringloop::net::TcpListener;
//! - let io = TokioIo::new(stream);                  + let io = HyperIo::new(stream);
//! - tokio::spawn(..)                                + ringloop::spawn(..)
//! - .timer(TokioTimer::new())                       + .timer(RuntimeTimer)
//! ```
//!
//! `ringloop::net::hyper::Server` does this loop for you, with a connection limit, graceful
//! shutdown and one listener per core (see `examples/src/http.rs`); the loop is written out
//! here because that is what the tokio program has.

use std::convert::Infallible;
use std::io;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use ringloop::net::TcpListener;
use ringloop::net::hyper::{HyperIo, RuntimeTimer};

/// How long a connection may take to send a request's headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// `GET /` answers "Hello, world!"; `POST /echo` sends the request body back; anything else
/// is a 404.
pub async fn hello(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut response = Response::new(Full::default());
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/") => {
            *response.body_mut() = Full::new(Bytes::from_static(b"Hello, world!"))
        }
        (&Method::POST, "/echo") => match req.into_body().collect().await {
            Ok(body) => *response.body_mut() = Full::new(body.to_bytes()),
            Err(_) => *response.status_mut() = StatusCode::BAD_REQUEST,
        },
        _ => *response.status_mut() = StatusCode::NOT_FOUND,
    }
    Ok(response)
}

/// Serves HTTP/1.1 ([`hello`]) on every connection of `listener`, a task per connection,
/// until the task running it is dropped or aborted.
///
/// # Errors
/// Accept errors.
pub async fn serve(listener: TcpListener) -> io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let io = HyperIo::new(stream);
        ringloop::spawn(async move {
            let _ = http1::Builder::new()
                .timer(RuntimeTimer)
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(io, service_fn(hello))
                .await;
        });
    }
}
