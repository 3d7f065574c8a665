//! The server's version sniff and its drain, at the edges: a preface or a request cut at
//! every byte, partial prefaces that end, silent connections at the drain under each
//! `Protocols`, a request cut across the drain, HTTP/2 connections idle, busy and past the
//! grace period, the connection limit, and hyper's HTTP/2 server over `HyperIo` shutting
//! down as it does over tokio.

use super::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Handlers alive (a `/forever` handler counts until its future is dropped).
#[derive(Clone, Default)]
struct Live(Arc<AtomicUsize>);

struct LiveGuard(Live);

impl Drop for LiveGuard {
    fn drop(&mut self) {
        (self.0).0.fetch_sub(1, Ordering::SeqCst);
    }
}

type Res = Response<http_body_util::combinators::BoxBody<Bytes, hyper::Error>>;

/// `/slow?MS` answers after MS ms, `/forever` never does; the rest as [`routes`].
async fn edge_routes(live: Live, req: Request<Incoming>) -> Result<Res, Infallible> {
    let full = |b: Bytes| Full::new(b).map_err(|never| match never {}).boxed();
    match req.uri().path() {
        "/slow" => {
            let ms = req.uri().query().and_then(|q| q.parse().ok()).unwrap_or(0);
            runtime::time::sleep(Duration::from_millis(ms)).await;
            Ok(Response::new(full(Bytes::from_static(b"slow done"))))
        }
        "/forever" => {
            live.0.fetch_add(1, Ordering::SeqCst);
            let _guard = LiveGuard(live);
            std::future::pending::<()>().await;
            unreachable!()
        }
        _ => routes(req).await,
    }
}

/// Runs our server; `body` gets its address and a `stop` that starts the graceful shutdown
/// (called again after `body`). After `serve` returns, the runtime keeps turning until no
/// `/forever` handler is alive (at most 2 s). Returns what the server counted and the
/// handlers still alive then.
fn with_server(
    configure: impl FnOnce(&mut Server) + Send + 'static,
    live: Live,
    body: impl FnOnce(SocketAddr, &dyn Fn()),
) -> (Served, usize) {
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let live2 = live.clone();
    let server = std::thread::spawn(move || {
        runtime::Runtime::new()
            .expect("runtime")
            .block_on(async move {
                let listener = TcpListener::bind("127.0.0.1:0").await?;
                addr_tx
                    .send(listener.local_addr().expect("addr"))
                    .expect("addr");
                let mut server = Server::new();
                configure(&mut server);
                let stop = async move {
                    while stop_rx.try_recv().is_err() {
                        runtime::time::sleep(Duration::from_millis(5)).await;
                    }
                };
                let l = live2.clone();
                let svc = hyper::service::service_fn(move |req| edge_routes(l.clone(), req));
                let served = server.serve(listener, svc, stop).await?;
                for _ in 0..200 {
                    if live2.0.load(Ordering::SeqCst) == 0 {
                        break;
                    }
                    runtime::time::sleep(Duration::from_millis(10)).await;
                }
                Ok::<_, io::Error>((served, live2.0.load(Ordering::SeqCst)))
            })
    });
    let stop = || {
        let _ = stop_tx.send(());
    };
    body(addr_rx.recv().expect("server address"), &stop);
    stop();
    server.join().expect("server thread").expect("serve")
}

