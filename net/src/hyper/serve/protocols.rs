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
    /// As under `Auto`, one that has not sent the preface within
    /// [`Server::first_bytes_timeout`](super::Server::first_bytes_timeout) is closed, and one
    /// still without it when the server drains closes at once.
    Http2,
    /// Both, per connection: HTTP/2 when the client's first bytes are HTTP/2's connection
    /// preface, HTTP/1.1 otherwise. A connection that does not send enough to tell within
    /// [`Server::first_bytes_timeout`](super::Server::first_bytes_timeout) is closed, as
    /// hyper's `header_read_timeout` closes an HTTP/1.1 one; one that has sent nothing when the
    /// server drains closes at once.
    #[default]
    Auto,
}

/// The client connection preface of HTTP/2 (RFC 9113, section 3.4).
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The default of [`Server::first_bytes_timeout`](super::Server::first_bytes_timeout):
/// hyper's default `header_read_timeout`.
pub const FIRST_BYTES_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves one connection under [`Protocols::Auto`] or [`Protocols::Http2`]: waits until its
/// first bytes are HTTP/2's preface or differ from it, then hands the connection to hyper's
/// HTTP/2 or HTTP/1.1 server (under `Http2`, a connection that is not HTTP/2 is an error).
/// The bytes are looked at where they wait in the `HyperIo`, not taken, unless the first
/// receive brought only part of the preface: then they are taken, and handed to hyper first
/// ([`Rewind`]). A connection that has sent nothing when the server drains closes (it has no
/// request in flight); one that is aborted, ends or times out is counted as
/// [`Served`](super::Served) says.
#[allow(clippy::too_many_arguments)]
pub(super) async fn sniff_and_serve<T, S, B>(
    protocols: Protocols,
    first_bytes: Duration,
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
        if state.aborted.get() {
            return Poll::Ready(Ok(None));
        }
        guard.register(cx);
        match taken.poll_decide(&mut io, cx) {
            Poll::Ready(version) => Poll::Ready(version.map(Some)),
            // Nothing said yet: nothing to finish. Bytes taken already began an HTTP/1.1
            // request (hyper's HTTP/1.1 server finishes one it began reading), unless only
            // HTTP/2 is served; the grace period bounds the wait for the rest.
            Poll::Pending
                if state.draining.get() && (taken.len == 0 || protocols == Protocols::Http2) =>
            {
                Poll::Ready(Ok(None))
            }
            Poll::Pending => Poll::Pending,
        }
    });
    let version = match runtime::time::timeout(first_bytes, decided).await {
        Ok(Ok(Some(version))) => version,
        // Drained before the client said enough, or aborted.
        Ok(Ok(None)) => {
            if guard.state.aborted.get() {
                guard.state.served.borrow_mut().aborted += 1;
            }
            return;
        }
        Ok(Err(e)) => return failed(&guard, &e),
        Err(elapsed) => return failed(&guard, &io::Error::from(elapsed)),
    };
    if protocols == Protocols::Http2 && matches!(version, Version::Http1) {
        let e = io::Error::new(
            io::ErrorKind::InvalidData,
            "the connection did not open with HTTP/2's preface (the server speaks only HTTP/2)",
        );
        return failed(&guard, &e);
    }
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

/// An I/O whose first reads return `taken.bytes[pos..taken.len]`: the bytes taken to tell
/// the versions apart, handed to hyper before anything else.
struct Rewind<I> {
    taken: Taken,
    pos: usize,
    io: I,
}

impl<I> Rewind<I> {
    fn new(taken: Taken, io: I) -> Rewind<I> {
        Rewind { taken, pos: 0, io }
    }
}

