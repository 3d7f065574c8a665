//! TCP, UDP and Unix sockets on the io_uring runtime.
//!
//! Every I/O method is an io_uring op (one per file under `op/`): it takes an owned buffer
//! and gives it back with the result, because the kernel may write into the buffer until the
//! completion arrives. Dropping a future cancels its op; the buffer is freed only after the
//! kernel is done with it. Sockets close on drop without blocking the core.
//!
//! - TCP: [`TcpListener`] (`accept`, multishot [`Incoming`]), [`TcpStream`] (read/write,
//!   `read_exact`/`write_all`, `writev`, zero-copy `send_zc`, `recv_stream` on the core's
//!   provided buffers, `shutdown`, `into_split`), [`TcpSocket`] for options.
//! - UDP: [`UdpSocket`]. Unix: [`UnixListener`], [`UnixStream`], [`UnixDatagram`].
//! - Names (`"localhost:8080"`) resolve on the blocking pool ([`ToAddrs`]).
//! - Ecosystem crates (hyper, …): `compat::Compat` gives the streams poll-based
//!   `AsyncRead`/`AsyncWrite` of `futures-io` and tokio (features `futures-io`, `tokio`);
//!   with feature `hyper`, [`hyper`](mod@hyper) runs hyper 1.x natively (its I/O, executor and
//!   timer traits, and a per-core HTTP/1.1 server).

#[cfg(any(feature = "futures-io", feature = "tokio"))]
pub mod compat;
mod datagram;
mod fd;
mod forward;
#[cfg(feature = "hyper")]
pub mod hyper;
mod io_impls;
mod kept;
mod op;
mod resolve;
mod send_queue;
mod stream;
mod tcp;
mod udp;
mod unix;
mod waker_slot;

pub use resolve::ToAddrs;
pub use send_queue::SendQueue;
pub use stream::{ForwardTarget, RecvStream};
pub use tcp::{
    Incoming, IntoStdError, OwnedReadHalf, OwnedWriteHalf, TcpListener, TcpSocket, TcpStream,
};
pub use udp::UdpSocket;
pub use unix::{UnixDatagram, UnixListener, UnixStream};