/// Forwards between hyper's client (the other end of `client_side`) and `tcp`; the client's
/// first bytes (its preface and first frame) go out in segments cut at `cuts`, 20 ms apart;
/// the rest as it comes.
async fn pump(client_side: tokio::io::DuplexStream, tcp: tokio::net::TcpStream, cuts: Vec<usize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    tcp.set_nodelay(true).expect("nodelay");
    let (mut cr, mut cw) = tokio::io::split(client_side);
    let (mut tr, mut tw) = tcp.into_split();
    let up = async move {
        let mut head = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        // The preface and the whole first frame (SETTINGS).
        loop {
            if head.len() >= 33 {
                let len = u32::from_be_bytes([0, head[24], head[25], head[26]]) as usize;
                if head.len() >= 33 + len {
                    break;
                }
            }
            let n = cr.read(&mut buf).await.expect("client write");
            assert!(n > 0, "client ended before its first frame");
            head.extend_from_slice(&buf[..n]);
        }
        assert_eq!(&head[..24], PREFACE);
        let mut from = 0;
        for &cut in &cuts {
            tw.write_all(&head[from..cut]).await.expect("segment");
            tw.flush().await.expect("flush");
            tokio::time::sleep(Duration::from_millis(20)).await;
            from = cut;
        }
        tw.write_all(&head[from..]).await.expect("last segment");
        let _ = tokio::io::copy(&mut cr, &mut tw).await;
        let _ = tw.shutdown().await;
    };
    let down = async move {
        let _ = tokio::io::copy(&mut tr, &mut cw).await;
        let _ = cw.shutdown().await;
    };
    let up = tokio::task::spawn_local(up);
    down.await;
    let _ = up.await;
}

/// One HTTP/2 request over a connection whose preface is cut at `cuts`.
async fn h2_get_with_cuts(addr: SocketAddr, cuts: Vec<usize>, path: &str) -> (StatusCode, Bytes) {
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (a, b) = tokio::io::duplex(1 << 20);
    tokio::task::spawn_local(pump(b, tcp, cuts));
    let sender = tokio_h2_client(TokioIo(a)).await;
    let req = Request::get(path).body(Full::default()).expect("request");
    send_h2(sender, req).await
}

/// The preface cut once at every byte, the rest of it alone in the second segment; then
/// cut once at every byte with the rest of it and the first frame in one segment; then one
/// byte a segment.
#[test]
fn preface_cut_anywhere_is_http2() {
    let (served, _) = with_server(
        |_| {},
        Live::default(),
        |addr, _| {
            on_tokio(async {
                for k in 1..24 {
                    for cuts in [vec![k, 24], vec![k]] {
                        let (status, body) =
                            h2_get_with_cuts(addr, cuts.clone(), &format!("/big?{}", 3000 + k))
                                .await;
                        assert_eq!(status, StatusCode::OK, "cuts {cuts:?}");
                        assert!(body == pattern(3000 + k, 7), "cuts {cuts:?}: body differs");
                    }
                }
                let (status, body) = h2_get_with_cuts(addr, (1..=24).collect(), "/big?70000").await;
                assert_eq!(status, StatusCode::OK);
                assert!(body == pattern(70000, 7), "byte-a-segment: body differs");
            })
        },
    );
    assert_eq!(served.connections, 47, "{served:?}");
    assert!(served.errors <= h2_errors_allowed(47), "{served:?}");
}

/// Three pipelined HTTP/1.1 requests, the first `PRI * HTTP/1.1` (11 bytes in common with
/// the preface): the answers of all three, in order.
const PIPELINED: &[u8] = b"PRI * HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n\
POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nhello\
GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n";

fn send_in_segments(addr: SocketAddr, bytes: &[u8], cuts: &[usize]) -> String {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_nodelay(true).expect("nodelay");
    let mut from = 0;
    for &cut in cuts {
        s.write_all(&bytes[from..cut]).expect("segment");
        std::thread::sleep(Duration::from_millis(15));
        from = cut;
    }
    s.write_all(&bytes[from..]).expect("rest");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    String::from_utf8_lossy(&got).into_owned()
}

fn check_pipelined(got: &str, what: &str) {
    let statuses: Vec<_> = got
        .match_indices("HTTP/1.1 ")
        .map(|(i, _)| &got[i..i + 12])
        .collect();
    assert_eq!(
        statuses,
        ["HTTP/1.1 404", "HTTP/1.1 200", "HTTP/1.1 200"],
        "{what}: {got:?}"
    );
    let hello = got
        .find("\r\n\r\nhello")
        .unwrap_or_else(|| panic!("{what}: {got:?}"));
    let world = got
        .find("Hello, world!")
        .unwrap_or_else(|| panic!("{what}: {got:?}"));
    assert!(hello < world, "{what}: {got:?}");
}

