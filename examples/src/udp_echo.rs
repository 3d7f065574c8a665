//! A UDP echo server and its client. The server receives each datagram into one reused
//! buffer ([`UdpSocket::recv_from`]) and sends that same buffer back to the sender
//! ([`UdpSocket::send_to`]): one buffer for the server's whole life, no copy.
//!
//! The client ([`request`]) sends a datagram and waits for its echo, sending again after a
//! timeout (UDP may drop datagrams, even on loopback under pressure).
//!
//! # Examples
//! ```
//! use examples::udp_echo;
//! use net::UdpSocket;
//!
//! runtime::Runtime::new()?.block_on(async {
//!     let socket = UdpSocket::bind("127.0.0.1:0").await?;
//!     let report = udp_echo::demo(socket).await?;
//!     assert!(report.contains("verified"));
//!     Ok::<_, std::io::Error>(())
//! })?;
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use net::UdpSocket;

use crate::signal::{Either, Signal, race};

/// The port of `udp_echo` without `--addr`.
pub const DEFAULT_PORT: u16 = 7003;
/// The largest datagram echoed whole (the largest UDP payload over IPv4).
pub const MAX_DATAGRAM: usize = 65_507;

/// Echoes datagrams on `socket` until `stop` fires, counting each echoed datagram on `stop`
/// ([`Signal::after`]`(Some(n))` stops after `n`). Returns the datagrams echoed.
///
/// # Errors
/// A receive error other than an ICMP-reported one (ECONNREFUSED from an earlier reply to a
/// closed port is skipped).
pub async fn serve(socket: UdpSocket, stop: Signal) -> io::Result<usize> {
    let mut buf = Vec::with_capacity(MAX_DATAGRAM);
    let mut echoed = 0;
    loop {
        buf.clear();
        let (res, b) = match race(stop.wait(), socket.recv_from(buf)).await {
            Either::Left(()) => return Ok(echoed),
            Either::Right(r) => r,
        };
        buf = b;
        let peer = match res {
            Ok((_, peer)) => peer,
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => continue,
            Err(e) => return Err(e),
        };
        // `buf` holds exactly the datagram: send that buffer back as it is.
        let (res, b) = socket.send_to(buf, peer).await;
        buf = b;
        if let Err(e) = res {
            eprintln!("udp_echo: send to {peer}: {e}");
        }
        echoed += 1;
        stop.count();
    }
}

/// A client socket on the loopback of `server`'s family, on a free port.
///
/// # Errors
/// `bind(2)`'s error.
pub async fn client_socket(server: SocketAddr) -> io::Result<UdpSocket> {
    let ip = match server {
        SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
        SocketAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
    };
    UdpSocket::bind(SocketAddr::new(ip, 0)).await
}

/// Sends `msg` to `server` from `socket` and waits for the same bytes to come back from
/// `server` (stray datagrams are skipped), sending again after each `wait`, `tries` times.
///
/// # Errors
/// `TimedOut` when no echo came; the socket's errors.
pub async fn request(
    socket: &UdpSocket,
    server: SocketAddr,
    msg: &[u8],
    wait: Duration,
    tries: usize,
) -> io::Result<()> {
    let mut buf = Vec::with_capacity(MAX_DATAGRAM);
    for _ in 0..tries.max(1) {
        socket.send_to(msg.to_vec(), server).await.0?;
        let answer = runtime::time::timeout(wait, async {
            loop {
                buf.clear();
                let (res, b) = socket.recv_from(std::mem::take(&mut buf)).await;
                buf = b;
                let (n, from) = res?;
                if from == server && buf[..n] == *msg {
                    return Ok::<_, io::Error>(());
                }
            }
        })
        .await;
        match answer {
            Ok(r) => return r,
            // The timeout dropped the receive (and its buffer with it): start a fresh one.
            Err(_) if buf.capacity() == 0 => buf = Vec::with_capacity(MAX_DATAGRAM),
            Err(_) => {}
        }
    }
    Err(io::Error::new(
        io::ErrorKind::TimedOut,
        format!("no echo from {server} after {tries} tries"),
    ))
}

/// Sizes the demo sends: empty, small, and the largest datagram.
pub const DEMO_SIZES: [usize; 4] = [0, 1, 1400, MAX_DATAGRAM];

/// The self-test of `udp_echo --demo`: serves on `socket`, sends datagrams of
/// [`DEMO_SIZES`] bytes from a client and checks each echo; stops the server and returns a
/// report.
///
/// # Errors
/// Socket errors; `TimedOut` when an echo did not come back.
pub async fn demo(socket: UdpSocket) -> io::Result<String> {
    let addr = socket.local_addr()?;
    let stop = Signal::new();
    let server = runtime::spawn(serve(socket, stop.clone()));
    let client = async {
        let sock = client_socket(addr).await?;
        let mut bytes = 0;
        for (i, len) in DEMO_SIZES.into_iter().enumerate() {
            let msg: Vec<u8> = (0..len).map(|j| (i * 37 + j) as u8).collect();
            request(&sock, addr, &msg, Duration::from_millis(200), 5).await?;
            bytes += len;
        }
        Ok::<_, io::Error>(bytes)
    }
    .await;
    stop.fire();
    let echoed = server.await??;
    Ok(format!(
        "udp_echo: {} datagrams ({} bytes) echoed and verified; the server echoed {echoed}",
        DEMO_SIZES.len(),
        client?
    ))
}
