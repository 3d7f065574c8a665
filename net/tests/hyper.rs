//! `net::hyper` (feature `hyper`): our server against hyper's client on tokio, our client
//! (`HyperIo` in a hyper client connection) against hyper's server on tokio, and the cancel
//! contract of `HyperIo`. Every body is checked byte for byte.

mod support;

use std::collections::VecDeque;
use std::convert::Infallible;
use std::io::{self, Read as _, Write as _};
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Bytes, Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use net::hyper::{HyperIo, Served, Server};
use net::{TcpListener, TcpStream, UnixStream};

/// A body of several frames and no length: sent chunked.
struct Chunked(VecDeque<Bytes>);

impl Body for Chunked {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.pop_front().map(|b| Ok(Frame::data(b))))
    }
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8 ^ seed).collect()
}

/// `GET /` hello; `GET /big?N` N pattern bytes; `POST /echo` the body back, streamed
/// (chunked: no length).
async fn routes(
    req: Request<Incoming>,
) -> Result<Response<http_body_util::combinators::BoxBody<Bytes, hyper::Error>>, Infallible> {
    let full = |b: Bytes| Full::new(b).map_err(|never| match never {}).boxed();
    Ok(match (req.method(), req.uri().path()) {
        (&Method::GET, "/") => Response::new(full(Bytes::from_static(b"Hello, world!"))),
        (&Method::GET, "/big") => {
            let n = req.uri().query().and_then(|q| q.parse().ok()).unwrap_or(0);
            Response::new(full(pattern(n, 7).into()))
        }
        (&Method::POST, "/echo") => Response::new(req.into_body().boxed()),
        _ => {
            let mut r = Response::new(full(Bytes::new()));
            *r.status_mut() = StatusCode::NOT_FOUND;
            r
        }
    })
}

/// Runs our server on a runtime thread; `body` gets its address. Returns what the server
/// counted once `body` is done and the server shut down gracefully.
fn with_our_server(
    configure: impl FnOnce(&mut Server) + Send + 'static,
    body: impl FnOnce(SocketAddr),
) -> Served {
    raise_nofile();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
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
                    // The test thread says when: poll its channel on the runtime's timers.
                    while stop_rx.try_recv().is_err() {
                        runtime::time::sleep(Duration::from_millis(5)).await;
                    }
                };
                server
                    .serve(listener, hyper::service::service_fn(routes), stop)
                    .await
            })
    });
    body(addr_rx.recv().expect("server address"));
    stop_tx.send(()).expect("stop");
    server.join().expect("server thread").expect("serve")
}

fn raise_nofile() {
    // SAFETY: getrlimit/setrlimit with a valid rlimit struct on the stack.
    unsafe {
        let mut r = std::mem::zeroed::<libc::rlimit>();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 && r.rlim_cur < r.rlim_max {
            r.rlim_cur = r.rlim_max.min(65536);
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        }
    }
}

/// hyper's I/O traits over a tokio stream (what hyper-util's `TokioIo` does), safe: reads
/// go through a stack buffer.
struct TokioIo<T>(T);

impl<T: tokio::io::AsyncRead + Unpin> hyper::rt::Read for TokioIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let mut tmp = [0u8; 16 * 1024];
        let n = buf.remaining().min(tmp.len());
        let mut rb = tokio::io::ReadBuf::new(&mut tmp[..n]);
        ready!(Pin::new(&mut self.0).poll_read(cx, &mut rb))?;
        buf.put_slice(rb.filled());
        Poll::Ready(Ok(()))
    }
}

impl<T: tokio::io::AsyncWrite + Unpin> hyper::rt::Write for TokioIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        b: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, b)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// hyper's `Executor` on tokio's `LocalSet` (what HTTP/2 spawns its streams on).
#[derive(Clone, Copy)]
struct LocalExec;

impl<F: Future + 'static> hyper::rt::Executor<F> for LocalExec {
    fn execute(&self, future: F) {
        tokio::task::spawn_local(future);
    }
}

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// hyper's client on tokio: one connection.
async fn tokio_client<B>(addr: SocketAddr) -> hyper::client::conn::http1::SendRequest<B>
where
    B: Body + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo(stream))
        .await
        .expect("handshake");
    tokio::task::spawn_local(async move {
        let _ = conn.await;
    });
    sender
}

/// Sends `req` and returns the status and the whole body.
async fn send<B>(
    sender: &mut hyper::client::conn::http1::SendRequest<B>,
    req: Request<B>,
) -> (StatusCode, Bytes)
where
    B: Body + 'static,
{
    sender.ready().await.expect("ready");
    let res = sender.send_request(req).await.expect("response");
    let status = res.status();
    (
        status,
        res.into_body().collect().await.expect("body").to_bytes(),
    )
}

fn get(path: &str) -> Request<Full<Bytes>> {
    Request::get(path).body(Full::default()).expect("request")
}

fn on_tokio<F: Future>(f: F) -> F::Output {
    let local = tokio::task::LocalSet::new();
    tokio_rt().block_on(local.run_until(f))
}

#[test]
fn hyper_client_keep_alive_against_our_server() {
    let served = with_our_server(
        |_| {},
        |addr| {
            on_tokio(async {
                let mut sender = tokio_client(addr).await;
                for _ in 0..100 {
                    let (status, body) = send(&mut sender, get("/")).await;
                    assert_eq!((status, &body[..]), (StatusCode::OK, &b"Hello, world!"[..]));
                }
                let (status, _) = send(&mut sender, get("/nowhere")).await;
                assert_eq!(status, StatusCode::NOT_FOUND);
            })
        },
    );
    assert_eq!(served.connections, 1, "{served:?}");
}

#[test]
fn hyper_client_chunked_and_one_mib_bodies_against_our_server() {
    with_our_server(
        |_| {},
        |addr| {
            on_tokio(async {
                let mut sender = tokio_client::<Chunked>(addr).await;
                let parts: Vec<Bytes> = (0..20u8)
                    .map(|i| pattern(1000 + i as usize * 97, i).into())
                    .collect();
                let want: Vec<u8> = parts.iter().flat_map(|b| b.to_vec()).collect();
                let req = Request::post("/echo")
                    .body(Chunked(parts.into()))
                    .expect("request");
                let (status, body) = send(&mut sender, req).await;
                assert_eq!(status, StatusCode::OK);
                assert!(body == want, "chunked echo differs");

                let mib = pattern(1 << 20, 3);
                let req = Request::post("/echo")
                    .body(Chunked(VecDeque::from([Bytes::from(mib.clone())])))
                    .expect("request");
                let (_, body) = send(&mut sender, req).await;
                assert!(body == mib, "1 MiB upload echo differs");

                let req = Request::get("/big?1048576")
                    .body(Chunked(VecDeque::new()))
                    .expect("request");
                let (_, body) = send(&mut sender, req).await;
                assert!(body == pattern(1 << 20, 7), "1 MiB download differs");
            })
        },
    );
}