#[test]
fn pipelined_http1_that_starts_like_the_preface_cut_anywhere() {
    let (served, _) = with_server(
        |_| {},
        Live::default(),
        |addr, _| {
            for k in 1..40 {
                check_pipelined(
                    &send_in_segments(addr, PIPELINED, &[k]),
                    &format!("cut {k}"),
                );
            }
            let cuts: Vec<usize> = (1..=24).collect();
            check_pipelined(
                &send_in_segments(addr, PIPELINED, &cuts),
                "a byte a segment",
            );
        },
    );
    assert_eq!((served.connections, served.errors), (40, 0), "{served:?}");
}

/// A part of the preface, then the end of the stream (or a reset): counted as under
/// `Protocols::Http1`, and the connection ends.
#[test]
fn a_partial_preface_then_eof_or_reset_counts_as_http1_would() {
    let run = |protocols: Protocols| {
        with_server(
            move |server| {
                server.protocols(protocols);
            },
            Live::default(),
            |addr, _| {
                for k in [1usize, 3, 4, 11, 16, 18, 23] {
                    // End of stream.
                    let mut s = std::net::TcpStream::connect(addr).expect("connect");
                    s.write_all(&PREFACE[..k]).expect("part");
                    std::thread::sleep(Duration::from_millis(15));
                    s.shutdown(std::net::Shutdown::Write).expect("shutdown");
                    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                    let mut got = Vec::new();
                    let _ = s.read_to_end(&mut got);
                    // Reset.
                    let s = std::net::TcpStream::connect(addr).expect("connect");
                    (&s).write_all(&PREFACE[..k]).expect("part");
                    std::thread::sleep(Duration::from_millis(15));
                    socket2::SockRef::from(&s)
                        .set_linger(Some(Duration::ZERO))
                        .expect("linger");
                    drop(s);
                    std::thread::sleep(Duration::from_millis(15));
                }
            },
        )
        .0
    };
    let auto = run(Protocols::Auto);
    let http1 = run(Protocols::Http1);
    assert_eq!(
        (auto.connections, auto.errors, auto.aborted),
        (http1.connections, http1.errors, http1.aborted),
        "auto {auto:?} http1 {http1:?}"
    );
}

/// A connection that sends `first` (nothing, or part of the preface) must not keep graceful
/// shutdown (with no grace period) waiting. A watchdog closes it after 5 s if the server did
/// not.
fn silent_connection_at_drain(protocols: Protocols, first: &'static [u8]) {
    let fired = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicBool::new(false));
    let (served, _) = with_server(
        move |server| {
            server.protocols(protocols);
        },
        Live::default(),
        |addr, stop| {
            let mut s = std::net::TcpStream::connect(addr).expect("connect");
            s.write_all(first).expect("first bytes");
            std::thread::sleep(Duration::from_millis(100));
            let (fired, done) = (fired.clone(), done.clone());
            let s2 = s.try_clone().expect("clone");
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_secs(5));
                if !done.load(Ordering::SeqCst) {
                    fired.store(true, Ordering::SeqCst);
                    let _ = s2.shutdown(std::net::Shutdown::Both);
                }
            });
            stop();
            // Keep `s` open: the server must close it.
            std::mem::forget(s);
        },
    );
    done.store(true, Ordering::SeqCst);
    assert!(
        !fired.load(Ordering::SeqCst),
        "{protocols:?}: graceful shutdown waited for a connection that sent {first:?} \
         until the client gave up (5 s): {served:?}"
    );
}

#[test]
fn http2_only_silent_connection_at_drain() {
    silent_connection_at_drain(Protocols::Http2, b"");
}

#[test]
fn http2_only_partial_preface_at_drain() {
    silent_connection_at_drain(Protocols::Http2, b"PRI * HT");
}

#[test]
fn http1_only_silent_connection_at_drain() {
    silent_connection_at_drain(Protocols::Http1, b"");
}

