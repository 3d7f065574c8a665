//! The `http` example's server (hyper 1.x on the runtime through `net::hyper`) driven by
//! hyper's client, also on the runtime through `net::hyper::HyperIo`: sequential requests on one
//! keep-alive connection, concurrent connections, and request bodies larger than the
//! adapter's buffers.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use examples::http::serve;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, StatusCode, header};
use net::hyper::HyperIo;
use net::{TcpListener, TcpStream};

/// Runs `body` on a fresh runtime with the server listening on an ephemeral port; fails
/// after 20 s instead of hanging.
fn with_server<F, Fut>(body: F)
where
    F: FnOnce(SocketAddr) -> Fut,
    Fut: Future<Output = io::Result<()>>,
{
    let rt = runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr().unwrap();
        let server = runtime::spawn(serve(listener));
        let result = runtime::time::timeout(Duration::from_secs(20), body(addr)).await;
        server.abort();
        result?
    })
    .expect("test body");
}

/// A hyper client connection on the runtime; its connection task is spawned.
async fn connect<B>(addr: SocketAddr) -> io::Result<SendRequest<B>>
where
    B: hyper::body::Body + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(HyperIo::new(stream))
        .await
        .map_err(io::Error::other)?;
    runtime::spawn(async move {
        if let Err(e) = conn.await {
            eprintln!("client connection: {e}");
        }
    });
    Ok(sender)
}

async fn get(
    sender: &mut SendRequest<Empty<Bytes>>,
    addr: SocketAddr,
    path: &str,
) -> io::Result<(StatusCode, Bytes)> {
    let req = Request::get(path)
        .header(header::HOST, addr.to_string())
        .body(Empty::new())
        .map_err(io::Error::other)?;
    let res = sender.send_request(req).await.map_err(io::Error::other)?;
    let status = res.status();
    let body = res.into_body().collect().await.map_err(io::Error::other)?;
    Ok((status, body.to_bytes()))
}

#[test]
fn sequential_requests_on_one_keep_alive_connection() {
    with_server(|addr| async move {
        let mut sender = connect(addr).await?;
        for _ in 0..50 {
            sender.ready().await.map_err(io::Error::other)?;
            let (status, body) = get(&mut sender, addr, "/").await?;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(body, "Hello, world!");
        }
        let (status, _) = get(&mut sender, addr, "/nowhere").await?;
        assert_eq!(status, StatusCode::NOT_FOUND);
        Ok(())
    });
}

#[test]
fn concurrent_connections() {
    with_server(|addr| async move {
        let clients: Vec<_> = (0..32)
            .map(|_| {
                runtime::spawn(async move {
                    let mut sender = connect(addr).await?;
                    for _ in 0..10 {
                        sender.ready().await.map_err(io::Error::other)?;
                        let (status, body) = get(&mut sender, addr, "/").await?;
                        assert_eq!((status, &body[..]), (StatusCode::OK, &b"Hello, world!"[..]));
                    }
                    Ok::<_, io::Error>(())
                })
            })
            .collect();
        for c in clients {
            match c.await {
                Ok(r) => r?,
                Err(e) => std::panic::resume_unwind(e.into_panic().expect("client task aborted")),
            }
        }
        Ok(())
    });
}

#[test]
fn large_bodies_echo_through_the_adapter_buffers() {
    with_server(|addr| async move {
        let mut sender = connect::<Full<Bytes>>(addr).await?;
        // Larger than the read (16 KiB) and write (64 KiB) buffers of HyperIo, on both sides.
        for len in [0usize, 1, 16 * 1024 + 3, 1 << 20] {
            let body: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            sender.ready().await.map_err(io::Error::other)?;
            let req = Request::post("/echo")
                .header(header::HOST, addr.to_string())
                .body(Full::new(Bytes::from(body.clone())))
                .map_err(io::Error::other)?;
            let res = sender.send_request(req).await.map_err(io::Error::other)?;
            assert_eq!(res.status(), StatusCode::OK);
            let got = res.into_body().collect().await.map_err(io::Error::other)?;
            assert!(got.to_bytes() == body, "echo of {len} bytes differs");
        }
        Ok(())
    });
}
