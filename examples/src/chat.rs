//! A line-based chat server across cores: every core listens on the same port
//! (`SO_REUSEPORT`, see [`crate::reuseport`]) and keeps the clients it accepted in a room of
//! its own; a line from any client goes to every client on every core.
//!
//! How a line travels: the sender's session task puts it, once per core, into that core's
//! inbox (a bounded [`runtime::sync::mpsc`] channel, so a flood waits instead of piling up);
//! each core's dispatcher task hands it to the writer task of each of its clients (a bounded
//! queue per client: a client too slow to keep up is disconnected rather than allowed to
//! stall the room). `/who` asks every core for its head count with [`runtime::spawn_on`],
//! which runs a small task on each core that reads that core's room.
//!
//! The protocol, one line each way (`\n` or `\r\n`):
//! - the server greets with `* welcome, you are c0.3` (client 3 of core 0), announces
//!   `* c1.2 joined` and `* c1.2 left` to the others, and relays `c0.3: hello` to everyone
//!   but the sender;
//! - a client sends text, `/who` (answered `* online: 5 (per core: [3, 2])`) or `/quit`.
//!
//! # Examples
//! ```
//! let report = examples::chat::demo(2)?;
//! assert!(report.contains("verified"));
//! # Ok::<(), std::io::Error>(())
//! ```

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use net::{OwnedReadHalf, OwnedWriteHalf, TcpListener, TcpStream};
use runtime::sync::mpsc;

use crate::cli;
use crate::reuseport::{self, ReuseportGroup};
use crate::signal::{Signal, accept_until};

/// The port of `chat` without `--addr`.
pub const DEFAULT_PORT: u16 = 7002;
/// The longest line accepted (bytes, without the newline); a longer one ends the session.
pub const MAX_LINE: usize = 4096;
/// Lines waiting for one client's socket before the client counts as too slow.
const CLIENT_QUEUE: usize = 256;
/// Lines waiting in one core's inbox before senders wait.
const INBOX: usize = 1024;

/// A client: the `n`th accepted by core `core`; shown as `c{core}.{n}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ClientId {
    /// The core whose room holds the client.
    pub core: usize,
    /// Its number on that core.
    pub n: u64,
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}.{}", self.core, self.n)
    }
}

/// One line for the clients: said by a client (`c0.3: text`) or a notice of the server
/// (`* text`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The client that said it, or that the notice is about (`c0.3 joined`): the line is
    /// not delivered to that client.
    pub from: Option<ClientId>,
    /// The text, without newline.
    pub text: String,
    /// A notice of the server, shown as `* text`.
    pub notice: bool,
}

impl Line {
    fn notice(about: Option<ClientId>, text: String) -> Arc<Line> {
        Arc::new(Line {
            from: about,
            text,
            notice: true,
        })
    }

    /// The bytes sent to a client.
    pub fn render(&self) -> Vec<u8> {
        match (self.notice, self.from) {
            (false, Some(id)) => format!("{id}: {}\n", self.text),
            _ => format!("* {}\n", self.text),
        }
        .into_bytes()
    }
}

/// Every core's inbox; shared by all cores.
type Hub = Arc<Vec<mpsc::Sender<Arc<Line>>>>;

/// Puts `line` into every core's inbox, waiting where one is full.
async fn broadcast(hub: &Hub, line: Arc<Line>) {
    for inbox in hub.iter() {
        // Fails only when that core has stopped.
        let _ = inbox.send(line.clone()).await;
    }
}

/// One core's clients: the queue of each one's writer task.
struct Room {
    core: usize,
    next: Cell<u64>,
    clients: RefCell<BTreeMap<u64, mpsc::Sender<Arc<Line>>>>,
}

thread_local! {
    /// This core's room, for the `/who` tasks that `spawn_on` sends here.
    static ROOM: RefCell<Option<Rc<Room>>> = const { RefCell::new(None) };
}

impl Room {
    /// Adds a client whose writer reads `queue`.
    fn join(&self, queue: mpsc::Sender<Arc<Line>>) -> ClientId {
        let n = self.next.get();
        self.next.set(n + 1);
        self.clients.borrow_mut().insert(n, queue);
        ClientId { core: self.core, n }
    }

    fn leave(&self, id: ClientId) {
        self.clients.borrow_mut().remove(&id.n);
    }

