//! ringloop: a thread-per-core async runtime on Linux io_uring, in one crate.
//!
//! This crate is the one to depend on. It re-exports the runtime (executor, timers, buffers,
//! channels, builder) at its root, and the sockets and files as [`net`] and [`fs`]:
//!
//! | here | what | defined in |
//! | --- | --- | --- |
//! | [`main`], [`test`] | `#[ringloop::main]`, `#[ringloop::test]` | `ringloop-macros` |
//! | [`Runtime`], [`Builder`], [`spawn`], [`spawn_on`], [`spawn_blocking`], [`time`], [`sync`], [`buf`], … | the executor | `ringloop-runtime` (`runtime::`) |
//! | [`net`] | TCP, UDP, Unix sockets; [`net::compat`] with the `tokio`/`futures-io` features, `net::hyper` with `hyper` (and HTTP/2 with `hyper-http2`) | `ringloop-net` |
//! | [`fs`] | files and directories | `ringloop-fs` |
//!
//! Everything the runtime crate exports appears here under the same name, so
//! `runtime::time::sleep` is `ringloop::time::sleep`. Coming from tokio? `docs/coming-from-tokio.md`
//! has a table of equivalents; the one habit to change is buffer passing: reads and writes
//! take an owned buffer (a `Vec<u8>`) and hand it back with the result, because the kernel
//! owns it until the operation completes.
//!
//! ```
//! use ringloop::net::{TcpListener, TcpStream};
//!
//! #[ringloop::main]
//! async fn main() -> std::io::Result<()> {
//!     let listener = TcpListener::bind("127.0.0.1:0").await?;
//!     let addr = listener.local_addr()?;
//!     let client = ringloop::spawn(async move {
//!         let stream = TcpStream::connect(addr).await?;
//!         let (res, _) = stream.write_all(b"ping".to_vec()).await;
//!         res
//!     });
//!     let (server, _) = listener.accept().await?;
//!     // The buffer goes in and comes back with the result.
//!     let (res, buf) = server.read(Vec::with_capacity(16)).await;
//!     assert_eq!(&buf[..res?], b"ping");
//!     client.await??;
//!     Ok(())
//! }
//! ```
//!
//! A renamed dependency (`rl = { package = "ringloop", .. }`) tells the macros where it is:
//! `#[rl::main(crate = "rl")]`.

pub use fs;
pub use net;
/// The io_uring bindings the runtime is built on: opcodes for [`op_supported`], `prep_*`
/// helpers for defining your own [`op::Operation`].
pub use uring_sys;

// The whole runtime, so that what it gains later is here too without a change to this crate.
pub use runtime::*;

// These two shadow the `runtime::{main, test}` of the glob above, whose expansion names the
// `runtime` crate (not a dependency of a program that depends on this crate alone).
pub use runtime_macros::{ringloop_main as main, ringloop_test as test};
