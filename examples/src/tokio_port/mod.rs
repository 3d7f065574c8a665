//! A tokio program ported by changing its imports and its buffer passing, nothing else, in
//! four parts; each part's module shows the tokio original and lists the changed lines at
//! its top. See `docs/coming-from-tokio.md`.
//!
//! 1. [`echo`]: an accept loop and a task per connection that reads into a `Vec` and
//!    writes it back with `write_all`.
//! 2. [`chat`]: `BufReader` + `lines()`, `select!` between the next line, a `broadcast`
//!    message and an idle `sleep`; a line from one client reaches the others.
//! 3. [`http`]: a hyper 1.x server, with hyper-util's `TokioIo`/`TokioTimer` replaced by
//!    `ringloop::net::hyper`'s `HyperIo`/`RuntimeTimer`.
//! 4. [`walk`]: a recursive `fs::read_dir` that counts files and sums their sizes.
//!
//! The changes all parts share:
//!
//! ```text
//! - tokio::…                                      + ringloop::…   (net, io, sync, time, fs, spawn, select!)
//! - stream.read(&mut buf).await?                  + let (n, buf) = stream.read(buf).await; n?;
//! - stream.write_all(&buf).await?                 + stream.write_all(buf).await.0?;
//! ```
//!
//! `ringloop::spawn` takes `!Send` futures (a task stays on its core), so nothing else needed
//! to change; a tokio program that relied on `Send` tasks runs as well, they are just not
//! required here. [`demo`] runs the four parts against clients of its own and checks every
//! answer.

pub mod chat;
pub mod echo;
pub mod http;
pub mod walk;

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ringloop::io::{AsyncBufReadExt, BufReader, Lines};
use ringloop::net::{OwnedReadHalf, TcpListener, TcpStream};

/// Clients the echo and chat checks run at once.
const CLIENTS: usize = 4;
/// Lines each chat client sends.
const LINES: usize = 3;

fn mismatch(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

fn joined<T>(r: Result<io::Result<T>, ringloop::JoinError>) -> io::Result<T> {
    r.map_err(|e| io::Error::other(e.to_string()))?
}

/// Runs all four parts and checks them: the echo server on `listener`, the chat and hyper
/// servers on fresh loopback listeners, the walker on a temporary tree checked against
/// `std::fs`. Returns a report that ends in "verified".
///
/// # Errors
/// I/O errors; `InvalidData` naming the part whose answer was wrong.
pub async fn demo(listener: TcpListener) -> io::Result<String> {
    let echoed = within("echo", demo_echo(listener)).await?;
    let relayed = within("chat", demo_chat()).await?;
    within("hyper", demo_http()).await?;
    let walked = within("walker", demo_walk()).await?;
    Ok(format!(
        "tokio_port: echo {echoed} bytes over {CLIENTS} connections; chat {relayed} lines \
         relayed to the other clients and an idle client dropped; hyper GET / and POST /echo \
         answered; walker {} files, {} dirs, {} bytes as std::fs counts them; verified",
        walked.files, walked.dirs, walked.bytes
    ))
}

/// `part`'s check, failed if it has not finished in 20 s: a server that drops a message
/// would leave its client waiting for ever, and the demo must exit non-zero instead.
async fn within<T>(part: &str, check: impl Future<Output = io::Result<T>>) -> io::Result<T> {
    match ringloop::time::timeout(Duration::from_secs(20), check).await {
        Ok(result) => result,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("{part}: no answer in 20 s"),
        )),
    }
}

/// Part 1's check: [`CLIENTS`] connections at once, each sends a distinct pattern and must
/// read every byte back. Returns the bytes echoed.
async fn demo_echo(listener: TcpListener) -> io::Result<usize> {
    let addr = listener.local_addr()?;
    let server = ringloop::spawn(echo::serve(listener));
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        clients.push(ringloop::spawn(async move {
            // Larger than the server's 1024-byte buffer, so it takes many rounds.
            let sent: Vec<u8> = (0..100_000).map(|i| (i * 7 + c) as u8).collect();
            let stream = TcpStream::connect(addr).await?;
            let (res, _) = stream.write_all(sent.clone()).await;
            res?;
            stream.shutdown(std::net::Shutdown::Write).await?;
            let mut got = Vec::new();
            loop {
                let (n, b) = stream.read(Vec::with_capacity(16 * 1024)).await;
                if n? == 0 {
                    break;
                }
                got.extend_from_slice(&b);
            }
            if got != sent {
                return Err(mismatch(format!(
                    "echo client {c}: sent {} bytes, got {} back (or different ones)",
                    sent.len(),
                    got.len()
                )));
            }
            Ok(got.len())
        }));
    }
    let mut total = 0;
    let mut result = Ok(());
    for client in clients {
        match joined(client.await) {
            Ok(n) => total += n,
            Err(e) => result = result.and(Err(e)),
        }
    }
    server.abort();
    result.map(|()| total)
}

/// A chat client: its lines and the socket to write to.
struct ChatClient {
    lines: Lines<BufReader<OwnedReadHalf>>,
    writer: ringloop::net::OwnedWriteHalf,
    /// The address the server knows it by, from its welcome line.
    addr: SocketAddr,
}

impl ChatClient {
    /// Connects and reads the welcome line, after which the server has subscribed this
    /// client to the hub: nothing sent later can miss it.
    async fn join(server: SocketAddr) -> io::Result<ChatClient> {
        let (reader, writer) = TcpStream::connect(server).await?.into_split();
        let mut lines = BufReader::new(reader).lines();
        let welcome = lines.next_line().await?.unwrap_or_default();
        let addr = welcome
            .strip_prefix("welcome ")
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| mismatch(format!("chat: welcome line {welcome:?}")))?;
        Ok(ChatClient {
            lines,
            writer,
            addr,
        })
    }
}

