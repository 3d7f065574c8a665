//! The load generator: keep-alive HTTP/1.1 over `conns` connections on tokio's
//! current_thread runtime (one pinned thread), `depth` requests in flight per connection
//! (1: one at a time; more: pipelined), every response's status and body verified, the
//! latency of each request recorded (from its send to its last byte verified). In HTTP/2,
//! hyper's client on each connection with `depth` streams at once.

use std::cell::{Cell, RefCell};
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::server::{Proto, TokioExecutor, TokioIo};

/// What one run measured.
#[derive(Debug, Clone, Default)]
pub struct Measured {
    /// Requests answered and verified in the window.
    pub requests: u64,
    /// The window.
    pub secs: f64,
    /// Latencies in µs of the requests in the window, sorted.
    pub latencies_us: Vec<u32>,
}

impl Measured {
    /// Requests per second.
    pub fn rps(&self) -> f64 {
        self.requests as f64 / self.secs.max(1e-9)
    }

    /// The `p`-th percentile latency in µs (0 for none).
    pub fn percentile(&self, p: f64) -> f64 {
        let v = &self.latencies_us;
        if v.is_empty() {
            return 0.0;
        }
        v[((v.len() - 1) as f64 * p / 100.0).round() as usize] as f64
    }
}

const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nhost: bench\r\n\r\n";

/// Drives `addr` in `proto` for `warmup` then measures for `window`; `on_window(true/false)`
/// runs as the window opens and closes (the parent reads the server's CPU clock there).
///
/// # Errors
/// A connection failure, or `InvalidData` for a wrong response (the run fails).
#[allow(clippy::too_many_arguments)]
pub fn run(
    addr: SocketAddr,
    proto: Proto,
    conns: usize,
    depth: usize,
    body: &[u8],
    warmup: Duration,
    window: Duration,
    on_window: &mut dyn FnMut(bool),
) -> io::Result<Measured> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    let body: Rc<[u8]> = body.into();
    local.block_on(&rt, async move {
        let measuring = Rc::new(Cell::new(false));
        let stop = Rc::new(Cell::new(false));
        let latencies = Rc::new(RefCell::new(Vec::<u32>::new()));
        let mut streams = Vec::with_capacity(conns);
        for _ in 0..conns {
            let s = tokio::net::TcpStream::connect(addr).await?;
            s.set_nodelay(true)?;
            streams.push(s);
        }
        let tasks: Vec<_> = streams
            .into_iter()
            .map(|s| {
                let (measuring, stop, latencies, body) = (
                    measuring.clone(),
                    stop.clone(),
                    latencies.clone(),
                    body.clone(),
                );
                tokio::task::spawn_local(async move {
                    match proto {
                        Proto::H1 => {
                            connection(s, depth, &body, &measuring, &stop, &latencies).await
                        }
                        Proto::H2 => {
                            connection_h2(s, depth, body, measuring, stop, latencies).await
                        }
                    }
                })
            })
            .collect();
        tokio::time::sleep(warmup).await;
        on_window(true);
        measuring.set(true);
        let start = Instant::now();
        tokio::time::sleep(window).await;
        measuring.set(false);
        let secs = start.elapsed().as_secs_f64();
        on_window(false);
        stop.set(true);
        for t in tasks {
            t.await.map_err(io::Error::other)??;
        }
        let mut latencies_us = std::mem::take(&mut *latencies.borrow_mut());
        latencies_us.sort_unstable();
        Ok(Measured {
            requests: latencies_us.len() as u64,
            secs,
            latencies_us,
        })
    })
}