#[test]
fn five_hundred_concurrent_hyper_clients_against_our_server() {
    let served = with_our_server(
        |_| {},
        |addr| {
            on_tokio(async {
                let tasks: Vec<_> = (0..500)
                    .map(|i| {
                        tokio::task::spawn_local(async move {
                            let mut sender = tokio_client(addr).await;
                            let path = format!("/big?{}", i * 7);
                            for _ in 0..3 {
                                let (_, body) = send(&mut sender, get(&path)).await;
                                assert!(body == pattern(i * 7, 7), "connection {i}: body differs");
                            }
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await.expect("client task");
                }
            })
        },
    );
    assert_eq!(served.connections, 500, "{served:?}");
}

#[test]
fn a_client_that_leaves_mid_body_is_an_error_and_the_server_goes_on() {
    let served = with_our_server(
        |_| {},
        |addr| {
            let mut s = std::net::TcpStream::connect(addr).expect("connect");
            s.write_all(b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 100000\r\n\r\n")
                .expect("head");
            s.write_all(&[1u8; 1000]).expect("part of the body");
            drop(s);
            on_tokio(async {
                let mut sender = tokio_client(addr).await;
                let (_, body) = send(&mut sender, get("/")).await;
                assert_eq!(&body[..], b"Hello, world!");
            })
        },
    );
    assert_eq!((served.connections, served.errors), (2, 1), "{served:?}");
}

#[test]
fn a_slow_header_trickle_hits_header_read_timeout() {
    let served = with_our_server(
        |server| {
            server
                .http1()
                .header_read_timeout(Duration::from_millis(200));
        },
        |addr| {
            let mut s = std::net::TcpStream::connect(addr).expect("connect");
            s.set_read_timeout(Some(Duration::from_millis(20)))
                .expect("timeout");
            s.write_all(b"GET / HTTP/1.1\r\n").expect("request line");
            // One header line every 20 ms, never the blank line: the server must close.
            let mut closed = false;
            for i in 0..500 {
                if s.write_all(format!("x-{i}: y\r\n").as_bytes()).is_err() {
                    closed = true;
                    break;
                }
                let mut b = [0u8; 256];
                match s.read(&mut b) {
                    Ok(_) => {
                        closed = true;
                        break;
                    }
                    Err(e)
                        if e.kind() == io::ErrorKind::WouldBlock
                            || e.kind() == io::ErrorKind::TimedOut => {}
                    Err(_) => {
                        closed = true;
                        break;
                    }
                }
            }
            assert!(closed, "the server kept a 10 s header trickle open");
        },
    );
    assert_eq!(served.errors, 1, "{served:?}");
}

/// hyper's server on tokio (thread of its own) with [`routes`]-like answers, HTTP/1.1 or
/// (`http2`) HTTP/2; returns its address. It serves until the process ends.
fn tokio_server(http2: bool) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        on_tokio(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            tx.send(listener.local_addr().expect("addr")).expect("addr");
            loop {
                let (s, _) = listener.accept().await.expect("accept");
                tokio::task::spawn_local(async move {
                    let svc = hyper::service::service_fn(tokio_routes);
                    let _ = if http2 {
                        hyper::server::conn::http2::Builder::new(LocalExec)
                            .serve_connection(TokioIo(s), svc)
                            .await
                    } else {
                        hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo(s), svc)
                            .await
                    };
                });
            }
        })
    });
    rx.recv().expect("tokio server address")
}

/// As [`routes`], on tokio.
async fn tokio_routes(
    req: Request<Incoming>,
) -> Result<Response<http_body_util::combinators::BoxBody<Bytes, hyper::Error>>, Infallible> {
    routes(req).await
}

/// Our client: a hyper client connection over `HyperIo` on this runtime.
async fn our_client<B>(addr: SocketAddr) -> hyper::client::conn::http1::SendRequest<B>
where
    B: Body + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let stream = TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let (sender, conn) = hyper::client::conn::http1::handshake(HyperIo::new(stream))
        .await
        .expect("handshake");
    runtime::spawn(async move {
        let _ = conn.await;
    });
    sender
}

#[test]
fn our_client_against_hyper_on_tokio() {
    raise_nofile();
    let addr = tokio_server(false);
    runtime::Runtime::new()
        .expect("runtime")
        .block_on(async move {
            let mut sender = our_client::<Chunked>(addr).await;
            for _ in 0..50 {
                let (status, body) = send(
                    &mut sender,
                    Request::get("/").body(Chunked(VecDeque::new())).unwrap(),
                )
                .await;
                assert_eq!((status, &body[..]), (StatusCode::OK, &b"Hello, world!"[..]));
            }
            let parts: Vec<Bytes> = (0..20u8)
                .map(|i| pattern(3000 + i as usize, i).into())
                .collect();
            let want: Vec<u8> = parts.iter().flat_map(|b| b.to_vec()).collect();
            let (_, body) = send(
                &mut sender,
                Request::post("/echo").body(Chunked(parts.into())).unwrap(),
            )
            .await;
            assert!(body == want, "chunked echo differs");
            let mib = pattern(1 << 20, 5);
            let req =
                Request::post("/echo").body(Chunked(VecDeque::from([Bytes::from(mib.clone())])));
            let (_, body) = send(&mut sender, req.unwrap()).await;
            assert!(body == mib, "1 MiB upload echo differs");
            let req = Request::get("/big?1048576").body(Chunked(VecDeque::new()));
            let (_, body) = send(&mut sender, req.unwrap()).await;
            assert!(body == pattern(1 << 20, 7), "1 MiB download differs");

            let tasks: Vec<_> = (0..500usize)
                .map(|i| {
                    runtime::spawn(async move {
                        let mut sender = our_client(addr).await;
                        let (_, body) = send(&mut sender, get(&format!("/big?{}", i * 5))).await;
                        assert!(body == pattern(i * 5, 7), "connection {i}: body differs");
                    })
                })
                .collect();
            for t in tasks {
                t.await.expect("client task");
            }
        });
}

