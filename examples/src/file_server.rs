//! A small static file server: HTTP/1.1 parsed by hand (no hyper), files read with
//! [`fs::File::read_at`] in chunks and written to the socket as they come, one task per
//! connection, keep-alive.
//!
//! - `GET` and `HEAD` of a path under the root directory; a directory serves its
//!   `index.html`. Other methods: 405.
//! - `Range: bytes=a-b`, `bytes=a-` and `bytes=-n` (one range) answer 206 with
//!   `Content-Range`; a range that starts past the end answers 416 with
//!   `Content-Range: bytes */LEN`; a malformed or multi-range header is ignored (the whole
//!   file, 200), as RFC 9110 §14.2 allows.
//! - A path with a `..` component (also percent-encoded) is refused with 403 before any file
//!   is touched, and so is a path whose symlinks lead out of the root (checked on the
//!   canonical path); a missing file is 404.
//! - Request bodies are not supported (400, and the connection closes).
//!
//! # Examples
//! ```
//! use examples::file_server;
//! use net::TcpListener;
//!
//! runtime::Runtime::new()?.block_on(async {
//!     let listener = TcpListener::bind("127.0.0.1:0").await?;
//!     let report = file_server::demo(listener).await?;
//!     assert!(report.contains("verified"));
//!     Ok::<_, std::io::Error>(())
//! })?;
//! # Ok::<(), std::io::Error>(())
//! ```

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::io;
use std::net::SocketAddr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};

use fs::File;
use net::{TcpListener, TcpStream};
use runtime::buf::IoBuf;

use crate::signal::{Signal, accept_until};

/// The port of `file_server` without `--addr`.
pub const DEFAULT_PORT: u16 = 8000;
/// The largest request head accepted (request line and headers); larger: 431.
pub const MAX_HEAD: usize = 16 * 1024;
/// Bytes per file read and socket write.
const CHUNK: usize = 64 * 1024;

/// Which part of a file to send, from the `Range` header and the file's length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// No (usable) range: the whole file, 200.
    Full,
    /// Bytes `start..=end`, 206.
    Partial {
        /// The first byte.
        start: u64,
        /// The last byte (inclusive, as in `Content-Range`).
        end: u64,
    },
    /// The range starts past the end (or asks for a zero-length suffix), 416.
    Unsatisfiable,
}

/// Reads a `Range` header (`bytes=a-b`, `bytes=a-`, `bytes=-n`) against a file of `len`
/// bytes. Anything else (other units, several ranges, malformed numbers, `b < a`) is
/// ignored: [`ByteRange::Full`].
pub fn parse_range(header: Option<&str>, len: u64) -> ByteRange {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return ByteRange::Full;
    };
    if spec.contains(',') {
        return ByteRange::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return ByteRange::Full;
    };
    let (first, last) = (first.trim(), last.trim());
    let number = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            None
        } else {
            // Too many digits for u64: as good as infinite.
            Some(s.parse().unwrap_or(u64::MAX))
        }
    };
    match (number(first), number(last)) {
        // bytes=-n: the last n bytes.
        (None, Some(n)) if first.is_empty() => {
            if n == 0 || len == 0 {
                ByteRange::Unsatisfiable
            } else {
                ByteRange::Partial {
                    start: len.saturating_sub(n),
                    end: len - 1,
                }
            }
        }
        // bytes=a-: from a to the end.
        (Some(start), None) if last.is_empty() => {
            if start >= len {
                ByteRange::Unsatisfiable
            } else {
                ByteRange::Partial {
                    start,
                    end: len - 1,
                }
            }
        }
        // bytes=a-b.
        (Some(start), Some(end)) if start <= end => {
            if start >= len {
                ByteRange::Unsatisfiable
            } else {
                ByteRange::Partial {
                    start,
                    end: end.min(len - 1),
                }
            }
        }
        _ => ByteRange::Full,
    }
}

/// Why a request target maps to no file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// Not an origin-form path, a bad `%` escape, or a NUL byte: 400.
    BadRequest,
    /// A `..` component: 403.
    Traversal,
}