/// An HTTP/1.1 request whose first byte came before the drain and the rest after: HTTP/1.1
/// alone serves it (hyper had read a byte: the connection is busy); Auto should too.
fn request_cut_across_the_drain(protocols: Protocols) {
    let (served, _) = with_server(
        move |server| {
            server.protocols(protocols);
        },
        Live::default(),
        |addr, stop| {
            let mut s = std::net::TcpStream::connect(addr).expect("connect");
            s.set_nodelay(true).unwrap();
            s.write_all(b"P").expect("first byte");
            std::thread::sleep(Duration::from_millis(100));
            stop();
            std::thread::sleep(Duration::from_millis(100));
            let _ = s.write_all(b"OST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nhello");
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut got = Vec::new();
            let _ = s.read_to_end(&mut got);
            let got = String::from_utf8_lossy(&got);
            assert!(got.starts_with("HTTP/1.1 200"), "{protocols:?}: {got:?}");
        },
    );
    assert_eq!(served.errors, 0, "{served:?}");
}

#[test]
fn http1_only_request_cut_across_the_drain() {
    request_cut_across_the_drain(Protocols::Http1);
}

#[test]
fn auto_request_cut_across_the_drain() {
    request_cut_across_the_drain(Protocols::Auto);
}

/// A stream in flight when the server drains gets its whole response; an idle HTTP/2
/// connection beside it closes.
#[test]
fn http2_drain_finishes_the_stream_in_flight_and_closes() {
    let (served, _) = with_server(
        |_| {},
        Live::default(),
        |addr, stop| {
            on_tokio(async {
                // An idle HTTP/2 connection.
                let idle_tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
                let (idle_sender, idle_conn): (
                    hyper::client::conn::http2::SendRequest<Full<Bytes>>,
                    _,
                ) = hyper::client::conn::http2::handshake(LocalExec, TokioIo(idle_tcp))
                    .await
                    .expect("handshake");
                let idle_conn = tokio::task::spawn_local(idle_conn);
                let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
                let (sender, conn) =
                    hyper::client::conn::http2::handshake(LocalExec, TokioIo(stream))
                        .await
                        .expect("handshake");
                let conn = tokio::task::spawn_local(conn);
                let req = Request::get("/slow?300")
                    .body(Full::default())
                    .expect("request");
                let res = tokio::task::spawn_local(send_h2(sender, req));
                tokio::time::sleep(Duration::from_millis(100)).await;
                stop();
                let (status, body) = res.await.expect("response task");
                assert_eq!((status, &body[..]), (StatusCode::OK, &b"slow done"[..]));
                // Both connections end (GOAWAY, then the server closes).
                let r = tokio::time::timeout(Duration::from_secs(5), conn).await;
                assert!(matches!(r, Ok(Ok(Ok(())))), "busy connection: {r:?}");
                let r = tokio::time::timeout(Duration::from_secs(5), idle_conn).await;
                assert!(matches!(r, Ok(Ok(Ok(())))), "idle connection: {r:?}");
                drop(idle_sender);
            })
        },
    );
    assert_eq!((served.connections, served.aborted), (2, 0), "{served:?}");
    assert!(served.errors <= h2_errors_allowed(2), "{served:?}");
}

