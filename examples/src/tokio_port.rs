//! A tokio program ported by changing its imports and its buffer passing, nothing else: a line
//! server where every connection's lines go to one hub task over an `mpsc` channel (it counts
//! them, a chat room's shape), each line is answered, and an idle connection is closed by a
//! `timeout`. See `docs/coming-from-tokio.md`.
//!
//! What changed from the tokio original, line for line:
//!
//! ```text
//! - use tokio::net::{TcpListener, TcpStream};     + use ringloop::net::{TcpListener, TcpStream};
//! - use tokio::sync::mpsc;                        + use ringloop::sync::mpsc;
//! - use tokio::time::timeout;                     + use ringloop::time::timeout;
//! - tokio::spawn(..)                              + ringloop::spawn(..)
//! - let n = stream.read(&mut buf).await?;         + let (n, b) = stream.read(buf).await; buf = b;
//! - stream.write_all(&reply).await?;              + let (res, _) = stream.write_all(reply).await; res?;
//! ```
//!
//! `ringloop::spawn` takes `!Send` futures (a task stays on its core), so nothing else needed
//! to change; a tokio program that relied on `Send` tasks runs as well, they are just not
//! required here.

use std::io;
use std::time::Duration;

use ringloop::net::{TcpListener, TcpStream};
use ringloop::sync::mpsc;
use ringloop::time::timeout;

/// How long a connection may stay silent before the server closes it.
pub const IDLE: Duration = Duration::from_secs(5);

/// Serves `connections` connections, then returns how many lines the hub counted.
///
/// # Errors
/// Accept errors.
pub async fn serve(listener: TcpListener, connections: usize) -> io::Result<usize> {
    let (tx, mut rx) = mpsc::channel::<String>(64);
    let hub = ringloop::spawn(async move {
        let mut lines = 0;
        while rx.recv().await.is_some() {
            lines += 1;
        }
        lines
    });
    let mut sessions = Vec::new();
    for _ in 0..connections {
        let (stream, _) = listener.accept().await?;
        let tx = tx.clone();
        sessions.push(ringloop::spawn(async move {
            let _ = session(stream, tx).await;
        }));
    }
    drop(tx);
    for session in sessions {
        let _ = session.await;
    }
    Ok(hub.await.unwrap_or(0))
}

/// One connection: each line read is sent to the hub and answered with `ok <line>`; the
/// connection ends at end of stream or after [`IDLE`] without a byte.
async fn session(stream: TcpStream, hub: mpsc::Sender<String>) -> io::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    let mut pending = Vec::new();
    loop {
        // tokio: `timeout(IDLE, stream.read(&mut buf)).await`
        let Ok((n, b)) = timeout(IDLE, stream.read(buf)).await else {
            return Ok(()); // idle: the read is cancelled and the connection closed
        };
        buf = b;
        if n? == 0 {
            return Ok(());
        }
        pending.extend_from_slice(&buf);
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let text = String::from_utf8_lossy(&line[..end]).into_owned();
            let reply = format!("ok {text}\n").into_bytes();
            if hub.send(text).await.is_err() {
                return Ok(());
            }
            // tokio: `stream.write_all(&reply).await?`
            let (res, _) = stream.write_all(reply).await;
            res?;
        }
    }
}

/// Runs the server against `clients` clients of its own, each sending three lines, and checks
/// every answer and the hub's count; returns a report.
///
/// # Errors
/// I/O errors; `InvalidData` when an answer or the count is wrong.
pub async fn demo(listener: TcpListener) -> io::Result<String> {
    const CLIENTS: usize = 4;
    const LINES: usize = 3;
    let addr = listener.local_addr()?;
    let server = ringloop::spawn(serve(listener, CLIENTS));
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        clients.push(ringloop::spawn(async move {
            let stream = TcpStream::connect(addr).await?;
            let mut want = String::new();
            for l in 0..LINES {
                let line = format!("client {c} line {l}\n");
                want.push_str(&format!("ok client {c} line {l}\n"));
                let (res, _) = stream.write_all(line.into_bytes()).await;
                res?;
            }
            let mut got = Vec::new();
            while got.len() < want.len() {
                let (n, b) = stream.read(Vec::with_capacity(256)).await;
                if n? == 0 {
                    break;
                }
                got.extend_from_slice(&b);
            }
            if got != want.as_bytes() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("client {c}: got {:?}", String::from_utf8_lossy(&got)),
                ));
            }
            Ok::<_, io::Error>(())
        }));
    }
    for client in clients {
        client
            .await
            .map_err(|e| io::Error::other(e.to_string()))??;
    }
    let lines = server
        .await
        .map_err(|e| io::Error::other(e.to_string()))??;
    if lines != CLIENTS * LINES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the hub counted {lines} lines, not {}", CLIENTS * LINES),
        ));
    }
    Ok(format!(
        "tokio_port: {CLIENTS} clients, {lines} lines answered and counted by the hub, verified"
    ))
}
