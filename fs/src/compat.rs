//! Poll-based I/O for ecosystem crates: [`Compat`] gives a [`File`] the
//! `AsyncRead`/`AsyncWrite` traits of `futures-io` (feature `futures-io`) and of tokio
//! (feature `tokio`; the traits only, no tokio runtime), at the file's own position.
//!
//! As `net::compat::Compat` does for sockets, it owns one read buffer and one write buffer
//! (reused from op to op) and copies, because the kernel must own an op's buffer until its
//! completion while a poll-based call lends the caller's only for the call:
//! - **read**: hands out what the last read left in the read buffer; when it is empty it
//!   submits a read into it and keeps that op *inside `Compat`*, so a dropped read future
//!   loses nothing: the next `poll_read` takes up the same op.
//! - **write**: copies the caller's bytes into the write buffer, submits one write and
//!   returns `Ready(n)`: the bytes are `Compat`'s to write from then on (the rest of a short
//!   write is resubmitted). The next `poll_write`, `poll_flush` or shutdown waits for it and
//!   reports its error.
//!
//! Dropping a `Compat` cancels an op in flight: a read that completed anyway moved the file
//! position past bytes nobody got, and a write may have been cut short. Flush before
//! dropping it. An O_DIRECT file gets EINVAL (the buffers are not aligned).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use runtime::op::Op;

use crate::file::File;
use crate::op::MAX_RW;
use crate::op::rw::{At, Read, RwAt, Write};

/// The default capacity of each buffer.
pub const DEFAULT_CAPACITY: usize = 64 * 1024;

/// A [`File`] with poll-based `AsyncRead`/`AsyncWrite` (see the [module docs](self)).
///
/// # Examples
/// ```
/// # #[cfg(feature = "tokio")]
/// # fn main() -> std::io::Result<()> {
/// use std::pin::Pin;
/// use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
///
/// runtime::Runtime::new()?.block_on(async {
///     let path = std::env::temp_dir().join(format!("fs-doc-compat-{}", std::process::id()));
///     let mut out = fs::compat::Compat::new(fs::File::create(&path).await?);
///     std::future::poll_fn(|cx| Pin::new(&mut out).poll_write(cx, b"hi")).await?;
///     std::future::poll_fn(|cx| Pin::new(&mut out).poll_flush(cx)).await?;
///     let mut input = fs::compat::Compat::new(fs::File::open(&path).await?);
///     let mut buf = [0u8; 8];
///     let mut read = ReadBuf::new(&mut buf);
///     std::future::poll_fn(|cx| Pin::new(&mut input).poll_read(cx, &mut read)).await?;
///     assert_eq!(read.filled(), b"hi");
///     fs::remove_file(&path).await
/// })
/// # }
/// # #[cfg(not(feature = "tokio"))]
/// # fn main() {}
/// ```
#[derive(Debug)]
pub struct Compat {
    file: File,
    read: ReadSide,
    write: WriteSide,
    /// The failure of a write that `poll_write` had already reported as taken.
    error: Option<io::Error>,
    capacity: usize,
}

#[derive(Debug)]
enum ReadSide {
    /// `buf[pos..]` was read and not yet handed out.
    Buffered {
        buf: Vec<u8>,
        pos: usize,
    },
    Reading(OpDebug<Op<RwAt<Read, Vec<u8>>>>),
}

#[derive(Debug)]
enum WriteSide {
    /// Nothing in flight.
    Idle(Vec<u8>),
    /// Writing `buf[start..]` (the buffer is in the op).
    Writing {
        op: OpDebug<Op<RwAt<Write, Vec<u8>>>>,
        start: usize,
    },
}

/// An op, shown by `Debug` as "in flight".
struct OpDebug<T>(T);

impl<T> std::fmt::Debug for OpDebug<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("in flight")
    }
}

impl Compat {
    /// Wraps `file`, with buffers of [`DEFAULT_CAPACITY`] bytes (allocated at first use).
    pub fn new(file: File) -> Compat {
        Compat::with_capacity(DEFAULT_CAPACITY, file)
    }

    /// Wraps `file`: one read or write moves at most `capacity` bytes (at least 1).
    pub fn with_capacity(capacity: usize, file: File) -> Compat {
        Compat {
            file,
            read: ReadSide::Buffered {
                buf: Vec::new(),
                pos: 0,
            },
            write: WriteSide::Idle(Vec::new()),
            error: None,
            capacity: capacity.clamp(1, MAX_RW),
        }
    }