async fn connection(
    mut s: tokio::net::TcpStream,
    depth: usize,
    body: &[u8],
    measuring: &Cell<bool>,
    stop: &Cell<bool>,
    latencies: &RefCell<Vec<u32>>,
) -> io::Result<()> {
    let batch: Vec<u8> = REQUEST.repeat(depth);
    let mut buf = Vec::with_capacity(64 * 1024);
    while !stop.get() {
        let sent = Instant::now();
        s.write_all(&batch).await?;
        for _ in 0..depth {
            read_response(&mut s, &mut buf, body).await?;
            if measuring.get() {
                latencies
                    .borrow_mut()
                    .push(sent.elapsed().as_micros().min(u32::MAX as u128) as u32);
            }
        }
    }
    // A reset, not a FIN: thousands of runs leave no TIME_WAIT behind.
    let _ = crate::echo::set_linger_zero(std::os::fd::AsRawFd::as_raw_fd(&s));
    Ok(())
}

/// One HTTP/2 connection with `depth` streams at once, each sending `GET /` again as soon
/// as its response is verified.
async fn connection_h2(
    s: tokio::net::TcpStream,
    depth: usize,
    body: Rc<[u8]>,
    measuring: Rc<Cell<bool>>,
    stop: Rc<Cell<bool>>,
    latencies: Rc<RefCell<Vec<u32>>>,
) -> io::Result<()> {
    let (sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor, TokioIo(s))
        .await
        .map_err(io::Error::other)?;
    tokio::task::spawn_local(async move {
        let _ = conn.await;
    });
    let streams: Vec<_> = (0..depth)
        .map(|_| {
            let (mut sender, body, measuring, stop, latencies) = (
                sender.clone(),
                body.clone(),
                measuring.clone(),
                stop.clone(),
                latencies.clone(),
            );
            tokio::task::spawn_local(async move {
                while !stop.get() {
                    let sent = Instant::now();
                    let req = hyper::Request::get("/")
                        .body(Empty::<Bytes>::new())
                        .map_err(io::Error::other)?;
                    sender.ready().await.map_err(io::Error::other)?;
                    let res = sender.send_request(req).await.map_err(io::Error::other)?;
                    let status = res.status();
                    let got = res
                        .into_body()
                        .collect()
                        .await
                        .map_err(io::Error::other)?
                        .to_bytes();
                    if status != hyper::StatusCode::OK || got[..] != body[..] {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!(
                                "status {status}, body of {} bytes differs from the {} expected",
                                got.len(),
                                body.len()
                            ),
                        ));
                    }
                    if measuring.get() {
                        latencies
                            .borrow_mut()
                            .push(sent.elapsed().as_micros().min(u32::MAX as u128) as u32);
                    }
                }
                Ok::<_, io::Error>(())
            })
        })
        .collect();
    for s in streams {
        s.await.map_err(io::Error::other)??;
    }
    Ok(())
}

/// Reads one response from `s` (bytes past it stay in `buf`) and checks it: 200 and `body`.
async fn read_response(
    s: &mut tokio::net::TcpStream,
    buf: &mut Vec<u8>,
    body: &[u8],
) -> io::Result<()> {
    let bad = |why: String| io::Error::new(io::ErrorKind::InvalidData, why);
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head =
                std::str::from_utf8(&buf[..end]).map_err(|_| bad("head not UTF-8".into()))?;
            if !head.starts_with("HTTP/1.1 200 ") {
                return Err(bad(format!("status line {:?}", head.lines().next())));
            }
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .ok_or_else(|| bad("no content-length".into()))?;
            let total = end + 4 + len;
            while buf.len() < total {
                read_more(s, buf).await?;
            }
            if &buf[end + 4..total] != body || len != body.len() {
                return Err(bad(format!(
                    "body of {len} bytes differs from the {} expected",
                    body.len()
                )));
            }
            buf.drain(..total);
            return Ok(());
        }
        read_more(s, buf).await?;
    }
}

async fn read_more(s: &mut tokio::net::TcpStream, buf: &mut Vec<u8>) -> io::Result<()> {
    if buf.capacity() - buf.len() < 16 * 1024 {
        buf.reserve(64 * 1024);
    }
    if s.read_buf(buf).await? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "server closed",
        ));
    }
    Ok(())
}