#[test]
fn dropped_hyper_io_gives_unread_bytes_back_to_the_stream() {
    runtime::Runtime::new().expect("runtime").block_on(async {
        let (a, b) = UnixStream::pair().expect("pair");
        let data = pattern(5000, 9);
        a.write_all(data.clone()).await.0.expect("write");
        let mut io = HyperIo::new(b);
        // hyper reads 10 bytes, then the connection is dropped.
        let mut first = [0u8; 10];
        let mut rb = hyper::rt::ReadBuf::new(&mut first);
        std::future::poll_fn(|cx| hyper::rt::Read::poll_read(Pin::new(&mut io), cx, rb.unfilled()))
            .await
            .expect("read");
        let n = rb.filled().len();
        assert!(n > 0);
        let b = io.into_inner();
        let (res, rest) = b.read_exact(Vec::with_capacity(data.len() - n)).await;
        res.expect("the rest, from the stream");
        assert!(rest == data[n..], "bytes lost or reordered");
    });
}

#[test]
fn bytes_taken_by_a_dropped_hyper_io_are_sent_once_in_order() {
    runtime::Runtime::new().expect("runtime").block_on(async {
        let (a, b) = UnixStream::pair().expect("pair");
        let mut io = HyperIo::new(a);
        // A large write goes straight out; then small ones (copied) fill the buffer, one
        // more hands it to a send and is taken beside it; then hyper drops the connection
        // without a flush.
        let big = pattern(3 * net::hyper::DIRECT_SEND_MIN, 1);
        let chunk = 4096;
        let small = pattern(net::hyper::WRITE_CAPACITY + 3 * chunk, 2);
        let mut want = Vec::new();
        let mut parts = vec![&big[..]];
        parts.extend(small.chunks(chunk));
        for part in parts {
            let n = std::future::poll_fn(|cx| {
                hyper::rt::Write::poll_write(Pin::new(&mut io), cx, part)
            })
            .await
            .expect("write");
            want.extend_from_slice(&part[..n]);
        }
        assert!(
            want.len() > net::hyper::WRITE_CAPACITY,
            "the buffer never filled"
        );
        let a = io.into_inner();
        let (res, got) = b.read_exact(Vec::with_capacity(want.len())).await;
        res.expect("every byte taken");
        assert!(got == want, "bytes lost, duplicated or reordered");
        // And a later write of the stream comes after them.
        a.write_all(b"end".to_vec()).await.0.expect("write");
        let (res, end) = b.read_exact(Vec::with_capacity(3)).await;
        res.expect("end");
        assert_eq!(end, b"end");
    });
}

/// A flush that waits for the send before it (its bytes handed over, waiting for the
/// stream's turn), more bytes taken, then the `HyperIo` dropped: all of them still go out,
/// once and in order, and a later write of the stream comes after them.
#[test]
fn bytes_of_a_flush_waiting_for_its_turn_go_out_after_a_drop() {
    // Bounded: a lost byte would leave the last read waiting.
    support::run(async {
        let (a, b) = UnixStream::pair().unwrap();
        let mut io = HyperIo::new(a);
        // Pieces under `DIRECT_SEND_MIN`, so every one is copied and queued.
        let data = pattern(40 * 1024, 3);
        let pieces: Vec<&[u8]> = data.chunks(4096).collect();
        // All in one poll of this task: no loop turn between, so the first send is still
        // in flight (its SQE not even submitted) when the second flush comes.
        fn take(io: &mut HyperIo<UnixStream>, cx: &mut Context<'_>, piece: &[u8]) {
            match hyper::rt::Write::poll_write(Pin::new(io), cx, piece) {
                Poll::Ready(Ok(n)) => assert_eq!(n, piece.len()),
                other => panic!("a write with room was not taken: {other:?}"),
            }
        }
        let waited = std::future::poll_fn(|cx| {
            for piece in &pieces[..4] {
                take(&mut io, cx, piece);
            }
            let first = hyper::rt::Write::poll_flush(Pin::new(&mut io), cx);
            assert!(matches!(first, Poll::Ready(Ok(()))), "{first:?}");
            for piece in &pieces[4..8] {
                take(&mut io, cx, piece);
            }
            let second = hyper::rt::Write::poll_flush(Pin::new(&mut io), cx);
            assert!(!matches!(second, Poll::Ready(Err(_))), "{second:?}");
            if second.is_pending() {
                // Taken behind the flush that waits.
                for piece in &pieces[8..] {
                    let res = hyper::rt::Write::poll_write(Pin::new(&mut io), cx, piece);
                    assert!(res.is_pending(), "taken past a waiting flush: {res:?}");
                }
            }
            Poll::Ready(second.is_pending())
        })
        .await;
        let mut want = data[..8 * 4096].to_vec();
        if !waited {
            // A driver that completed the first send at once: the rest is written now.
            for piece in &pieces[8..] {
                want.extend_from_slice(piece);
                assert_eq!(poll_write_unix(&mut io, piece).await.unwrap(), piece.len());
            }
        }
        let a = io.into_inner();
        a.write_all(b"end".to_vec()).await.0.unwrap();
        let (res, got) = b.read_exact(Vec::with_capacity(want.len() + 3)).await;
        res.unwrap();
        assert!(
            got[..want.len()] == want[..],
            "bytes lost, duplicated or reordered"
        );
        assert_eq!(&got[want.len()..], b"end");
        Ok(())
    });
}

/// Counts its wakes.
struct WakeCount(std::sync::atomic::AtomicUsize);