    /// Queues `line` for client `n`; a client whose queue is full (or gone) is dropped from
    /// the room, which closes its connection once its writer drained the queue.
    fn send_to(&self, n: u64, line: Arc<Line>) {
        let mut clients = self.clients.borrow_mut();
        if let Some(queue) = clients.get(&n)
            && queue.try_send(line).is_err()
        {
            eprintln!("chat: c{}.{n} is too slow; disconnecting it", self.core);
            clients.remove(&n);
        }
    }

    /// Queues `line` for every client here but the one it is from.
    fn deliver(&self, line: &Arc<Line>) {
        let targets: Vec<u64> = self
            .clients
            .borrow()
            .keys()
            .copied()
            .filter(|&n| line.from != Some(ClientId { core: self.core, n }))
            .collect();
        for n in targets {
            self.send_to(n, line.clone());
        }
    }

    fn len(&self) -> usize {
        self.clients.borrow().len()
    }
}

/// Reads `\n`-terminated lines from a stream's read half (a trailing `\r` is dropped).
#[derive(Debug)]
pub struct LineReader {
    half: OwnedReadHalf,
    pending: Vec<u8>,
    chunk: Vec<u8>,
}

impl LineReader {
    /// Reads lines from `half`.
    pub fn new(half: OwnedReadHalf) -> LineReader {
        LineReader {
            half,
            pending: Vec::new(),
            chunk: Vec::new(),
        }
    }

    /// The next line; `None` at end of stream (after a last unterminated line, if any).
    ///
    /// # Errors
    /// The read's error; `InvalidData` for a line longer than [`MAX_LINE`].
    pub async fn next_line(&mut self) -> io::Result<Option<String>> {
        loop {
            if let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.pending.drain(..=end).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(Some(String::from_utf8_lossy(&line).into_owned()));
            }
            if self.pending.len() > MAX_LINE {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("a line longer than {MAX_LINE} bytes"),
                ));
            }
            // A read dropped midway (under a timeout) keeps the buffer: start a new one.
            if self.chunk.capacity() == 0 {
                self.chunk = Vec::with_capacity(MAX_LINE);
            }
            // A read fills the Vec from its start and sets its length to what it read.
            let (res, chunk) = self.half.read(std::mem::take(&mut self.chunk)).await;
            self.chunk = chunk;
            let n = res?;
            if n == 0 {
                if self.pending.is_empty() {
                    return Ok(None);
                }
                let line = String::from_utf8_lossy(&self.pending).into_owned();
                self.pending.clear();
                return Ok(Some(line));
            }
            self.pending.extend_from_slice(&self.chunk[..n]);
        }
    }
}

/// Head counts of every core's room, asked with [`runtime::spawn_on`].
async fn who(cores: usize) -> io::Result<Vec<usize>> {
    let mut asks = Vec::with_capacity(cores);
    for core in 0..cores {
        asks.push(runtime::spawn_on(core, async {
            ROOM.with(|r| r.borrow().as_ref().map_or(0, |room| room.len()))
        })?);
    }
    let mut counts = Vec::with_capacity(cores);
    for ask in asks {
        counts.push(ask.await?);
    }
    Ok(counts)
}

/// Writes what `queue` brings to the client until the room lets go of the client, then
/// closes the connection (which ends its session's reads too).
async fn write_lines(half: OwnedWriteHalf, mut queue: mpsc::Receiver<Arc<Line>>) {
    while let Some(line) = queue.recv().await {
        let (res, _) = half.write_all(line.render()).await;
        if res.is_err() {
            break;
        }
    }
    let _ = half.shutdown(Shutdown::Both).await;
}

/// One client's session on this core.
async fn session(stream: TcpStream, room: Rc<Room>, hub: Hub, cores: usize) -> io::Result<()> {
    let _ = stream.set_nodelay(true);
    let (read_half, write_half) = stream.into_split();
    let (queue, queued) = mpsc::channel(CLIENT_QUEUE);
    // The greeting goes first in the queue, before any line relayed to the client.
    let id = room.join(queue.clone());
    let _ = queue.try_send(Line::notice(None, format!("welcome, you are {id}")));
    // Only the room holds the queue now: when the room drops it, the writer ends.
    drop(queue);
    runtime::spawn(write_lines(write_half, queued));
    broadcast(&hub, Line::notice(Some(id), format!("{id} joined"))).await;

    let mut lines = LineReader::new(read_half);
    let result = loop {
        let line = match lines.next_line().await {
            Ok(Some(line)) => line,
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        };
        match line.as_str() {
            "/quit" => break Ok(()),
            "/who" => {
                let text = match who(cores).await {
                    Ok(counts) => {
                        let total: usize = counts.iter().sum();
                        format!("online: {total} (per core: {counts:?})")
                    }
                    // A core that is shutting down no longer takes tasks.
                    Err(e) => format!("who is online is unknown: {e}"),
                };
                room.send_to(id.n, Line::notice(None, text));
            }
            _ => {
                let line = Arc::new(Line {
                    from: Some(id),
                    text: line,
                    notice: false,
                });
                broadcast(&hub, line).await;
            }
        }
    };
    room.leave(id);
    broadcast(&hub, Line::notice(Some(id), format!("{id} left"))).await;
    result
}