/// The grace period ends an HTTP/2 connection whose handler never answers: counted as
/// aborted, and the handler (on a stream task of its own) is dropped too.
#[test]
fn http2_grace_period_ends_the_connection_and_its_handler() {
    let live = Live::default();
    let (served, alive) = with_server(
        |server| {
            server.grace_period(Some(Duration::from_millis(200)));
        },
        live.clone(),
        |addr, stop| {
            on_tokio(async {
                let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
                let sender = tokio_h2_client(TokioIo(stream)).await;
                let req = Request::get("/forever")
                    .body(Full::default())
                    .expect("request");
                let res = tokio::task::spawn_local(async move {
                    let mut sender = sender;
                    sender.ready().await.expect("ready");
                    sender.send_request(req).await
                });
                while live.0.load(Ordering::SeqCst) == 0 {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                stop();
                let r = tokio::time::timeout(Duration::from_secs(5), res).await;
                assert!(matches!(r, Ok(Ok(Err(_)))), "{r:?}");
            })
        },
    );
    assert_eq!(
        (served.connections, served.errors, served.aborted),
        (1, 0, 1),
        "{served:?}"
    );
    assert_eq!(alive, 0, "the handler outlived the aborted connection");
}

/// `max_connections(1)`: a connection still sniffing holds the slot; when its client
/// leaves (end of stream before a byte, or an HTTP/2 connection that ends) the next one
/// is served.
#[test]
fn max_connections_frees_the_slot_of_sniffing_and_http2_connections() {
    let (served, _) = with_server(
        |server| {
            server.max_connections(1);
        },
        Live::default(),
        |addr, _| {
            // A silent connection, then one waiting behind it.
            let silent = std::net::TcpStream::connect(addr).expect("connect");
            std::thread::sleep(Duration::from_millis(100));
            let waiting = std::thread::spawn(move || {
                send_in_segments(
                    addr,
                    b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
                    &[],
                )
            });
            std::thread::sleep(Duration::from_millis(100));
            drop(silent);
            let got = waiting.join().expect("client");
            assert!(got.starts_with("HTTP/1.1 200"), "{got:?}");
            // A partial preface holding the slot, then a reset.
            let partial = std::net::TcpStream::connect(addr).expect("connect");
            (&partial).write_all(b"PRI *").expect("part");
            std::thread::sleep(Duration::from_millis(100));
            let waiting = std::thread::spawn(move || {
                send_in_segments(
                    addr,
                    b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
                    &[],
                )
            });
            std::thread::sleep(Duration::from_millis(100));
            socket2::SockRef::from(&partial)
                .set_linger(Some(Duration::ZERO))
                .expect("linger");
            drop(partial);
            let got = waiting.join().expect("client");
            assert!(got.starts_with("HTTP/1.1 200"), "{got:?}");
            // An HTTP/2 connection holding the slot, then closed by its client.
            on_tokio(async {
                let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
                let (sender, conn) =
                    hyper::client::conn::http2::handshake(LocalExec, TokioIo(stream))
                        .await
                        .expect("handshake");
                let conn = tokio::task::spawn_local(conn);
                let req = Request::get("/").body(Full::default()).expect("request");
                let (status, _) = send_h2(sender, req).await;
                assert_eq!(status, StatusCode::OK);
                // The sender is gone: the client's connection ends.
                let _ = conn.await;
            });
            let got = send_in_segments(
                addr,
                b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
                &[],
            );
            assert!(got.starts_with("HTTP/1.1 200"), "{got:?}");
        },
    );
    assert_eq!(served.connections, 6, "{served:?}");
}

/// An idle HTTP/2 connection (hyper's client on tokio) when the server drains.
#[test]
fn http2_idle_connection_at_drain() {
    let (served, _) = with_server(
        |_| {},
        Live::default(),
        |addr, stop| {
            on_tokio(async {
                let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
                let (sender, conn): (hyper::client::conn::http2::SendRequest<Full<Bytes>>, _) =
                    hyper::client::conn::http2::handshake(LocalExec, TokioIo(tcp))
                        .await
                        .expect("handshake");
                let conn = tokio::task::spawn_local(conn);
                let req = Request::get("/").body(Full::default()).expect("request");
                let (status, _) = send_h2(sender.clone(), req).await;
                assert_eq!(status, StatusCode::OK);
                stop();
                let r = tokio::time::timeout(Duration::from_secs(5), conn).await;
                assert!(matches!(r, Ok(Ok(Ok(())))), "idle connection: {r:?}");
                drop(sender);
            })
        },
    );
    // A send cut short can split the GOAWAY from the PING after it (`h2_errors_allowed`).
    assert_eq!((served.connections, served.aborted), (1, 0), "{served:?}");
    assert!(served.errors <= h2_errors_allowed(1), "{served:?}");
}

/// Whether `r` failed because the peer had gone (EPIPE, ECONNRESET), as a send cut short by
/// injected faults can after the client closed on a GOAWAY (see `h2_errors_allowed`).
fn peer_gone(r: &Result<(), hyper::Error>) -> bool {
    let Err(e) = r else { return false };
    std::error::Error::source(e)
        .and_then(|s| s.downcast_ref::<io::Error>())
        .is_some_and(|e| {
            matches!(
                e.kind(),
                io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
            )
        })
}

/// A hyper HTTP/2 client on tokio (own thread): one request, then idle until the server
/// closes; returns how its connection ended.
fn idle_h2_client(addr: SocketAddr) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        on_tokio(async move {
            let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
            let (sender, conn): (hyper::client::conn::http2::SendRequest<Full<Bytes>>, _) =
                hyper::client::conn::http2::handshake(LocalExec, TokioIo(tcp))
                    .await
                    .expect("handshake");
            let conn = tokio::task::spawn_local(conn);
            let req = Request::get("/").body(Full::default()).expect("request");
            let (status, _) = send_h2(sender.clone(), req).await;
            assert_eq!(status, StatusCode::OK);
            let r = tokio::time::timeout(Duration::from_secs(5), conn).await;
            drop(sender);
            format!("{r:?}")
        })
    })
}