impl std::task::Wake for WakeCount {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A write that must wait for the send in flight (the adapter's buffer is full), then, in
/// the same task poll, a read of the same `HyperIo` (as a proxy's `copy_bidirectional`
/// does): the send's completion must wake the task, or the write waits for ever. (A read
/// collects a finished send without waiting for it, which must not silence the write's
/// wait.) Returns the wakes by the time the send is done, and whether the write then goes
/// on.
fn write_waits_then_read(read_after: bool) -> (usize, bool) {
    runtime::Runtime::new().unwrap().block_on(async move {
        let (a, _b) = UnixStream::pair().unwrap();
        let mut io = HyperIo::with_pool(a, None);
        let count = std::sync::Arc::new(WakeCount(Default::default()));
        let waker = std::task::Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let chunk = vec![7u8; 64 * 1024];
        let mut write = |io: &mut HyperIo<UnixStream>, b: &[u8]| {
            hyper::rt::Write::poll_write(Pin::new(io), &mut cx, b)
        };
        assert!(matches!(write(&mut io, &[1u8; 100]), Poll::Ready(Ok(100))));
        assert!(matches!(write(&mut io, &chunk), Poll::Ready(Ok(_))));
        let mut cx2 = Context::from_waker(&waker);
        assert!(matches!(
            hyper::rt::Write::poll_flush(Pin::new(&mut io), &mut cx2),
            Poll::Ready(Ok(()))
        ));
        let mut write = |io: &mut HyperIo<UnixStream>, b: &[u8]| {
            hyper::rt::Write::poll_write(Pin::new(io), &mut cx2, b)
        };
        assert!(matches!(write(&mut io, &chunk), Poll::Ready(Ok(65536))));
        // Full: this write waits for the send in flight.
        assert!(write(&mut io, &chunk).is_pending());
        if read_after {
            let mut space = [std::mem::MaybeUninit::<u8>::uninit(); 64];
            let mut buf = hyper::rt::ReadBuf::uninit(&mut space);
            let mut cx3 = Context::from_waker(&waker);
            let read = hyper::rt::Read::poll_read(Pin::new(&mut io), &mut cx3, buf.unfilled());
            assert!(read.is_pending(), "nothing was sent to read");
        }
        runtime::time::sleep(Duration::from_millis(100)).await;
        let wakes = count.0.load(std::sync::atomic::Ordering::SeqCst);
        // The send went out by now; under `.ci/faults` in parts, each resubmitted by a poll.
        let mut can_go_on = false;
        for _ in 0..100 {
            if write(&mut io, &chunk).is_ready() {
                can_go_on = true;
                break;
            }
            runtime::time::sleep(Duration::from_millis(10)).await;
        }
        (wakes, can_go_on)
    })
}

#[test]
fn a_read_does_not_silence_the_wake_a_waiting_write_needs() {
    for read_after in [false, true] {
        let (wakes, can_go_on) = write_waits_then_read(read_after);
        assert!(
            can_go_on,
            "read after: {read_after}: the send did not finish"
        );
        assert!(
            wakes > 0,
            "read after: {read_after}: the write can go on but nothing woke its task"
        );
    }
}

/// A `HyperIo` holding bytes it took but did not send yet is dropped with its task when the
/// runtime shuts down: the task that would send them is refused then, and the socket must
/// still close (the peer reads to its end), not leak with the unsent bytes.
#[test]
fn a_runtime_shutting_down_with_bytes_taken_and_unsent_closes_the_socket() {
    let (ours, mut peer) = std::os::unix::net::UnixStream::pair().expect("pair");
    let rt = runtime::Runtime::new().expect("runtime");
    rt.block_on(async move {
        let ours = UnixStream::from_std(ours);
        runtime::spawn(async move {
            let mut io = HyperIo::new(ours);
            let taken = std::future::poll_fn(|cx| {
                hyper::rt::Write::poll_write(Pin::new(&mut io), cx, b"taken, never flushed")
            })
            .await
            .expect("poll_write");
            assert_eq!(taken, 20);
            std::future::pending::<()>().await;
        });
        runtime::time::sleep(Duration::from_millis(20)).await;
    });
    drop(rt);
    peer.set_nonblocking(true).expect("nonblocking");
    let mut buf = vec![0u8; 4096];
    loop {
        match peer.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                panic!("the socket was leaked with the bytes not yet sent")
            }
            Err(e) => panic!("peer read: {e}"),
        }
    }
}

fn poll_write_unix(
    io: &mut HyperIo<UnixStream>,
    b: &[u8],
) -> impl Future<Output = io::Result<usize>> {
    std::future::poll_fn(move |cx| hyper::rt::Write::poll_write(Pin::new(&mut *io), cx, b))
}

/// Bytes hyper handed over (no flush), then `into_inner` and a write of the stream at once:
/// hyper's bytes go first. Before the fix the later write overtook them ("secondfirst"):
/// the dropped adapter's bytes had no place in the stream's line of writes.
#[test]
fn bytes_taken_by_a_dropped_hyper_io_go_before_a_later_write() {
    runtime::Runtime::new().unwrap().block_on(async {
        let (a, b) = UnixStream::pair().unwrap();
        let mut io = HyperIo::new(a);
        assert_eq!(poll_write_unix(&mut io, b"first").await.unwrap(), 5);
        let a = io.into_inner();
        a.write_all(b"second".to_vec()).await.0.unwrap();
        let (res, got) = b.read_exact(Vec::with_capacity(11)).await;
        res.unwrap();
        assert_eq!(String::from_utf8_lossy(&got), "firstsecond");
    });
}

/// The same with `into_inner` outside the runtime (the `HyperIo` returned from
/// `block_on`): the taken bytes cannot be sent, and the stream's next write says so instead
/// of leaving a silent gap (before the fix it returned `Ok` and the peer got only "second").
#[test]
fn bytes_a_hyper_io_could_not_send_are_reported_by_the_next_write() {
    let rt = runtime::Runtime::new().unwrap();
    let (io, b) = rt.block_on(async {
        let (a, b) = UnixStream::pair().unwrap();
        let mut io = HyperIo::new(a);
        assert_eq!(poll_write_unix(&mut io, b"first").await.unwrap(), 5);
        (io, b)
    });
    let a = io.into_inner();
    rt.block_on(async {
        let e = a.write_all(b"second".to_vec()).await.0.unwrap_err();
        assert!(e.to_string().contains("none of its 5 bytes"), "{e}");
        // The write that reported the gap was not sent either; the next one is.
        a.write_all(b"third".to_vec()).await.0.unwrap();
        let (res, got) = b.read_exact(Vec::with_capacity(5)).await;
        res.unwrap();
        assert_eq!(got, b"third");
    });
}