/// What [`serve`] returns: the clients each core accepted, and the client's result.
pub type Served = reuseport::Served<String>;

/// One core's setup: its listener, and its room, which its dispatcher task fills from its
/// inbox.
async fn serve_core(
    core: usize,
    group: &ReuseportGroup,
    mut inbox: mpsc::Receiver<Arc<Line>>,
) -> io::Result<(TcpListener, Rc<Room>)> {
    let listener = group.listen(core).await?;
    let room = Rc::new(Room {
        core,
        next: Cell::new(0),
        clients: RefCell::new(BTreeMap::new()),
    });
    ROOM.with(|r| *r.borrow_mut() = Some(room.clone()));
    let dispatcher_room = room.clone();
    runtime::spawn(async move {
        while let Some(line) = inbox.recv().await {
            dispatcher_room.deliver(&line);
        }
    });
    Ok((listener, room))
}

/// Accepts clients into `room` until `stop` fires; returns how many were accepted. Each
/// finished session is counted on `stop`.
async fn accept_loop(
    listener: TcpListener,
    room: Rc<Room>,
    hub: Hub,
    cores: usize,
    stop: Signal,
) -> usize {
    accept_until(listener, stop, "chat", move |stream| {
        let (room, hub) = (room.clone(), hub.clone());
        async move {
            match session(stream, room, hub, cores).await {
                // A client that leaves with lines still unread resets the connection.
                Err(e) if e.kind() != io::ErrorKind::ConnectionReset => {
                    eprintln!("chat: session: {e}");
                }
                _ => {}
            }
        }
    })
    .await
}

/// Runs the chat server on `cores` cores listening on `addr` until `stop` fires (it counts
/// finished sessions on all cores: [`Signal::after`]`(Some(n))` stops after `n`), as
/// [`reuseport::serve_per_core`]: prints `listening on ADDR` once every core listens, then
/// runs `client`, if given, on core 0 with that address and fires `stop` when it is done.
///
/// # Errors
/// A core's bind or listen error (every core then stops).
///
/// # Panics
/// As [`runtime::Runtime::run_per_core`]: if a core cannot set up its ring.
pub fn serve<C, Fut>(
    addr: SocketAddr,
    cores: usize,
    stop: Signal,
    client: Option<C>,
) -> io::Result<Served>
where
    C: FnOnce(SocketAddr) -> Fut + Send + 'static,
    Fut: Future<Output = io::Result<String>>,
{
    let cores = cores.max(1);
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..cores)
        .map(|_| mpsc::channel(INBOX))
        .map(|(s, r)| (s, Some(r)))
        .unzip();
    let hub: Hub = Arc::new(senders);
    let inboxes = Mutex::new(receivers);
    reuseport::serve_per_core(addr, cores, stop, client, move |core, group, stop| {
        let inbox = inboxes.lock().unwrap_or_else(|e| e.into_inner())[core].take();
        let hub = hub.clone();
        async move {
            let inbox = inbox.expect("one inbox per core");
            let (listener, room) = serve_core(core, &group, inbox).await?;
            Ok(async move {
                let accepted = accept_loop(listener, room, hub, cores, stop).await;
                ROOM.with(|r| r.borrow_mut().take());
                Ok(accepted)
            })
        }
    })
}

/// A chat client for the demo and the tests: its id, its line reader and its write half.
#[derive(Debug)]
pub struct Client {
    /// The id the server greeted it with.
    pub id: String,
    lines: LineReader,
    write: OwnedWriteHalf,
}