    /// The file.
    pub fn get_ref(&self) -> &File {
        &self.file
    }

    /// The file; buffered unread bytes and unflushed writes are dropped (flush first).
    pub fn into_inner(self) -> File {
        self.file
    }

    fn poll_read_into(&mut self, cx: &mut Context<'_>, dst: &mut [u8]) -> Poll<io::Result<usize>> {
        loop {
            match &mut self.read {
                ReadSide::Buffered { buf, pos } if *pos < buf.len() => {
                    let n = (buf.len() - *pos).min(dst.len());
                    dst[..n].copy_from_slice(&buf[*pos..*pos + n]);
                    *pos += n;
                    return Poll::Ready(Ok(n));
                }
                ReadSide::Buffered { .. } if dst.is_empty() => return Poll::Ready(Ok(0)),
                ReadSide::Buffered { buf, .. } => {
                    let mut buf = std::mem::take(buf);
                    buf.clear();
                    buf.reserve_exact(self.capacity);
                    let len = buf.capacity().min(MAX_RW) as u32;
                    let op = RwAt::new(self.file.shared_fd(), buf, None, 0, len, At::Position);
                    self.read = ReadSide::Reading(OpDebug(Op::new(op)));
                }
                ReadSide::Reading(op) => {
                    let (res, mut buf) = ready!(Pin::new(&mut op.0).poll(cx));
                    if res.is_err() {
                        buf.clear();
                    }
                    self.read = ReadSide::Buffered { buf, pos: 0 };
                    match res {
                        Ok(0) => return Poll::Ready(Ok(0)),
                        Ok(_) => {}
                        Err(e) => return Poll::Ready(Err(e)),
                    }
                }
            }
        }
    }

    /// Waits for the write in flight, resubmitting the rest of a short one.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(e) = self.error.take() {
            return Poll::Ready(Err(e));
        }
        loop {
            let WriteSide::Writing { op, start } = &mut self.write else {
                return Poll::Ready(Ok(()));
            };
            let (res, buf) = ready!(Pin::new(&mut op.0).poll(cx));
            let start = *start;
            match res {
                Ok(n) if n > 0 && start + n < buf.len() => {
                    let len = (buf.len() - start - n) as u32;
                    let op = RwAt::new(
                        self.file.shared_fd(),
                        buf,
                        None,
                        start + n,
                        len,
                        At::Position,
                    );
                    self.write = WriteSide::Writing {
                        op: OpDebug(Op::new(op)),
                        start: start + n,
                    };
                }
                Ok(0) if start < buf.len() => {
                    let left = buf.len() - start;
                    self.write = WriteSide::Idle(buf);
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        format!("a write wrote nothing, {left} bytes not written"),
                    )));
                }
                Ok(_) => {
                    self.write = WriteSide::Idle(buf);
                    return Poll::Ready(Ok(()));
                }
                Err(e) => {
                    self.write = WriteSide::Idle(buf);
                    return Poll::Ready(Err(e));
                }
            }
        }
    }

    fn poll_write_from(&mut self, cx: &mut Context<'_>, src: &[u8]) -> Poll<io::Result<usize>> {
        ready!(self.poll_drain(cx))?;
        if src.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let WriteSide::Idle(buf) = &mut self.write else {
            unreachable!("drained above")
        };
        let mut buf = std::mem::take(buf);
        buf.clear();
        let n = src.len().min(self.capacity);
        buf.extend_from_slice(&src[..n]);
        let op = RwAt::new(self.file.shared_fd(), buf, None, 0, n as u32, At::Position);
        self.write = WriteSide::Writing {
            op: OpDebug(Op::new(op)),
            start: 0,
        };
        // Submit now (an op is pushed at its first poll): the bytes are the Compat's to
        // write from here on. A failure is reported by the next call.
        if let Poll::Ready(Err(e)) = self.poll_drain(cx) {
            self.error = Some(e);
        }
        Poll::Ready(Ok(n))
    }
}

#[cfg(feature = "futures-io")]
impl futures_io::AsyncRead for Compat {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_read_into(cx, buf)
    }
}

#[cfg(feature = "futures-io")]
impl futures_io::AsyncWrite for Compat {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_from(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_drain(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_drain(cx)
    }
}

#[cfg(feature = "tokio")]
impl tokio::io::AsyncRead for Compat {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = ready!(self.get_mut().poll_read_into(cx, buf.initialize_unfilled()))?;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

#[cfg(feature = "tokio")]
impl tokio::io::AsyncWrite for Compat {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_from(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_drain(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_drain(cx)
    }
}