/// The file a request target (`/a/b%20c.txt?query`) names under `root`: percent-decoded,
/// query and fragment dropped, empty and `.` components skipped. A `..` component is
/// refused, not resolved, so no request reaches above `root` by its path (symlinks are
/// checked separately, on the canonical path).
///
/// # Errors
/// [`PathError::BadRequest`] or [`PathError::Traversal`].
pub fn resolve(root: &Path, target: &str) -> Result<PathBuf, PathError> {
    let path = target.split(['?', '#']).next().unwrap_or_default();
    if !path.starts_with('/') {
        return Err(PathError::BadRequest);
    }
    let decoded = percent_decode(path).ok_or(PathError::BadRequest)?;
    if decoded.contains(&0) {
        return Err(PathError::BadRequest);
    }
    let mut out = root.to_path_buf();
    for part in decoded.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => return Err(PathError::Traversal),
            _ => out.push(OsStr::from_bytes(part)),
        }
    }
    Ok(out)
}

fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

/// A `Content-Type` by file extension.
pub fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(OsStr::to_str) {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("txt" | "md" | "rs" | "toml") => "text/plain; charset=utf-8",
        Some("css") => "text/css",
        Some("js") => "text/javascript",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("wasm") => "application/wasm",
        Some("pdf") => "application/pdf",
        _ => "application/octet-stream",
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        206 => "Partial Content",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        416 => "Range Not Satisfiable",
        431 => "Request Header Fields Too Large",
        505 => "HTTP Version Not Supported",
        _ => "Internal Server Error",
    }
}

/// A parsed request head.
#[derive(Debug)]
struct Request<'a> {
    method: &'a str,
    target: &'a str,
    keep_alive: bool,
    headers: Vec<(&'a str, &'a str)>,
}

impl Request<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }
}

/// Parses a request head (without the blank line); `Err(status)` for a malformed one.
fn parse_request(head: &str) -> Result<Request<'_>, u16> {
    let mut lines = head.split("\r\n");
    let mut parts = lines.next().unwrap_or_default().split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(400);
    };
    let http11 = match version {
        "HTTP/1.1" => true,
        "HTTP/1.0" => false,
        v if v.starts_with("HTTP/") => return Err(505),
        _ => return Err(400),
    };
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line.split_once(':').ok_or(400u16)?;
        if name.is_empty() || name.ends_with([' ', '\t']) {
            return Err(400);
        }
        headers.push((name, value.trim()));
    }
    let mut req = Request {
        method,
        target,
        keep_alive: http11,
        headers,
    };
    if let Some(c) = req.header("connection") {
        let has = |t: &str| c.split(',').any(|v| v.trim().eq_ignore_ascii_case(t));
        if has("close") {
            req.keep_alive = false;
        } else if has("keep-alive") {
            req.keep_alive = true;
        }
    }
    Ok(req)
}

/// A response head; `extra` holds whole header lines.
fn head(status: u16, len: u64, content_type: &str, extra: &str, keep_alive: bool) -> Vec<u8> {
    let mut h = format!(
        "HTTP/1.1 {status} {}\r\nServer: runtime-examples\r\nContent-Length: {len}\r\n\
         Content-Type: {content_type}\r\n",
        reason(status)
    );
    h.push_str(extra);
    h.push_str(if keep_alive {
        "Connection: keep-alive\r\n\r\n"
    } else {
        "Connection: close\r\n\r\n"
    });
    h.into_bytes()
}

/// Sends a short text response (`404 Not Found\n`).
async fn send_status(
    stream: &TcpStream,
    status: u16,
    extra: &str,
    keep_alive: bool,
    with_body: bool,
) -> io::Result<()> {
    let body = format!("{status} {}\n", reason(status));
    let mut out = head(
        status,
        body.len() as u64,
        "text/plain; charset=utf-8",
        extra,
        keep_alive,
    );
    if with_body {
        out.extend_from_slice(body.as_bytes());
    }
    stream.write_all(out).await.0
}

/// Writes `len` bytes of `file` from `start` to `stream`, a chunk at a time, reusing one
/// buffer.
async fn send_file(stream: &TcpStream, file: &File, start: u64, len: u64) -> io::Result<()> {
    let mut buf = Vec::with_capacity(CHUNK.min(len as usize));
    let (mut pos, end) = (start, start + len);
    while pos < end {
        let want = CHUNK.min((end - pos) as usize);
        buf.clear();
        let (res, slice) = file.read_at(buf.slice(..want), pos).await;
        buf = slice.into_inner();
        let n = res?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the file got shorter while it was being sent",
            ));
        }
        let (res, b) = stream.write_all(buf).await;
        buf = b;
        res?;
        pos += n as u64;
    }
    Ok(())
}