impl Client {
    /// Connects and reads the greeting.
    ///
    /// # Errors
    /// The connection's errors; `InvalidData` if the first line is not a greeting.
    pub async fn connect(addr: SocketAddr) -> io::Result<Client> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (read, write) = stream.into_split();
        let mut lines = LineReader::new(read);
        let greeting = lines.next_line().await?.unwrap_or_default();
        let id = greeting
            .strip_prefix("* welcome, you are ")
            .ok_or_else(|| bad(format!("expected a greeting, got {greeting:?}")))?
            .to_string();
        Ok(Client { id, lines, write })
    }

    /// Sends one line.
    ///
    /// # Errors
    /// The write's error.
    pub async fn send(&self, text: &str) -> io::Result<()> {
        self.write
            .write_all(format!("{text}\n").into_bytes())
            .await
            .0
    }

    /// The next line that `keep` accepts (others, such as join notices, are skipped).
    ///
    /// # Errors
    /// The read's error; `UnexpectedEof` if the server closed first.
    pub async fn next_matching(&mut self, keep: impl Fn(&str) -> bool) -> io::Result<String> {
        loop {
            match self.lines.next_line().await? {
                Some(line) if keep(&line) => return Ok(line),
                Some(_) => {}
                None => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the server closed the connection",
                    ));
                }
            }
        }
    }
}

fn bad(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// The demo's client side: `clients` clients connect (and are greeted, so each is in its
/// core's room), each says one line, each checks it got every other client's line and
/// not its own, and one asks `/who`. Returns a report.
///
/// # Errors
/// A client's error; `InvalidData` when a line is missing or wrong; `TimedOut` after 10 s.
pub async fn run_clients(addr: SocketAddr, clients: usize) -> io::Result<String> {
    let exchange = async {
        let mut all = Vec::with_capacity(clients);
        for _ in 0..clients {
            all.push(Client::connect(addr).await?);
        }
        let ids: Vec<String> = all.iter().map(|c| c.id.clone()).collect();
        for c in &all {
            c.send(&format!("hello from {}", c.id)).await?;
        }
        let mut per_core = BTreeMap::<String, usize>::new();
        for c in &mut all {
            let mut heard = Vec::new();
            while heard.len() < clients - 1 {
                let line = c.next_matching(|l| !l.starts_with("* ")).await?;
                heard.push(line);
            }
            heard.sort();
            let mut expected: Vec<String> = ids
                .iter()
                .filter(|id| **id != c.id)
                .map(|id| format!("{id}: hello from {id}"))
                .collect();
            expected.sort();
            if heard != expected {
                return Err(bad(format!(
                    "{} heard {heard:?}, expected {expected:?}",
                    c.id
                )));
            }
            let core = c.id.split('.').next().unwrap_or_default().to_string();
            *per_core.entry(core).or_default() += 1;
        }
        all[0].send("/who").await?;
        let who = all[0]
            .next_matching(|l| l.starts_with("* online: "))
            .await?;
        if !who.starts_with(&format!("* online: {clients} ")) {
            return Err(bad(format!("/who answered {who:?} with {clients} online")));
        }
        Ok(format!(
            "chat: {clients} clients (per core: {per_core:?}), each heard the other {} \
             lines and not its own; /who answered {:?}; verified",
            clients - 1,
            who.trim_start_matches("* ")
        ))
    };
    match runtime::time::timeout(Duration::from_secs(10), exchange).await {
        Ok(r) => r,
        Err(e) => Err(e.into()),
    }
}

/// [`serve`] without a client: serves until `stop` fires; returns the connections each
/// core accepted.
///
/// # Errors
/// As [`serve`].
pub fn run(addr: SocketAddr, cores: usize, stop: Signal) -> io::Result<Vec<usize>> {
    type NoClient = fn(SocketAddr) -> std::future::Ready<io::Result<String>>;
    Ok(serve(addr, cores, stop, None::<NoClient>)?.per_core)
}

/// The self-test of `chat --demo`: serves on `cores` cores (at least 2) on a free loopback
/// port and runs [`run_clients`] with 6 clients from core 0.
///
/// # Errors
/// A bind, listen or client error; `InvalidData` when a line is missing or wrong.
pub fn demo(cores: usize) -> io::Result<String> {
    const CLIENTS: usize = 6;
    let client = |addr| run_clients(addr, CLIENTS);
    let served = serve(
        cli::loopback_any_port(),
        cores.max(2),
        Signal::new(),
        Some(client),
    )?;
    served.client.expect("core 0 ran the client")
}