/// A dropped read kept the end of stream; then a `HyperIo` without a pool reads: it reads
/// the end, once and again. Before the fix it spun for ever inside one poll (so the test
/// runs on a thread of its own, watched from here: a spin blocks the runtime's timers too).
#[test]
fn a_hyper_io_without_a_pool_reads_a_kept_end_of_stream() {
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        runtime::Runtime::new().unwrap().block_on(async {
            let (a, b) = UnixStream::pair().unwrap();
            let mut read = Box::pin(a.read(vec![0u8; 16]));
            assert!(
                std::future::poll_fn(|cx| Poll::Ready(read.as_mut().poll(cx)))
                    .await
                    .is_pending()
            );
            drop(b);
            runtime::time::sleep(Duration::from_millis(20)).await;
            // Its CQE (0: the end) is kept for the stream's next read.
            drop(read);
            let mut io = HyperIo::with_pool(a, None);
            for _ in 0..2 {
                let mut space = [std::mem::MaybeUninit::<u8>::uninit(); 64];
                let mut buf = hyper::rt::ReadBuf::uninit(&mut space);
                std::future::poll_fn(|cx| {
                    hyper::rt::Read::poll_read(Pin::new(&mut io), cx, buf.unfilled())
                })
                .await
                .expect("the end, not an error");
                assert!(
                    buf.filled().is_empty(),
                    "the end of stream reads as nothing"
                );
            }
        });
        let _ = done.send(());
    });
    finished
        .recv_timeout(Duration::from_secs(10))
        .expect("the read spins (or the test thread panicked, above)");
}

/// A write of the stream polled once and dropped is committed; `poll_shutdown` of a
/// `HyperIo` over the stream sends SHUT_WR only after it, and the peer gets every byte.
/// Before the fix the shutdown cut it short (EPIPE for the rest, reported to nobody). The
/// peer starts reading only once the shutdown was polled and the loop turned, so the
/// write cannot finish first.
#[test]
fn hyper_io_shutdown_waits_for_a_dropped_write_of_the_stream() {
    const BIG: usize = 4 << 20;
    let data = pattern(BIG, 3);
    let (ours, mut peer) = std::os::unix::net::UnixStream::pair().unwrap();
    let (go, wait) = std::sync::mpsc::channel::<()>();
    let reader = std::thread::spawn(move || {
        wait.recv().unwrap();
        let mut got = Vec::new();
        peer.read_to_end(&mut got).unwrap();
        got
    });
    let sent = data.clone();
    let res = runtime::Runtime::new().unwrap().block_on(async move {
        let a = UnixStream::from_std(ours);
        let mut w = Box::pin(a.write_all(sent));
        assert!(
            std::future::poll_fn(|cx| Poll::Ready(w.as_mut().poll(cx)))
                .await
                .is_pending(),
            "4 MiB fit in the socket"
        );
        drop(w);
        let mut io = HyperIo::new(a);
        let shutdown =
            std::future::poll_fn(|cx| hyper::rt::Write::poll_shutdown(Pin::new(&mut io), cx));
        let mut shutdown = std::pin::pin!(shutdown);
        let first = std::future::poll_fn(|cx| Poll::Ready(shutdown.as_mut().poll(cx))).await;
        assert!(first.is_pending(), "the shutdown finished while 4 MiB wait");
        // Whatever the shutdown submitted runs now, before the peer reads.
        runtime::time::sleep(Duration::from_millis(20)).await;
        go.send(()).unwrap();
        shutdown.await
    });
    let got = reader.join().unwrap();
    check_shutdown_after_a_dropped_write(res, &got, &data);
}

/// A shutdown after a dropped write: every byte, in order; or, where `.ci/faults` cut the
/// dropped write short (a legal partial send), the gap reported and a prefix delivered.
fn check_shutdown_after_a_dropped_write(res: io::Result<()>, got: &[u8], data: &[u8]) {
    match res {
        Ok(()) => {
            assert_eq!(got.len(), data.len(), "bytes of the dropped write cut off");
            assert!(got == data, "bytes reordered");
        }
        Err(e) => {
            assert!(support::faults_injected(), "shutdown: {e}");
            assert!(e.to_string().contains("dropped"), "{e}");
            assert!(data.starts_with(got), "bytes reordered");
        }
    }
}