/// Part 2's check: [`CLIENTS`] clients join, each sends [`LINES`] lines, and each must read
/// exactly the others' lines (in any interleaving, each sender's in order); then a client
/// that says nothing must be told "idle, bye" and disconnected. Returns the lines relayed.
async fn demo_chat() -> io::Result<usize> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    // Long enough that no client of the first check is dropped on a loaded machine.
    let server = ringloop::spawn(chat::serve(listener, Duration::from_secs(30)));
    let result = async {
        let mut clients = Vec::new();
        for _ in 0..CLIENTS {
            clients.push(ChatClient::join(addr).await?);
        }
        let addrs: Vec<SocketAddr> = clients.iter().map(|c| c.addr).collect();
        let mut tasks = Vec::new();
        for (c, mut client) in clients.into_iter().enumerate() {
            let addrs = addrs.clone();
            tasks.push(ringloop::spawn(async move {
                for l in 0..LINES {
                    let line = format!("client {c} line {l}\n");
                    client.writer.write_all(line.into_bytes()).await.0?;
                }
                let mut want: Vec<String> = (0..CLIENTS)
                    .filter(|&o| o != c)
                    .flat_map(|o| {
                        let from = addrs[o];
                        (0..LINES).map(move |l| format!("{from}: client {o} line {l}"))
                    })
                    .collect();
                let mut got = Vec::new();
                while got.len() < want.len() {
                    match client.lines.next_line().await? {
                        // A line that should not come fails now, not at the 20 s limit.
                        Some(line) if !want.contains(&line) => {
                            return Err(mismatch(format!("chat client {c}: got {line:?}")));
                        }
                        Some(line) => got.push(line),
                        None => break,
                    }
                }
                // Each sender's lines in order; the senders interleave as they may.
                let order_kept = (0..CLIENTS).all(|o| {
                    let prefix = format!("{}: ", addrs[o]);
                    let from_o: Vec<&String> =
                        got.iter().filter(|l| l.starts_with(&prefix)).collect();
                    from_o.windows(2).all(|w| w[0] < w[1])
                });
                got.sort();
                want.sort();
                if got != want || !order_kept {
                    return Err(mismatch(format!("chat client {c}: got {got:?}")));
                }
                Ok(got.len())
            }));
        }
        let mut relayed = 0;
        for task in tasks {
            relayed += joined(task.await)?;
        }
        Ok::<_, io::Error>(relayed)
    }
    .await;
    server.abort();
    let relayed = result?;

    // The idle branch, on a server of its own with a short idle time. Nothing waits on a
    // clock here: the client reads until the server says goodbye and closes.
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = ringloop::spawn(chat::serve(listener, Duration::from_millis(50)));
    let result = async {
        let mut client = ChatClient::join(addr).await?;
        let bye = client.lines.next_line().await?;
        let end = client.lines.next_line().await?;
        if bye.as_deref() != Some("idle, bye") || end.is_some() {
            return Err(mismatch(format!(
                "chat: an idle client read {bye:?} then {end:?}"
            )));
        }
        Ok(())
    }
    .await;
    server.abort();
    result.map(|()| relayed)
}

/// Part 3's check: `GET /` and a `POST /echo` of 100 000 bytes from hyper's client on one
/// keep-alive connection, and a 404 (the same routes as `examples::http`, so its check
/// serves).
async fn demo_http() -> io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = ringloop::spawn(http::serve(listener));
    let result = crate::http::check_routes(addr, &[hyper::Version::HTTP_11]).await;
    server.abort();
    result
}

/// A temporary directory, removed when dropped.
struct TempTree(PathBuf);

impl Drop for TempTree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Part 4's check: builds a small tree with `std::fs` (nested directories, an empty one,
/// files of several sizes, a symbolic link), walks it, and compares with [`walk::walk_std`]
/// and with the counts it was built with.
async fn demo_walk() -> io::Result<walk::Totals> {
    let unique = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let tree = TempTree(std::env::temp_dir().join(format!(
        "ringloop-tokio-port-{}-{unique}",
        std::process::id()
    )));
    let built = build_tree(&tree.0)?;
    let walked = walk::walk(&tree.0).await?;
    let by_std = walk::walk_std(&tree.0)?;
    if walked != by_std || walked != built {
        return Err(mismatch(format!(
            "walker: {walked:?}, std::fs: {by_std:?}, built: {built:?}"
        )));
    }
    Ok(walked)
}

/// Three levels of directories with files of distinct sizes, an empty directory and a link
/// (counted as neither); returns what was made.
fn build_tree(root: &Path) -> io::Result<walk::Totals> {
    let mut made = walk::Totals::default();
    std::fs::create_dir_all(root)?;
    let mut dir = root.to_path_buf();
    for depth in 0..3u64 {
        for f in 0..4u64 {
            let len = depth * 1000 + f * 37;
            std::fs::write(dir.join(format!("f{f}")), vec![b'x'; len as usize])?;
            made.files += 1;
            made.bytes += len;
        }
        std::fs::create_dir(dir.join("empty"))?;
        dir = dir.join(format!("d{depth}"));
        std::fs::create_dir(&dir)?;
        made.dirs += 2;
    }
    std::os::unix::fs::symlink(root.join("f1"), root.join("link"))?;
    Ok(made)
}