impl<I: Read + Unpin> Read for Rewind<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let rest = &this.taken.bytes[this.pos..this.taken.len];
        if !rest.is_empty() && buf.remaining() > 0 {
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
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

#[cfg(test)]
mod tests {
    //! The sniff over both read paths of `HyperIo` (the multishot on the core's pool, and one
    //! receive at a time without a pool), over a Unix socket pair.
    use std::io::{Read as _, Write as _};
    use std::rc::Rc;

    use ::hyper::body::Bytes;
    use ::hyper::{Request, Response};
    use http_body_util::{BodyExt, Full};

    use super::*;
    use crate::UnixStream;
    use crate::hyper::RuntimeTimer;
    use crate::hyper::io::core_pool;
    use crate::hyper::serve::{Served, State};

    /// Serves one connection with `sniff_and_serve` (pool or none) while a client thread
    /// writes `bytes` cut at `cuts` (15 ms apart) and reads until the server closes, or
    /// `read_only` bytes. Returns what the client read and what the server counted.
    fn run(
        pool: bool,
        bytes: Vec<u8>,
        cuts: Vec<usize>,
        read_only: Option<usize>,
    ) -> (Vec<u8>, Served) {
        let (a, b) = std::os::unix::net::UnixStream::pair().expect("pair");
        let client = std::thread::spawn(move || {
            let mut a = a;
            let mut from = 0;
            for cut in cuts {
                a.write_all(&bytes[from..cut]).expect("segment");
                std::thread::sleep(Duration::from_millis(15));
                from = cut;
            }
            a.write_all(&bytes[from..]).expect("rest");
            a.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut got = Vec::new();
            match read_only {
                None => {
                    let _ = a.read_to_end(&mut got);
                }
                Some(n) => {
                    got.resize(n, 0);
                    a.read_exact(&mut got).expect("first bytes");
                }
            }
            got
        });
        let served = runtime::Runtime::new()
            .expect("runtime")
            .block_on(async move {
                let state = Rc::new(State::default());
                let pool = if pool { core_pool() } else { None };
                let io = HyperIo::with_pool(UnixStream::from_std(b), pool.as_ref());
                let guard = Connection::open(&state);
                let mut h1 = http1::Builder::new();
                h1.timer(RuntimeTimer);
                let mut h2 = http2::Builder::new(RuntimeExecutor);
                h2.timer(RuntimeTimer);
                let svc = ::hyper::service::service_fn(|req: Request<Incoming>| async move {
                    let head = format!("{} {}|", req.method(), req.uri().path());
                    let body = req.into_body().collect().await?.to_bytes();
                    let mut out = head.into_bytes();
                    out.extend_from_slice(&body);
                    Ok::<_, ::hyper::Error>(Response::new(Full::new(Bytes::from(out))))
                });
                sniff_and_serve(Protocols::Auto, FIRST_BYTES_TIMEOUT, io, h1, h2, svc, guard).await;
                *state.served.borrow()
            });
        (client.join().expect("client"), served)
    }

    const PIPELINED: &[u8] = b"PRI * HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n\
POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nhello\
GET /last HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n";

    fn check(got: &[u8], what: &str) {
        let got = String::from_utf8_lossy(got);
        let bodies: Vec<_> = got
            .split("\r\n\r\n")
            .skip(1)
            .map(|s| s.split("HTTP/1.1").next().unwrap_or(""))
            .collect();
        assert_eq!(
            bodies,
            ["PRI *|", "POST /echo|hello", "GET /last|"],
            "{what}: {got:?}"
        );
    }

    #[test]
    fn pipelined_http1_cut_anywhere_both_read_paths() {
        for pool in [true, false] {
            for k in 1..40 {
                let (got, served) = run(pool, PIPELINED.to_vec(), vec![k], None);
                check(&got, &format!("pool {pool} cut {k}"));
                assert_eq!((served.connections, served.errors), (1, 0), "{served:?}");
            }
            let (got, _) = run(pool, PIPELINED.to_vec(), (1..=24).collect(), None);
            check(&got, &format!("pool {pool}, a byte a segment"));
        }
    }

    #[test]
    fn preface_cut_anywhere_both_read_paths() {
        let mut bytes = PREFACE.to_vec();
        bytes.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
        for pool in [true, false] {
            for cuts in (1..24).map(|k| vec![k]).chain([(1..=24).collect()]) {
                // The server's first frame: SETTINGS (type 4).
                let (got, _) = run(pool, bytes.clone(), cuts.clone(), Some(9));
                assert_eq!(got[3], 4, "pool {pool} cuts {cuts:?}: {got:?}");
            }
        }
    }
}
