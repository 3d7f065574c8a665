//! hyper 1.x on this runtime (feature `hyper`): the pieces hyper asks a runtime for, and an
//! HTTP/1.1 server that runs on every core; with feature `hyper-http2`, HTTP/2 as well.
//!
//! - [`HyperIo`]: hyper's `Read`/`Write` for a [`TcpStream`](crate::TcpStream) or
//!   [`UnixStream`](crate::UnixStream), for hyper's server and client connections alike.
//!   Reads come from the multishot receive on the core's provided buffers (no receive SQE,
//!   no syscall per request); writes take headers and body in one vectored call, and each
//!   flush is one `SEND` that goes out with the loop turn's single `io_uring_enter`.
//! - [`RuntimeExecutor`] (hyper's `Executor`: spawns on this core) and [`RuntimeTimer`]
//!   (hyper's `Timer`: the core's timer wheel, for `header_read_timeout` and keep-alive).
//! - [`Server`]: per core, an `SO_REUSEPORT` listener ([`bind_reuseport`]), a task per
//!   connection, a connection limit and graceful shutdown. With feature `hyper-http2` it
//!   serves HTTP/2 too, per connection as the client opens (`Protocols`).
//!
//! ```no_run
//! use http_body_util::Full;
//! use hyper::body::Bytes;
//! use net::hyper::{Server, bind_reuseport};
//!
//! let mut builder = runtime::Builder::new();
//! builder.cores(4);
//! let rt = builder.build()?;
//! let listeners = bind_reuseport("127.0.0.1:8080".parse().unwrap(), 4)?;
//! Server::new().serve_per_core(
//!     &rt,
//!     listeners,
//!     |_core| hyper::service::service_fn(|_req| async {
//!         Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(Bytes::from("hello"))))
//!     }),
//!     |_core| std::future::pending::<()>(),
//! )?;
//! # Ok::<(), std::io::Error>(())
//! ```

mod io;
mod rt;
mod serve;

pub use io::{
    DIRECT_SEND_MIN, HyperIo, HyperStream, POOL_BUF_LEN, POOL_BUFS, POOL_GROUP, WRITE_CAPACITY,
    core_pool,
};
pub use rt::{RuntimeExecutor, RuntimeTimer};
pub use serve::{DEFAULT_MAX_CONNECTIONS, Served, Server, bind_reuseport};
#[cfg(feature = "hyper-http2")]
pub use serve::{FIRST_BYTES_TIMEOUT, Protocols};