/// Drives `conn` to its end, asking it to shut down gracefully once `after` completes.
async fn graceful_after<C: Future>(
    conn: C,
    graceful: fn(Pin<&mut C>),
    after: impl Future<Output = ()>,
) -> C::Output {
    let mut conn = std::pin::pin!(conn);
    let mut after = std::pin::pin!(after);
    let mut asked = false;
    std::future::poll_fn(|cx| {
        if !asked && after.as_mut().poll(cx).is_ready() {
            asked = true;
            graceful(conn.as_mut());
        }
        conn.as_mut().poll(cx)
    })
    .await
}

/// hyper's HTTP/2 server over `HyperIo` (our runtime) and over tokio: an idle connection
/// told to shut down gracefully 200 ms after the accept. What each returns.
#[test]
fn idle_h2_graceful_shutdown_hyperio_vs_tokio() {
    // Ours.
    let (tx, rx) = std::sync::mpsc::channel();
    let server = std::thread::spawn(move || {
        runtime::Runtime::new()
            .expect("runtime")
            .block_on(async move {
                let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
                tx.send(listener.local_addr().unwrap()).unwrap();
                let (s, _) = listener.accept().await.expect("accept");
                let svc = hyper::service::service_fn(routes);
                let conn = hyper::server::conn::http2::Builder::new(RuntimeExecutor)
                    .timer(RuntimeTimer)
                    .serve_connection(HyperIo::new(s), svc);
                let after = runtime::time::sleep(Duration::from_millis(200));
                graceful_after(conn, |c| c.graceful_shutdown(), after).await
            })
    });
    let client = idle_h2_client(rx.recv().unwrap());
    let ours = server.join().unwrap();
    let ours_client = client.join().unwrap();
    // tokio.
    let (tx, rx) = std::sync::mpsc::channel();
    let server = std::thread::spawn(move || {
        on_tokio(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            tx.send(listener.local_addr().unwrap()).unwrap();
            let (s, _) = listener.accept().await.expect("accept");
            let svc = hyper::service::service_fn(routes);
            let conn = hyper::server::conn::http2::Builder::new(LocalExec)
                .serve_connection(TokioIo(s), svc);
            let after = tokio::time::sleep(Duration::from_millis(200));
            graceful_after(conn, |c| c.graceful_shutdown(), after).await
        })
    });
    let client = idle_h2_client(rx.recv().unwrap());
    let tokio = server.join().unwrap();
    let tokio_client = client.join().unwrap();
    eprintln!("ours:  server {ours:?}, client {ours_client}");
    eprintln!("tokio: server {tokio:?}, client {tokio_client}");
    let ours_ok = ours.is_ok() || (crate::support::faults_injected() && peer_gone(&ours));
    assert!(ours_ok == tokio.is_ok(), "ours {ours:?} tokio {tokio:?}");
}