/// `Server::max_connections(1)` with one client served and 30 more connecting: they wait
/// in the kernel's backlog, and the server holds no fd for them. Before the fix the
/// multishot accept stayed armed and took a connection (an fd) for every client.
#[test]
fn a_server_at_its_connection_limit_takes_no_more_connections() {
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let server = std::thread::spawn(move || {
        runtime::Runtime::new().unwrap().block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            addr_tx.send(listener.local_addr().unwrap()).unwrap();
            let mut s = Server::new();
            s.max_connections(1);
            let stop = async move {
                while stop_rx.try_recv().is_err() {
                    runtime::time::sleep(Duration::from_millis(5)).await;
                }
            };
            s.serve(listener, hyper::service::service_fn(routes), stop)
                .await
                .unwrap()
        })
    });
    let addr = addr_rx.recv().unwrap();
    let fds = || std::fs::read_dir("/proc/self/fd").unwrap().count();
    let mut first = std::net::TcpStream::connect(addr).unwrap();
    // Served: the server holds its one connection.
    first
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut head = [0u8; 12];
    first.read_exact(&mut head).unwrap();
    let before = fds();
    let waiting: Vec<_> = (0..30)
        .map(|_| std::net::TcpStream::connect(addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let taken = fds() - before - waiting.len();
    // The first connection ends: one waiting client is served next.
    drop(first);
    let mut next = &waiting[0];
    next.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    next.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    next.read_exact(&mut head).unwrap();
    drop(waiting);
    stop_tx.send(()).unwrap();
    server.join().unwrap();
    assert!(
        taken <= 2,
        "the server took {taken} fds for 30 clients beyond its limit"
    );
    assert_eq!(&head, b"HTTP/1.1 200");
}

/// HTTP/2 (feature `hyper-http2`): hyper's HTTP/2 client and server on this runtime and on
/// tokio, and the server telling the versions apart.
#[cfg(feature = "hyper-http2")]
mod http2 {
    use super::*;
    use net::hyper::{Protocols, RuntimeExecutor, RuntimeTimer};

    mod edges;

    /// The connection errors an HTTP/2 test of `connections` connections accepts: none, but
    /// one per connection when `.ci/faults` cuts sends short. A send cut in two lets a client
    /// that got all it needed close before the rest (a GOAWAY's PING, a window update),
    /// which then fails with EPIPE or ECONNRESET, and hyper reports that. (A stream's sends
    /// ask for MSG_WAITALL and come back whole from Linux 5.18 on.)
    fn h2_errors_allowed(connections: u64) -> u64 {
        if crate::support::faults_injected() {
            connections
        } else {
            0
        }
    }

    /// hyper's HTTP/2 client on tokio over `io`.
    async fn tokio_h2_client<I>(io: I) -> hyper::client::conn::http2::SendRequest<Full<Bytes>>
    where
        I: hyper::rt::Read + hyper::rt::Write + Unpin + 'static,
    {
        let (sender, conn) = hyper::client::conn::http2::handshake(LocalExec, io)
            .await
            .expect("HTTP/2 handshake");
        tokio::task::spawn_local(async move {
            let _ = conn.await;
        });
        sender
    }

    /// Sends `req` on an HTTP/2 connection; returns the status and the whole body.
    async fn send_h2(
        mut sender: hyper::client::conn::http2::SendRequest<Full<Bytes>>,
        req: Request<Full<Bytes>>,
    ) -> (StatusCode, Bytes) {
        sender.ready().await.expect("ready");
        let res = sender.send_request(req).await.expect("response");
        let status = res.status();
        (
            status,
            res.into_body().collect().await.expect("body").to_bytes(),
        )
    }

    /// 100 streams at once on one connection (downloads and uploads of up to 100 KB), then a
    /// 1 MiB upload and a 1 MiB download; every body checked.
    async fn exercise(sender: hyper::client::conn::http2::SendRequest<Full<Bytes>>) {
        let spawn = |f| tokio::task::spawn_local(f);
        exercise_with(sender, spawn).await;
    }

    async fn exercise_with<J>(
        sender: hyper::client::conn::http2::SendRequest<Full<Bytes>>,
        spawn: impl Fn(std::pin::Pin<Box<dyn Future<Output = ()>>>) -> J,
    ) where
        J: Future,
    {
        let streams: Vec<_> = (0..100usize)
            .map(|i| {
                let sender = sender.clone();
                spawn(Box::pin(async move {
                    if i % 2 == 0 {
                        let req = Request::get(format!("/big?{}", i * 1000))
                            .body(Full::default())
                            .expect("request");
                        let (status, body) = send_h2(sender, req).await;
                        assert_eq!(status, StatusCode::OK);
                        assert!(body == pattern(i * 1000, 7), "stream {i}: download differs");
                    } else {
                        let up = pattern(i * 997, i as u8);
                        let req = Request::post("/echo")
                            .body(Full::new(Bytes::from(up.clone())))
                            .expect("request");
                        let (_, body) = send_h2(sender, req).await;
                        assert!(body == up, "stream {i}: upload echo differs");
                    }
                }))
            })
            .collect();
        for s in streams {
            s.await;
        }
        let mib = pattern(1 << 20, 9);
        let req = Request::post("/echo")
            .body(Full::new(Bytes::from(mib.clone())))
            .expect("request");
        let (_, body) = send_h2(sender.clone(), req).await;
        assert!(body == mib, "1 MiB upload echo differs");
        let req = Request::get("/big?1048576")
            .body(Full::default())
            .expect("request");
        let (_, body) = send_h2(sender, req).await;
        assert!(body == pattern(1 << 20, 7), "1 MiB download differs");
    }

    #[test]
    fn hyper_http2_and_http1_clients_against_our_server() {
        let served = with_our_server(
            |_| {},
            |addr| {
                on_tokio(async {
                    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
                    exercise(tokio_h2_client(TokioIo(stream)).await).await;
                    // The same server speaks HTTP/1.1 to a client that opens with it.
                    let mut sender = tokio_client(addr).await;
                    let (status, body) = send(&mut sender, get("/")).await;
                    assert_eq!((status, &body[..]), (StatusCode::OK, &b"Hello, world!"[..]));
                })
            },
        );
        assert_eq!(served.connections, 2, "{served:?}");
        assert!(served.errors <= h2_errors_allowed(1), "{served:?}");
    }

    /// Writes the first `skip` bytes hyper hands it nowhere: the test sent them itself.
    struct SkipFirst<I> {
        skip: usize,
        io: I,
    }

    impl<I: hyper::rt::Read + Unpin> hyper::rt::Read for SkipFirst<I> {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: hyper::rt::ReadBufCursor<'_>,
        ) -> Poll<io::Result<()>> {
            Pin::new(&mut self.io).poll_read(cx, buf)
        }
    }

    impl<I: hyper::rt::Write + Unpin> hyper::rt::Write for SkipFirst<I> {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            b: &[u8],
        ) -> Poll<io::Result<usize>> {
            if self.skip > 0 {
                let n = self.skip.min(b.len());
                self.skip -= n;
                return Poll::Ready(Ok(n));
            }
            Pin::new(&mut self.io).poll_write(cx, b)
        }
        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.io).poll_flush(cx)
        }
        fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.io).poll_shutdown(cx)
        }
    }

    #[test]
    fn a_preface_that_arrives_in_pieces_is_still_http2() {
        let served = with_our_server(
            |_| {},
            |addr| {
                on_tokio(async {
                    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
                    stream.set_nodelay(true).expect("nodelay");
                    let preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
                    // Three segments, apart in time: the server reads them one by one.
                    for part in [&preface[..1], &preface[1..9], &preface[9..]] {
                        tokio::io::AsyncWriteExt::write_all(&mut stream, part)
                            .await
                            .expect("preface part");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    let io = SkipFirst {
                        skip: preface.len(),
                        io: TokioIo(stream),
                    };
                    let req = Request::get("/big?5000")
                        .body(Full::default())
                        .expect("request");
                    let (status, body) = send_h2(tokio_h2_client(io).await, req).await;
                    assert_eq!(status, StatusCode::OK);
                    assert!(body == pattern(5000, 7), "download differs");
                })
            },
        );
        assert_eq!(served.connections, 1, "{served:?}");
        assert!(served.errors <= h2_errors_allowed(1), "{served:?}");
    }

    #[test]
    fn an_http1_request_that_starts_like_the_preface_is_served_whole() {
        let served = with_our_server(
            |_| {},
            |addr| {
                let mut s = std::net::TcpStream::connect(addr).expect("connect");
                s.set_nodelay(true).expect("nodelay");
                // "P" alone could begin the preface: the server takes it to learn more, and
                // must hand it to HTTP/1.1 with the rest.
                s.write_all(b"P").expect("first byte");
                std::thread::sleep(Duration::from_millis(20));
                s.write_all(b"OST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nhello")
                    .expect("rest of the request");
                s.set_read_timeout(Some(Duration::from_secs(10)))
                    .expect("timeout");
                let mut got = Vec::new();
                let mut buf = [0u8; 1024];
                while !got.ends_with(b"hello") {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let got = String::from_utf8_lossy(&got);
                assert!(
                    got.starts_with("HTTP/1.1 200") && got.ends_with("\r\n\r\nhello"),
                    "{got:?}"
                );
            },
        );
        assert_eq!((served.connections, served.errors), (1, 0), "{served:?}");
    }

    #[test]
    fn a_server_for_one_version_ends_a_connection_in_the_other_with_an_error() {
        let served = with_our_server(
            |server| {
                server.protocols(Protocols::Http2);
            },
            |addr| {
                let mut s = std::net::TcpStream::connect(addr).expect("connect");
                s.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
                    .expect("request");
                let mut got = Vec::new();
                let _ = s.read_to_end(&mut got);
                assert!(!got.starts_with(b"HTTP/1.1"), "an HTTP/1.1 answer: {got:?}");
            },
        );
        assert_eq!((served.connections, served.errors), (1, 1), "{served:?}");

        let served = with_our_server(
            |server| {
                server.protocols(Protocols::Http1);
            },
            |addr| {
                on_tokio(async {
                    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
                    // The handshake only queues the preface; the request fails.
                    let (mut sender, conn) =
                        hyper::client::conn::http2::handshake(LocalExec, TokioIo(stream))
                            .await
                            .expect("handshake");
                    tokio::task::spawn_local(async move {
                        let _ = conn.await;
                    });
                    let req = Request::get("/").body(Full::<Bytes>::default()).unwrap();
                    assert!(sender.send_request(req).await.is_err());
                })
            },
        );
        assert_eq!((served.connections, served.errors), (1, 1), "{served:?}");
    }

    #[test]
    fn a_connection_that_said_nothing_closes_when_the_server_drains() {
        let mut silent = None;
        let served = with_our_server(
            |_| {},
            |addr| {
                let s = std::net::TcpStream::connect(addr).expect("connect");
                // Connections are accepted in order: once a later one is answered, this one
                // waits for its first bytes when the server is told to stop.
                on_tokio(async {
                    let mut sender = tokio_client(addr).await;
                    let (status, _) = send(&mut sender, get("/")).await;
                    assert_eq!(status, StatusCode::OK);
                });
                silent = Some(s);
            },
        );
        // Closed at once, not after the first-bytes timeout, and not counted as an error.
        assert_eq!((served.connections, served.errors), (2, 0), "{served:?}");
        let mut s = silent.expect("connection");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        assert_eq!(s.read(&mut [0u8; 16]).expect("end of stream"), 0);
    }

    #[test]
    fn our_http2_client_against_hyper_on_tokio() {
        let addr = tokio_server(true);
        runtime::Runtime::new()
            .expect("runtime")
            .block_on(async move {
                let stream = TcpStream::connect(addr).await.expect("connect");
                stream.set_nodelay(true).expect("nodelay");
                let (sender, conn) = hyper::client::conn::http2::Builder::new(RuntimeExecutor)
                    .timer(RuntimeTimer)
                    .handshake(HyperIo::new(stream))
                    .await
                    .expect("handshake");
                runtime::spawn(async move {
                    let _ = conn.await;
                });
                exercise_with(sender, |f| async {
                    runtime::spawn(f).await.expect("stream task")
                })
                .await;
            });
    }
}

// ---- Flushes polled where the send before cannot complete, drops behind a stuck send ----

/// Polls `poll_write` once with a no-op waker (outside any task).
fn write_once(io: &mut HyperIo<UnixStream>, b: &[u8]) -> Poll<io::Result<usize>> {
    let mut cx = Context::from_waker(std::task::Waker::noop());
    hyper::rt::Write::poll_write(Pin::new(io), &mut cx, b)
}

/// Polls `poll_flush` once with a no-op waker (outside any task).
fn flush_once(io: &mut HyperIo<UnixStream>) -> Poll<io::Result<()>> {
    let mut cx = Context::from_waker(std::task::Waker::noop());
    hyper::rt::Write::poll_flush(Pin::new(io), &mut cx)
}

/// Inside `rt`: fills the socket (direct sends until EAGAIN, then one copied 64 KiB
/// batch flushed: it stays in flight, the peer does not read yet), then takes `tail` and
/// flushes it: that flush waits for its turn (a ticket). Returns what was taken, in order.
fn fill_then_take(rt: &runtime::Runtime, io: &mut HyperIo<UnixStream>, tail: &[u8]) -> Vec<u8> {
    rt.block_on(async {
        let chunk = pattern(64 * 1024, 5);
        let mut taken = Vec::new();
        // Direct sends until the socket is full; then a chunk is copied, and its flush
        // leaves a send on the ring that cannot finish.
        while runtime::metrics().unwrap().ops_in_flight == 0 {
            let n = poll_write_unix(io, &chunk).await.expect("write");
            taken.extend_from_slice(&chunk[..n]);
            std::future::poll_fn(|cx| hyper::rt::Write::poll_flush(Pin::new(&mut *io), cx))
                .await
                .expect("flush");
        }
        runtime::time::sleep(Duration::from_millis(20)).await;
        assert!(
            runtime::metrics().unwrap().ops_in_flight > 0,
            "the batch finished"
        );
        // Taken behind it; its flush waits for the stream's turn.
        let n = poll_write_unix(io, tail).await.expect("write");
        assert_eq!(n, tail.len());
        taken.extend_from_slice(tail);
        let flushed = std::future::poll_fn(|cx| {
            Poll::Ready(hyper::rt::Write::poll_flush(Pin::new(&mut *io), cx))
        })
        .await;
        assert!(flushed.is_pending(), "{flushed:?}");
        taken
    })
}

/// Reads `peer` to its end on a thread.
fn read_to_end_on_thread(
    mut peer: std::os::unix::net::UnixStream,
) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut got = Vec::new();
        peer.read_to_end(&mut got).unwrap();
        got
    })
}