/// Opens the regular file `path` names (a directory's `index.html`), checking that its
/// canonical path lies under `root` (symlinks included); `Err(status)` otherwise.
async fn open_under(root: &Path, path: PathBuf) -> Result<(File, PathBuf, u64), u16> {
    let canonical_under_root = async |path: PathBuf| {
        let path = fs::canonicalize(&path).await.map_err(|_| 404u16)?;
        if path.starts_with(root) {
            Ok(path)
        } else {
            Err(403u16)
        }
    };
    let mut path = canonical_under_root(path).await?;
    if fs::metadata(&path).await.map_err(|_| 404u16)?.is_dir() {
        path = canonical_under_root(path.join("index.html")).await?;
    }
    let file = File::open(&path).await.map_err(|_| 404u16)?;
    let meta = file.metadata().await.map_err(|_| 404u16)?;
    if !meta.is_file() {
        return Err(404);
    }
    Ok((file, path, meta.len()))
}

/// Answers one request; returns whether the connection stays open.
async fn respond(stream: &TcpStream, root: &Path, req: &Request<'_>) -> io::Result<bool> {
    let keep = req.keep_alive;
    let with_body = req.method != "HEAD";
    if req.header("transfer-encoding").is_some()
        || req
            .header("content-length")
            .is_some_and(|l| l.trim() != "0")
    {
        send_status(stream, 400, "", false, true).await?;
        return Ok(false);
    }
    if !matches!(req.method, "GET" | "HEAD") {
        send_status(stream, 405, "Allow: GET, HEAD\r\n", keep, with_body).await?;
        return Ok(keep);
    }
    let path = match resolve(root, req.target) {
        Ok(p) => p,
        Err(PathError::BadRequest) => {
            send_status(stream, 400, "", false, with_body).await?;
            return Ok(false);
        }
        Err(PathError::Traversal) => {
            send_status(stream, 403, "", keep, with_body).await?;
            return Ok(keep);
        }
    };
    let (file, path, len) = match open_under(root, path).await {
        Ok(v) => v,
        Err(status) => {
            send_status(stream, status, "", keep, with_body).await?;
            return Ok(keep);
        }
    };
    let ctype = content_type(&path);
    let (status, start, count, mut extra) = match parse_range(req.header("range"), len) {
        ByteRange::Full => (200, 0, len, String::new()),
        ByteRange::Partial { start, end } => (
            206,
            start,
            end - start + 1,
            format!("Content-Range: bytes {start}-{end}/{len}\r\n"),
        ),
        ByteRange::Unsatisfiable => {
            let extra = format!("Content-Range: bytes */{len}\r\n");
            send_status(stream, 416, &extra, keep, with_body).await?;
            return Ok(keep);
        }
    };
    extra.push_str("Accept-Ranges: bytes\r\n");
    stream
        .write_all(head(status, count, ctype, &extra, keep))
        .await
        .0?;
    if with_body {
        send_file(stream, &file, start, count).await?;
    }
    Ok(keep)
}

/// Serves requests on one connection until the client closes it, asks to, or errs.
async fn connection(stream: TcpStream, root: Rc<Path>) -> io::Result<()> {
    let mut pending: Vec<u8> = Vec::new();
    let mut chunk = Vec::with_capacity(4096);
    loop {
        let head_end = loop {
            let end = pending.windows(4).position(|w| w == b"\r\n\r\n");
            if end.unwrap_or(pending.len()) > MAX_HEAD {
                return send_status(&stream, 431, "", false, true).await;
            }
            if let Some(i) = end {
                break i;
            }
            chunk.clear();
            let (res, c) = stream.read(chunk).await;
            chunk = c;
            if res? == 0 {
                // Closed between requests (or mid-head: nothing to answer).
                return Ok(());
            }
            pending.extend_from_slice(&chunk);
        };
        let head: Vec<u8> = pending.drain(..head_end + 4).collect();
        let Ok(text) = std::str::from_utf8(&head[..head_end]) else {
            return send_status(&stream, 400, "", false, true).await;
        };
        let keep = match parse_request(text) {
            Ok(req) => respond(&stream, &root, &req).await?,
            Err(status) => {
                send_status(&stream, status, "", false, true).await?;
                false
            }
        };
        if !keep {
            return Ok(());
        }
    }
}

