//! hyper 1.x on the runtime: a small HTTP server on [`net::hyper`] (feature `hyper-http2` of
//! `net`), which provides hyper's I/O ([`HyperIo`]), timer, executor and a per-core server
//! that speaks HTTP/1.1 and HTTP/2 (cleartext, prior knowledge), as each client opens.
//!
//! # Examples
//! A server on an ephemeral port, and one request from hyper's client:
//! ```
//! use examples::http::serve;
//! use net::hyper::HyperIo;
//! use http_body_util::{BodyExt, Empty};
//! use hyper::body::Bytes;
//! use net::{TcpListener, TcpStream};
//!
//! runtime::Runtime::new()?.block_on(async {
//!     let listener = TcpListener::bind("127.0.0.1:0").await?;
//!     let addr = listener.local_addr()?;
//!     runtime::spawn(serve(listener));
//!
//!     let stream = TcpStream::connect(addr).await?;
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
use std::io;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode, Version};
use net::TcpListener;
use net::hyper::{HyperIo, RuntimeExecutor, Server};

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

/// Serves [`hello`] on every connection of `listener` in HTTP/1.1 or HTTP/2, whichever the
/// client opens with, one task per connection on this core ([`net::hyper::Server`]), until
/// the task is dropped.
///
/// # Errors
/// None so far: the loop only ends with the task.
pub async fn serve(listener: TcpListener) -> io::Result<()> {
    let never = std::future::pending();
    Server::new()
        .serve(listener, service_fn(hello), never)
        .await
        .map(drop)
}

/// `GET /`, a `POST /echo` of 100 000 bytes and `GET /nowhere` from hyper's client on one
/// keep-alive connection to `addr` per version in `versions` (HTTP/1.1, HTTP/2), each answer
/// (and its version) checked against what [`hello`] sends.
///
/// # Errors
/// Connection or protocol errors; `InvalidData` when an answer is wrong.
pub async fn check_routes(addr: std::net::SocketAddr, versions: &[Version]) -> io::Result<()> {
    let stream = net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (mut http1, conn) = hyper::client::conn::http1::handshake(HyperIo::new(stream))
        .await
        .map_err(io::Error::other)?;
    runtime::spawn(conn);
    let mut http2 = None;
    if versions.contains(&Version::HTTP_2) {
        let stream = net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, conn) =
            hyper::client::conn::http2::handshake(RuntimeExecutor, HyperIo::new(stream))
                .await
                .map_err(io::Error::other)?;
        runtime::spawn(conn);
        http2 = Some(sender);
    }
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
        for &version in versions {
            let req = Request::builder()
                .method(method.clone())
                .uri(path)
                .header(hyper::header::HOST, addr.to_string())
                .body(Full::new(body.clone()))
                .map_err(io::Error::other)?;
            let res = if let (Version::HTTP_2, Some(http2)) = (version, http2.as_mut()) {
                http2.ready().await.map_err(io::Error::other)?;
                http2.send_request(req).await
            } else {
                http1.ready().await.map_err(io::Error::other)?;
                http1.send_request(req).await
            }
            .map_err(io::Error::other)?;
            let (got_status, got_version) = (res.status(), res.version());
            let got = res.into_body().collect().await.map_err(io::Error::other)?;
            if got_status != status || got_version != version || got.to_bytes() != expected {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{method} {path} in {version:?}: got {got_status} in {got_version:?}, \
                        expected {status}"
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The self-test of `http --demo`: serves on `listener` (in this task's core) and sends
/// `GET /`, `POST /echo` and `GET /nowhere` from hyper's client on one HTTP/1.1 and one
/// HTTP/2 keep-alive connection; checks the answers and returns a report.
///
/// # Errors
/// Connection or protocol errors; `InvalidData` when an answer is wrong.
pub async fn demo(listener: TcpListener) -> io::Result<String> {
    let addr = listener.local_addr()?;
    let server = runtime::spawn(serve(listener));
    let result = check_routes(addr, &[Version::HTTP_11, Version::HTTP_2]).await;
    server.abort();
    result?;
    Ok(
        "http: GET /, POST /echo (100000 bytes) and GET /nowhere (404) on an HTTP/1.1 and an \
        HTTP/2 keep-alive connection verified"
            .to_string(),
    )
}