/// Bytes hyper was told were taken, then a flush polled outside the runtime while the
/// batch before is in flight: the flush may fail ("await it there"), but the bytes must
/// not be lost: awaited in the runtime, they go out, or the stream's next write reports
/// them.
#[test]
fn a_flush_outside_the_runtime_loses_no_taken_bytes() {
    let rt = runtime::Runtime::new().unwrap();
    let (ours, peer) = std::os::unix::net::UnixStream::pair().unwrap();
    let mut io = HyperIo::new(UnixStream::from_std(ours));
    let mut want = fill_then_take(&rt, &mut io, b"tail");
    // Outside the runtime: an error here is fair.
    let outside = flush_once(&mut io);
    eprintln!("flush outside the runtime: {outside:?}");
    let reader = read_to_end_on_thread(peer);
    let later = rt.block_on(async move {
        runtime::time::timeout(Duration::from_secs(10), async move {
            // As the error says: await it in its runtime.
            std::future::poll_fn(|cx| hyper::rt::Write::poll_flush(Pin::new(&mut io), cx)).await?;
            let a = io.into_inner();
            a.write_all(b"end".to_vec()).await.0
        })
        .await
        .expect("hangs")
    });
    let got = reader.join().unwrap();
    want.extend_from_slice(b"end");
    if later.is_ok() {
        assert_eq!(
            got.len(),
            want.len(),
            "taken bytes lost with no error reported"
        );
        assert!(got == want, "bytes reordered");
    }
}

