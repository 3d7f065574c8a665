//! Part 2, a chat room: `BufReader` + `lines()`, `select!` between the client's next line, a
//! broadcast message and an idle timer, and a `broadcast` hub.
//!
//! The tokio original:
//!
//! ```text
//! use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
//! use tokio::net::{TcpListener, TcpStream};
//! use tokio::sync::broadcast::{self, error::RecvError};
//! use tokio::time::sleep;
//!
//! pub async fn serve(listener: TcpListener, idle: Duration) -> io::Result<()> {
//!     let (tx, _) = broadcast::channel::<(SocketAddr, String)>(64);
//!     loop {
//!         let (stream, addr) = listener.accept().await?;
//!         let (tx, rx) = (tx.clone(), tx.subscribe());
//!         tokio::spawn(async move {
//!             let _ = session(stream, addr, tx, rx, idle).await;
//!         });
//!     }
//! }
//!
//! async fn session(stream: TcpStream, me: SocketAddr, tx: ..., mut rx: ..., idle: Duration)
//!     -> io::Result<()>
//! {
//!     let (reader, mut writer) = stream.into_split();
//!     let mut lines = BufReader::new(reader).lines();
//!     writer.write_all(format!("welcome {me}\n").as_bytes()).await?;
//!     loop {
//!         tokio::select! {
//!             line = lines.next_line() => match line? {
//!                 Some(line) => { let _ = tx.send((me, line)); }
//!                 None => return Ok(()),
//!             },
//!             msg = rx.recv() => match msg {
//!                 Ok((from, line)) if from != me => {
//!                     writer.write_all(format!("{from}: {line}\n").as_bytes()).await?;
//!                 }
//!                 Ok(_) | Err(RecvError::Lagged(_)) => {}
//!                 Err(RecvError::Closed) => return Ok(()),
//!             },
//!             _ = sleep(idle) => {
//!                 writer.write_all(b"idle, bye\n").await?;
//!                 return Ok(());
//!             }
//!         }
//!     }
//! }
//! ```
//!
//! What changed, line for line:
//!
//! ```text
//! - use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
//! + use ringloop::io::{AsyncBufReadExt, BufReader};
//! - use tokio::net::{TcpListener, TcpStream};       + use ringloop::net::{TcpListener, TcpStream};
//! - use tokio::sync::broadcast::{self, error::RecvError};
//! + use ringloop::sync::broadcast::{self, RecvError};
//! - use tokio::time::sleep;                         + use ringloop::time::sleep;
//! - let (reader, mut writer) = stream.into_split(); + let (reader, writer) = ..;  (`&self` writes)
//! - tokio::spawn(..)                                + ringloop::spawn(..)
//! - tokio::select! { .. }                           + ringloop::select! { .. }
//! - writer.write_all(s.as_bytes()).await?;          + writer.write_all(s.into_bytes()).await.0?;
//! - writer.write_all(b"idle, bye\n").await?;        + writer.write_all(&b"idle, bye\n"[..]).await.0?;
//! ```
//!
//! `select!` is tokio's syntax; it polls the branches in the order written (tokio starts at
//! a random one unless `biased;`), and a binding in a branch's pattern cannot be `mut`.
//! Dropping the losing branches loses nothing: `next_line` and `recv` are cancel safe here
//! as in tokio, and the `sleep` is made again each round, so it counts silence since the
//! last event.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use ringloop::io::{AsyncBufReadExt, BufReader};
use ringloop::net::{TcpListener, TcpStream};
use ringloop::sync::broadcast::{self, RecvError};
use ringloop::time::sleep;

/// One chat line and who sent it.
type Message = (SocketAddr, String);

/// Accepts connections forever: each gets a "welcome ADDR" line, then every line it sends
/// goes to every other client as "ADDR: LINE"; a client silent for `idle` gets "idle, bye"
/// and is disconnected.
///
/// # Errors
/// Accept errors.
pub async fn serve(listener: TcpListener, idle: Duration) -> io::Result<()> {
    let (tx, _) = broadcast::channel::<Message>(64);
    loop {
        let (stream, addr) = listener.accept().await?;
        let (tx, rx) = (tx.clone(), tx.subscribe());
        ringloop::spawn(async move {
            let _ = session(stream, addr, tx, rx, idle).await;
        });
    }
}

async fn session(
    stream: TcpStream,
    me: SocketAddr,
    tx: broadcast::Sender<Message>,
    mut rx: broadcast::Receiver<Message>,
    idle: Duration,
) -> io::Result<()> {
    let (reader, writer) = stream.into_split();
    let mut lines = BufReader::new(reader).lines();
    writer
        .write_all(format!("welcome {me}\n").into_bytes())
        .await
        .0?;
    loop {
        ringloop::select! {
            line = lines.next_line() => match line? {
                Some(line) => {
                    let _ = tx.send((me, line));
                }
                None => return Ok(()),
            },
            msg = rx.recv() => match msg {
                Ok((from, line)) if from != me => {
                    writer.write_all(format!("{from}: {line}\n").into_bytes()).await.0?;
                }
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return Ok(()),
            },
            _ = sleep(idle) => {
                writer.write_all(&b"idle, bye\n"[..]).await.0?;
                return Ok(());
            }
        }
    }
}
