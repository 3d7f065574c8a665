//! Part 1, the echo server: tokio's README example, ported.
//!
//! The tokio original:
//!
//! ```text
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! use tokio::net::TcpListener;
//!
//! pub async fn serve(listener: TcpListener) -> io::Result<()> {
//!     loop {
//!         let (mut socket, _) = listener.accept().await?;
//!         tokio::spawn(async move {
//!             let mut buf = vec![0; 1024];
//!             loop {
//!                 let n = match socket.read(&mut buf).await {
//!                     Ok(0) | Err(_) => return,
//!                     Ok(n) => n,
//!                 };
//!                 if socket.write_all(&buf[..n]).await.is_err() {
//!                     return;
//!                 }
//!             }
//!         });
//!     }
//! }
//! ```
//!
//! What changed, line for line:
//!
//! ```text
//! - use tokio::io::{AsyncReadExt, AsyncWriteExt};   (the methods are the stream's own)
//! - use tokio::net::TcpListener;                    + use ringloop::net::TcpListener;
//! - let (mut socket, _) = ..                       + let (socket, _) = ..  (reads and writes take `&self`)
//! - tokio::spawn(..)                                + ringloop::spawn(..)
//! - let mut buf = vec![0; 1024];                    + let mut buf = Vec::with_capacity(1024);
//! - socket.read(&mut buf).await                     + let (res, b) = socket.read(buf).await;
//! - socket.write_all(&buf[..n]).await               + let (res, b) = socket.write_all(b).await; buf = b;
//! ```
//!
//! The read sets the `Vec`'s length to the bytes read, so writing the whole buffer back is
//! tokio's `&buf[..n]`; the next read fills it from its start again.

use std::io;

use ringloop::net::TcpListener;

/// Echoes every connection of `listener` back to it, a task per connection, until the task
/// running it is dropped or aborted.
///
/// # Errors
/// Accept errors.
pub async fn serve(listener: TcpListener) -> io::Result<()> {
    loop {
        let (socket, _) = listener.accept().await?;
        ringloop::spawn(async move {
            let mut buf = Vec::with_capacity(1024);
            loop {
                let (res, b) = socket.read(buf).await;
                match res {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                let (res, b) = socket.write_all(b).await;
                if res.is_err() {
                    return;
                }
                buf = b;
            }
        });
    }
}