/// Serves the files under `root` on `listener`, a task per connection, until `stop` fires;
/// counts each finished connection on `stop` ([`Signal::after`]`(Some(n))` stops after
/// `n`). Returns the connections accepted.
///
/// # Errors
/// `root` cannot be resolved (missing) or is not a directory.
pub async fn serve(listener: TcpListener, root: &Path, stop: Signal) -> io::Result<usize> {
    let root: Rc<Path> = fs::canonicalize(root).await?.into();
    if !fs::metadata(&*root).await?.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not a directory", root.display()),
        ));
    }
    let accepted = accept_until(listener, stop, "file_server", move |stream| {
        let _ = stream.set_nodelay(true);
        let root = root.clone();
        async move {
            if let Err(e) = connection(stream, root).await {
                eprintln!("file_server: connection: {e}");
            }
        }
    })
    .await;
    Ok(accepted)
}

/// A response as [`Client::request`] read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The headers, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body (empty for `HEAD`).
    pub body: Vec<u8>,
}

impl Response {
    /// A header's value (the name matched without case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A minimal HTTP/1.1 client on one keep-alive connection, for the demo and the tests.
#[derive(Debug)]
pub struct Client {
    stream: TcpStream,
    pending: Vec<u8>,
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

impl Client {
    /// Connects to `addr`.
    ///
    /// # Errors
    /// The connect's error.
    pub async fn connect(addr: SocketAddr) -> io::Result<Client> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Client {
            stream,
            pending: Vec::new(),
        })
    }

    /// Reads more bytes into `pending`; `false` at end of stream.
    async fn fill(&mut self) -> io::Result<bool> {
        let (res, chunk) = self.stream.read(Vec::with_capacity(CHUNK)).await;
        let n = res?;
        self.pending.extend_from_slice(&chunk[..n]);
        Ok(n > 0)
    }

    /// Sends `METHOD path` with `headers` (as `Name: value` lines) and reads the response.
    ///
    /// # Errors
    /// The connection's errors; `InvalidData` for a malformed response or an early close.
    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> io::Result<Response> {
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\n");
        for (n, v) in headers {
            let _ = write!(req, "{n}: {v}\r\n");
        }
        req.push_str("\r\n");
        self.stream.write_all(req.into_bytes()).await.0?;

        let head_end = loop {
            if let Some(i) = self.pending.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            if !self.fill().await? {
                return Err(bad("the server closed the connection before answering"));
            }
        };
        let head: Vec<u8> = self.pending.drain(..head_end + 4).collect();
        let head = String::from_utf8_lossy(&head[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status = status_line
            .strip_prefix("HTTP/1.1 ")
            .and_then(|s| s.get(..3))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad(format!("bad status line {status_line:?}")))?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.to_string(), v.trim().to_string()))
            .collect();
        let mut res = Response {
            status,
            headers,
            body: Vec::new(),
        };
        let len: usize = res
            .header("content-length")
            .and_then(|l| l.parse().ok())
            .ok_or_else(|| bad("no Content-Length"))?;
        if method != "HEAD" {
            while self.pending.len() < len {
                if !self.fill().await? {
                    return Err(bad("the server closed the connection mid-body"));
                }
            }
            res.body = self.pending.drain(..len).collect();
        }
        Ok(res)
    }

    /// Whether the server closed the connection (reads end of stream).
    ///
    /// # Errors
    /// The read's error.
    pub async fn closed_by_server(&mut self) -> io::Result<bool> {
        Ok(self.pending.is_empty() && !self.fill().await?)
    }
}

/// A fresh, empty directory under the temp dir (`examples-NAME-PID-N`).
///
/// # Errors
/// `mkdir(2)`'s error.
pub async fn temp_dir(name: &str) -> io::Result<PathBuf> {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "examples-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    fs::create_dir_all(&dir).await?;
    Ok(dir)
}

