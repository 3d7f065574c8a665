//! hyper 1.x on the runtime: the glue between hyper's I/O and timer traits and ours, and a
//! small HTTP/1.1 server.
//!
//! hyper talks to its transport through `hyper::rt::{Read, Write}`. [`HyperIo`] provides
//! them over any tokio `AsyncBufRead + AsyncWrite`, such as [`net::compat::Compat`] around a
//! [`net::TcpStream`]: a read copies straight from `Compat`'s receive buffer into hyper's
//! (one copy, no unsafe). [`RuntimeTimer`] gives hyper the runtime's timers, for
//! `header_read_timeout` and keep-alive timeouts.
//!
//! # Examples
//! A server on an ephemeral port, and one request from hyper's client:
//! ```
//! use examples::http::{HyperIo, serve};
//! use http_body_util::{BodyExt, Empty};
//! use hyper::body::Bytes;
//! use net::compat::Compat;
//! use net::{TcpListener, TcpStream};
//!
//! runtime::Runtime::new()?.block_on(async {
//!     let listener = TcpListener::bind("127.0.0.1:0").await?;
//!     let addr = listener.local_addr()?;
//!     runtime::spawn(serve(listener));
//!
//!     let stream = Compat::new(TcpStream::connect(addr).await?);
//!     let (mut sender, conn) = hyper::client::conn::http1::handshake(HyperIo::new(stream))
//!         .await
//!         .map_err(std::io::Error::other)?;
//!     runtime::spawn(conn);
//!     let req = hyper::Request::get("/")
//!         .header(hyper::header::HOST, addr.to_string())
//!         .body(Empty::<Bytes>::new())
//!         .map_err(std::io::Error::other)?;
//!     let res = sender.send_request(req).await.map_err(std::io::Error::other)?;
//!     let body = res.into_body().collect().await.map_err(std::io::Error::other)?;
//!     assert_eq!(body.to_bytes(), "Hello, world!");
//!     Ok::<_, std::io::Error>(())
//! })?;
//! # Ok::<(), std::io::Error>(())
//! ```

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::rt::ReadBufCursor;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use net::TcpListener;
use net::compat::Compat;
use tokio::io::{AsyncBufRead, AsyncWrite};

/// hyper's `Read`/`Write` over a tokio `AsyncBufRead + AsyncWrite` (like hyper-util's
/// `TokioIo`, but reading through `poll_fill_buf`, which needs no unsafe code).
#[derive(Debug)]
pub struct HyperIo<T>(T);

impl<T> HyperIo<T> {
    /// Wraps `io`.
    pub fn new(io: T) -> HyperIo<T> {
        HyperIo(io)
    }

    /// The wrapped transport back.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T: AsyncBufRead + Unpin> hyper::rt::Read for HyperIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let src = ready!(Pin::new(&mut self.0).poll_fill_buf(cx))?;
        let n = src.len().min(buf.remaining());
        buf.put_slice(&src[..n]);
        Pin::new(&mut self.0).consume(n);
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> hyper::rt::Write for HyperIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }
}

/// hyper's `Timer` on the runtime's per-core timer wheel.
#[derive(Debug, Clone, Copy, Default)]
pub struct RuntimeTimer;

/// A runtime [`runtime::time::Sleep`] as a hyper `Sleep`.
struct HyperSleep(runtime::time::Sleep);

impl Future for HyperSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx)
    }
}

impl hyper::rt::Sleep for HyperSleep {}

impl hyper::rt::Timer for RuntimeTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(HyperSleep(runtime::time::sleep(duration)))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(HyperSleep(runtime::time::sleep_until(deadline)))
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<HyperSleep>() {
            Some(mut s) => s.0.reset(new_deadline),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

/// The server's routes: `GET /` answers "Hello, world!"; `POST /echo` sends the request
/// body back; anything else is a 404.
pub async fn hello(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let response = match (req.method(), req.uri().path()) {
        (&Method::GET, "/") => Response::new(Full::new(Bytes::from_static(b"Hello, world!"))),
        (&Method::POST, "/echo") => match req.into_body().collect().await {
            Ok(body) => Response::new(Full::new(body.to_bytes())),
            Err(_) => status(StatusCode::BAD_REQUEST),
        },
        _ => status(StatusCode::NOT_FOUND),
    };
    Ok(response)
}

fn status(code: StatusCode) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::default());
    *r.status_mut() = code;
    r
}

/// Serves HTTP/1.1 ([`hello`]) on every connection of `listener`, one task per connection
/// on this core. Runs until the task is dropped; accept errors (EMFILE, …) are logged and
/// the listener goes on (its `incoming` backs off).
///
/// # Errors
/// None so far: the loop only ends with the task.
pub async fn serve(listener: TcpListener) -> io::Result<()> {
    let mut incoming = listener.incoming();
    while let Some(conn) = incoming.next().await {
        let stream = match conn {
            Ok(stream) => stream,
            Err(e) => {
                eprintln!("accept: {e}");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        runtime::spawn(async move {
            let io = HyperIo::new(Compat::new(stream));
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(RuntimeTimer)
                .serve_connection(io, service_fn(hello));
            if let Err(e) = conn.await {
                eprintln!("connection: {e}");
            }
        });
    }
    Ok(())
}

/// The self-test of `http --demo`: serves on `listener` (in this task's core) and sends
/// `GET /`, `POST /echo` and `GET /nowhere` from hyper's client on one keep-alive
/// connection; checks the answers and returns a report.
///
/// # Errors
/// Connection or protocol errors; `InvalidData` when an answer is wrong.
pub async fn demo(listener: TcpListener) -> io::Result<String> {
    let addr = listener.local_addr()?;
    let server = runtime::spawn(serve(listener));
    let result = async {
        let stream = net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(HyperIo::new(Compat::new(stream)))
                .await
                .map_err(io::Error::other)?;
        runtime::spawn(conn);
        let body: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
        let requests = [
            (
                Method::GET,
                "/",
                Bytes::new(),
                StatusCode::OK,
                Bytes::from_static(b"Hello, world!"),
            ),
            (
                Method::POST,
                "/echo",
                body.clone().into(),
                StatusCode::OK,
                body.into(),
            ),
            (
                Method::GET,
                "/nowhere",
                Bytes::new(),
                StatusCode::NOT_FOUND,
                Bytes::new(),
            ),
        ];
        for (method, path, body, status, expected) in requests {
            sender.ready().await.map_err(io::Error::other)?;
            let req = Request::builder()
                .method(method.clone())
                .uri(path)
                .header(hyper::header::HOST, addr.to_string())
                .body(Full::new(body))
                .map_err(io::Error::other)?;
            let res = sender.send_request(req).await.map_err(io::Error::other)?;
            let got_status = res.status();
            let got = res.into_body().collect().await.map_err(io::Error::other)?;
            if got_status != status || got.to_bytes() != expected {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{method} {path}: got {got_status}, expected {status}"),
                ));
            }
        }
        Ok(())
    }
    .await;
    server.abort();
    result?;
    Ok(
        "http: GET /, POST /echo (100000 bytes) and GET /nowhere (404) on one keep-alive \
        connection verified"
            .to_string(),
    )
}
