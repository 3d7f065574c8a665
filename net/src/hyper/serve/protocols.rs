//! HTTP/2 beside HTTP/1.1 (feature `hyper-http2`): which versions a [`Server`](super::Server)
//! speaks, and telling them apart by a connection's first bytes.

use std::error::Error as StdError;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use ::hyper::body::{Body, Incoming};
use ::hyper::rt::{Read, ReadBuf, ReadBufCursor, Write};
use ::hyper::server::conn::{http1, http2};
use ::hyper::service::HttpService;

use super::{Connection, drive};
use crate::hyper::{HyperIo, RuntimeExecutor};

/// Which HTTP versions a [`Server`](super::Server) speaks ([`Server::protocols`](super::Server::protocols)).
///
/// HTTP/2 here is cleartext with prior knowledge ("h2c": the client knows the server speaks
/// it, as gRPC clients and proxies configured for it do); there is no TLS, so no ALPN, and
/// no HTTP/1.1 `Upgrade: h2c`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Protocols {
    /// HTTP/1.1 only.
    Http1,
    /// HTTP/2 only: a connection that does not open with HTTP/2's preface ends with an error.
    Http2,
    /// Both, per connection: HTTP/2 when the client's first bytes are HTTP/2's connection
    /// preface, HTTP/1.1 otherwise. A connection that sends nothing for
    /// [`FIRST_BYTES_TIMEOUT`] is closed, as hyper's `header_read_timeout` closes an HTTP/1.1
    /// one.
    #[default]
    Auto,
}

/// The client connection preface of HTTP/2 (RFC 9113, section 3.4).
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// How long [`Protocols::Auto`] waits for the bytes that tell the versions apart (hyper's
/// default `header_read_timeout`).
pub const FIRST_BYTES_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves one connection under [`Protocols::Auto`]: waits until its first bytes are
/// HTTP/2's preface or differ from it, then hands the connection to hyper's HTTP/2 or
/// HTTP/1.1 server. The bytes are looked at where they wait in the `HyperIo`, not taken,
/// unless the first receive brought only part of the preface: then they are taken, and
/// handed to hyper first ([`Rewind`]). A connection still undecided when the server drains
/// closes (it has no request in flight); one that is aborted, ends or times out is counted
/// as [`Served`](super::Served) says.
pub(super) async fn sniff_and_serve<T, S, B>(
    mut io: HyperIo<T>,
    http1: http1::Builder,
    http2: http2::Builder<RuntimeExecutor>,
    service: S,
    guard: Connection,
) where
    T: Unpin + 'static,
    S: HttpService<Incoming, ResBody = B> + 'static,
    S::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: Body + 'static,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let mut taken = Taken {
        bytes: [0; PREFACE.len()],
        len: 0,
    };
    let decided = std::future::poll_fn(|cx| {
        let state = &guard.state;
        if state.aborted.get() || state.draining.get() {
            return Poll::Ready(Ok(None));
        }
        guard.register(cx.waker());
        taken.poll_decide(&mut io, cx).map_ok(Some)
    });
    let version = match runtime::time::timeout(FIRST_BYTES_TIMEOUT, decided).await {
        Ok(Ok(Some(version))) => version,
        // Drained or aborted before the client said anything: nothing to finish.
        Ok(Ok(None)) => {
            if guard.state.aborted.get() {
                guard.state.served.borrow_mut().aborted += 1;
            }
            return;
        }
        Ok(Err(e)) => return failed(&guard, &e),
        Err(elapsed) => return failed(&guard, &io::Error::from(elapsed)),
    };
    match (version, taken.len) {
        (Version::Http2, 0) => {
            let conn = http2.serve_connection(io, service);
            drive(conn, |c| c.graceful_shutdown(), guard).await;
        }
        (Version::Http1, 0) => {
            let conn = http1.serve_connection(io, service);
            drive(conn, |c| c.graceful_shutdown(), guard).await;
        }
        (Version::Http2, _) => {
            let conn = http2.serve_connection(Rewind::new(taken, io), service);
            drive(conn, |c| c.graceful_shutdown(), guard).await;
        }
        (Version::Http1, _) => {
            let conn = http1.serve_connection(Rewind::new(taken, io), service);
            drive(conn, |c| c.graceful_shutdown(), guard).await;
        }
    }
}

fn failed(guard: &Connection, e: &io::Error) {
    guard.state.served.borrow_mut().errors += 1;
    tracing::debug!(error = %e, "connection, before its first request");
}

/// Which version a connection's first bytes asked for.
enum Version {
    Http1,
    Http2,
}

/// The first bytes of a connection, taken from its `HyperIo` to tell the versions apart
/// (only when the first receive brought part of the preface).
struct Taken {
    bytes: [u8; PREFACE.len()],
    len: usize,
}

impl Taken {
    /// Ready with HTTP/2 once the bytes are the whole preface, with HTTP/1.1 once they
    /// differ from it or the stream ends (hyper then reports the end).
    fn poll_decide<T: Unpin>(
        &mut self,
        io: &mut HyperIo<T>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<Version>> {
        if self.len == 0 {
            // Look without taking: the usual case ends here.
            let unread = ready!(io.poll_unread(cx))?;
            let n = unread.len().min(PREFACE.len());
            if n == 0 || unread[..n] != PREFACE[..n] {
                return Poll::Ready(Ok(Version::Http1));
            }
            if n == PREFACE.len() {
                return Poll::Ready(Ok(Version::Http2));
            }
        }
        // Part of the preface: take it, and what follows until the question is settled.
        loop {
            let mut buf = ReadBuf::new(&mut self.bytes[self.len..]);
            ready!(Pin::new(&mut *io).poll_read(cx, buf.unfilled()))?;
            let n = buf.filled().len();
            if n == 0 {
                return Poll::Ready(Ok(Version::Http1));
            }
            self.len += n;
            if self.bytes[..self.len] != PREFACE[..self.len] {
                return Poll::Ready(Ok(Version::Http1));
            }
            if self.len == PREFACE.len() {
                return Poll::Ready(Ok(Version::Http2));
            }
        }
    }
}

/// An I/O whose first reads return `bytes[pos..len]`: the bytes taken to tell the versions
/// apart, handed to hyper before anything else.
struct Rewind<I> {
    bytes: [u8; PREFACE.len()],
    len: usize,
    pos: usize,
    io: I,
}

impl<I> Rewind<I> {
    fn new(taken: Taken, io: I) -> Rewind<I> {
        Rewind {
            bytes: taken.bytes,
            len: taken.len,
            pos: 0,
            io,
        }
    }
}

impl<I: Read + Unpin> Read for Rewind<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.pos < this.len && buf.remaining() > 0 {
            let n = (this.len - this.pos).min(buf.remaining());
            buf.put_slice(&this.bytes[this.pos..this.pos + n]);
            this.pos += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl<I: Write + Unpin> Write for Rewind<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