/// Removes `dir` and everything in it (on the blocking pool: io_uring has no recursive
/// removal).
///
/// # Errors
/// `std::fs::remove_dir_all`'s error.
pub async fn remove_dir_all(dir: PathBuf) -> io::Result<()> {
    runtime::spawn_blocking(move || std::fs::remove_dir_all(dir)).await?
}

/// The demo's files: `hello.txt`, `data.bin` (200 000 bytes), `sub/index.html`, and
/// `secret.txt` beside the root (what traversal attempts aim at).
async fn demo_tree(base: &Path) -> io::Result<(PathBuf, Vec<u8>)> {
    let root = base.join("root");
    fs::create_dir_all(root.join("sub")).await?;
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    fs::write(root.join("hello.txt"), b"Hello, file server!\n".as_slice()).await?;
    fs::write(root.join("data.bin"), data.clone()).await?;
    fs::write(root.join("sub/index.html"), b"<h1>sub</h1>\n".as_slice()).await?;
    fs::write(base.join("secret.txt"), b"not for you\n".as_slice()).await?;
    Ok((root, data))
}

fn expect(what: &str, ok: bool, res: &Response) -> io::Result<()> {
    if ok {
        Ok(())
    } else {
        Err(bad(format!(
            "{what}: got {} {:?} with {} body bytes",
            res.status,
            res.headers,
            res.body.len()
        )))
    }
}

/// Runs the demo's requests against a server on `addr` serving [`demo_tree`]'s root;
/// returns how many were checked.
async fn check_requests(addr: SocketAddr, data: &[u8]) -> io::Result<usize> {
    let mut c = Client::connect(addr).await?;
    let mut checked = 0;
    let mut check = |what: &str, ok: bool, res: &Response| {
        checked += 1;
        expect(what, ok, res)
    };

    let r = c.request("GET", "/hello.txt", &[]).await?;
    check(
        "GET /hello.txt",
        r.status == 200
            && r.body == b"Hello, file server!\n"
            && r.header("content-type") == Some("text/plain; charset=utf-8"),
        &r,
    )?;
    let r = c.request("GET", "/data.bin", &[]).await?;
    check("GET /data.bin", r.status == 200 && r.body == data, &r)?;
    let r = c
        .request("GET", "/data.bin", &[("Range", "bytes=100-199")])
        .await?;
    check(
        "Range 100-199",
        r.status == 206
            && r.body == data[100..200]
            && r.header("content-range") == Some("bytes 100-199/200000"),
        &r,
    )?;
    let r = c
        .request("GET", "/data.bin", &[("Range", "bytes=-10")])
        .await?;
    check(
        "Range -10",
        r.status == 206
            && r.body == data[199_990..]
            && r.header("content-range") == Some("bytes 199990-199999/200000"),
        &r,
    )?;
    let r = c
        .request("GET", "/data.bin", &[("Range", "bytes=150000-")])
        .await?;
    check(
        "Range 150000-",
        r.status == 206 && r.body == data[150_000..],
        &r,
    )?;
    let r = c
        .request("GET", "/data.bin", &[("Range", "bytes=200000-")])
        .await?;
    check(
        "Range past the end",
        r.status == 416 && r.header("content-range") == Some("bytes */200000"),
        &r,
    )?;
    let r = c.request("HEAD", "/data.bin", &[]).await?;
    check(
        "HEAD",
        r.status == 200 && r.body.is_empty() && r.header("content-length") == Some("200000"),
        &r,
    )?;
    let r = c.request("GET", "/sub/", &[]).await?;
    check(
        "GET /sub/",
        r.status == 200 && r.body == b"<h1>sub</h1>\n",
        &r,
    )?;
    let r = c.request("GET", "/missing.txt", &[]).await?;
    check("GET /missing.txt", r.status == 404, &r)?;
    for path in [
        "/../secret.txt",
        "/sub/../../secret.txt",
        "/%2e%2e/secret.txt",
    ] {
        let r = c.request("GET", path, &[]).await?;
        check(path, r.status == 403, &r)?;
    }
    let r = c.request("POST", "/hello.txt", &[]).await?;
    check("POST", r.status == 405, &r)?;
    let r = c
        .request("GET", "/hello.txt", &[("Connection", "close")])
        .await?;
    check("Connection: close", r.status == 200, &r)?;
    if !c.closed_by_server().await? {
        return Err(bad(
            "the server kept the connection after Connection: close",
        ));
    }
    Ok(checked)
}