/// The same flush outside the runtime, then `poll_shutdown` in it: it must finish (the
/// bytes sent, or an error), not wait for ever for the stream's turn.
#[test]
fn shutdown_after_a_flush_outside_the_runtime_does_not_hang() {
    let rt = runtime::Runtime::new().unwrap();
    let (ours, peer) = std::os::unix::net::UnixStream::pair().unwrap();
    let mut io = HyperIo::new(UnixStream::from_std(ours));
    fill_then_take(&rt, &mut io, b"tail");
    let outside = flush_once(&mut io);
    eprintln!("flush outside the runtime: {outside:?}");
    let reader = read_to_end_on_thread(peer);
    let res = rt.block_on(async move {
        let res = runtime::time::timeout(
            Duration::from_secs(10),
            std::future::poll_fn(|cx| hyper::rt::Write::poll_shutdown(Pin::new(&mut io), cx)),
        )
        .await;
        drop(io);
        res
    });
    let _ = reader.join();
    res.expect("poll_shutdown still waiting after 10 s").ok();
}

/// Bytes taken, then the runtime dropped and a flush polled: it fails (no runtime). Then
/// the stream in a new runtime: its next write must report the bytes that never went out
/// (a silent gap otherwise).
#[test]
fn bytes_flushed_after_the_runtime_is_gone_are_reported() {
    let (ours, peer) = std::os::unix::net::UnixStream::pair().unwrap();
    let rt = runtime::Runtime::new().unwrap();
    let mut io = rt.block_on(async { HyperIo::new(UnixStream::from_std(ours)) });
    drop(rt);
    assert!(matches!(write_once(&mut io, b"taken"), Poll::Ready(Ok(5))));
    let outside = flush_once(&mut io);
    eprintln!("flush with no runtime: {outside:?}");
    let reader = read_to_end_on_thread(peer);
    let later = std::sync::Arc::new(std::sync::Mutex::new(None));
    let l = later.clone();
    support::run(async move {
        let a = io.into_inner();
        *l.lock().unwrap() = Some(a.write_all(b"end".to_vec()).await.0);
        Ok(())
    });
    let later = later.lock().unwrap().take().unwrap();
    let got = reader.join().unwrap();
    eprintln!(
        "the next write: {later:?}; the peer got {:?}",
        String::from_utf8_lossy(&got)
    );
    if later.is_ok() {
        assert_eq!(
            got, b"takenend",
            "5 taken bytes lost with no error reported"
        );
    }
}

/// A send that fails after `poll_flush` returned (the peer gone): the next write reports
/// it, and it is not silently taken.
#[test]
fn a_failed_send_is_reported_by_the_next_write() {
    support::run(async {
        // A std peer: closed now (ours would close on the ring, after the send maybe).
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        drop(b);
        let mut io = HyperIo::new(UnixStream::from_std(a));
        assert_eq!(poll_write_unix(&mut io, b"lost").await.unwrap(), 4);
        std::future::poll_fn(|cx| hyper::rt::Write::poll_flush(Pin::new(&mut io), cx))
            .await
            .expect("the flush hands the batch over");
        runtime::time::sleep(Duration::from_millis(20)).await;
        let e = poll_write_unix(&mut io, b"next")
            .await
            .expect_err("the failure reported");
        eprintln!("reported: {e}");
        Ok(())
    });
}

/// A batch in flight that cannot finish, bytes waiting behind it with a ticket, then
/// `into_inner` and a write of the stream: everything, once, in order, then the write. The
/// batch's 64 KiB buffer must stay the queue's until its send's CQE: victims of its size,
/// allocated right after the drop and before the peer reads, would otherwise take its
/// block, and the kernel would send their bytes. At the end no op is left in flight.
#[test]
fn a_drop_behind_a_stuck_send_keeps_order() {
    let rt = runtime::Runtime::new().unwrap();
    let (ours, peer) = std::os::unix::net::UnixStream::pair().unwrap();
    let mut io = HyperIo::new(UnixStream::from_std(ours));
    let mut want = fill_then_take(&rt, &mut io, &pattern(5000, 9));
    let (reader, victims, left) = rt.block_on(async move {
        runtime::time::timeout(Duration::from_secs(10), async move {
            let a = io.into_inner();
            let victims: Vec<Vec<u8>> = (0..32).map(|_| vec![0xEE; 64 * 1024]).collect();
            let reader = read_to_end_on_thread(peer);
            a.write_all(b"end".to_vec()).await.0.expect("write");
            drop(a);
            (
                reader,
                victims,
                support::settle(Duration::from_secs(5)).await,
            )
        })
        .await
        .expect("hangs")
    });
    assert_eq!(left, 0, "ops left in flight");
    drop(victims);
    let got = reader.join().unwrap();
    want.extend_from_slice(b"end");
    assert_eq!(got.len(), want.len(), "bytes lost or duplicated");
    assert!(
        got == want,
        "bytes reordered, or sent from a freed buffer a victim took"
    );
}

/// The same, with the runtime dropped first (the send in flight cancelled) and the
/// `HyperIo` dropped outside any runtime: the stream's next write, in a new runtime,
/// reports the gap; what arrived is a prefix of what was taken.
#[test]
fn a_runtime_dropped_under_a_stuck_send_leaves_an_error() {
    let rt = runtime::Runtime::new().unwrap();
    let (ours, peer) = std::os::unix::net::UnixStream::pair().unwrap();
    let mut io = HyperIo::new(UnixStream::from_std(ours));
    let want = fill_then_take(&rt, &mut io, &pattern(5000, 9));
    drop(rt);
    let a = io.into_inner();
    let reader = read_to_end_on_thread(peer);
    support::run(async move {
        let e = a
            .write_all(b"end".to_vec())
            .await
            .0
            .expect_err("a gap reported");
        eprintln!("reported: {e}");
        Ok(())
    });
    let got = reader.join().unwrap();
    assert!(want.starts_with(&got), "not a prefix");
}