/// The self-test of `file_server --demo`: builds a small tree in a temp dir, serves it on
/// `listener`, and checks full reads, ranges (206, 416), `HEAD`, an index page, 404, 405,
/// traversal attempts (403) and keep-alive on one connection; removes the tree and returns a
/// report.
///
/// # Errors
/// I/O errors; `InvalidData` naming the request whose response was wrong.
pub async fn demo(listener: TcpListener) -> io::Result<String> {
    let addr = listener.local_addr()?;
    let base = temp_dir("file-server").await?;
    let result = async {
        let (root, data) = demo_tree(&base).await?;
        let stop = Signal::new();
        let server = runtime::spawn({
            let stop = stop.clone();
            async move { serve(listener, &root, stop).await }
        });
        let checked = check_requests(addr, &data).await;
        stop.fire();
        server.await??;
        checked
    }
    .await;
    remove_dir_all(base).await?;
    Ok(format!(
        "file_server: {} requests on one keep-alive connection verified",
        result?
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        use ByteRange::*;
        let r = |h: &str| parse_range(Some(h), 100);
        assert_eq!(r("bytes=0-9"), Partial { start: 0, end: 9 });
        assert_eq!(r("bytes=90-200"), Partial { start: 90, end: 99 });
        assert_eq!(r("bytes=90-"), Partial { start: 90, end: 99 });
        assert_eq!(r("bytes=-5"), Partial { start: 95, end: 99 });
        assert_eq!(r("bytes=-500"), Partial { start: 0, end: 99 });
        assert_eq!(r("bytes=100-"), Unsatisfiable);
        assert_eq!(r("bytes=100-150"), Unsatisfiable);
        assert_eq!(r("bytes=-0"), Unsatisfiable);
        assert_eq!(r("bytes=99999999999999999999999-"), Unsatisfiable);
        assert_eq!(r("bytes=5-4"), Full);
        assert_eq!(r("bytes=0-1,5-6"), Full);
        assert_eq!(r("items=0-1"), Full);
        assert_eq!(r("bytes=a-b"), Full);
        assert_eq!(r("bytes=-"), Full);
        assert_eq!(parse_range(None, 100), Full);
        assert_eq!(parse_range(Some("bytes=-1"), 0), Unsatisfiable);
    }

    #[test]
    fn paths() {
        let root = Path::new("/srv");
        assert_eq!(
            resolve(root, "/a/b.txt?x=1"),
            Ok(PathBuf::from("/srv/a/b.txt"))
        );
        assert_eq!(resolve(root, "/a%20b"), Ok(PathBuf::from("/srv/a b")));
        assert_eq!(resolve(root, "//./a"), Ok(PathBuf::from("/srv/a")));
        assert_eq!(resolve(root, "/"), Ok(PathBuf::from("/srv")));
        assert_eq!(resolve(root, "/../etc/passwd"), Err(PathError::Traversal));
        assert_eq!(resolve(root, "/a/%2E%2E/b"), Err(PathError::Traversal));
        // "..%2f" decodes to "../": a `..` component, refused.
        assert_eq!(resolve(root, "/a/..%2fb"), Err(PathError::Traversal));
        assert_eq!(resolve(root, "a"), Err(PathError::BadRequest));
        assert_eq!(resolve(root, "/%zz"), Err(PathError::BadRequest));
        assert_eq!(resolve(root, "/a%00b"), Err(PathError::BadRequest));
    }

    #[test]
    fn requests() {
        let r = parse_request("GET / HTTP/1.1\r\nHost: x\r\nRange:  bytes=0-1 ").unwrap();
        assert_eq!((r.method, r.target, r.keep_alive), ("GET", "/", true));
        assert_eq!(r.header("range"), Some("bytes=0-1"));
        let r = parse_request("GET / HTTP/1.0").unwrap();
        assert!(!r.keep_alive);
        let r = parse_request("GET / HTTP/1.1\r\nConnection: close").unwrap();
        assert!(!r.keep_alive);
        assert_eq!(parse_request("GET /").unwrap_err(), 400);
        assert_eq!(parse_request("GET / HTTP/2.0").unwrap_err(), 505);
        assert_eq!(parse_request("GET / HTTP/1.1\r\nBad : x").unwrap_err(), 400);
    }
}
