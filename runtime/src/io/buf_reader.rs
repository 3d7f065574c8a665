//! [`BufReader`]: a buffer in front of a reader, for small reads and lines.

use std::io;

use super::bytes::fill_from;
use super::{AsyncBufRead, AsyncRead, AsyncWrite, DEFAULT_BUF_SIZE};
use crate::buf::{BufResult, IoBuf, IoBufMut};

/// Reads from `R` a buffer at a time and hands the bytes out in the sizes asked for; the base
/// of [`read_line`](super::AsyncBufReadExt::read_line) and [`lines`](super::Lines).
///
/// # Nothing lost on cancel
/// The buffered bytes are never handed to the kernel: a read of more bytes goes into a second
/// buffer and is appended after it completes, and a read straight into the main buffer is
/// made only when it holds nothing. So a dropped read, `read_line` or `next_line` leaves
/// every byte it read in the `BufReader` (and what the inner reader keeps of a dropped read,
/// as a `net` stream does, comes next). A record longer than the capacity grows the buffer.
///
/// Writes pass through to the inner value (a `BufReader<TcpStream>` still writes).
///
/// # Examples
/// ```
/// use runtime::io::{AsyncBufReadExt, BufReader};
///
/// runtime::Runtime::new()?.block_on(async {
///     let mut r = BufReader::new(b"one\ntwo".as_slice());
///     let mut line = String::new();
///     r.read_line(&mut line).await?;
///     r.read_line(&mut line).await?;
///     assert_eq!(line, "one\ntwo");
///     assert_eq!(r.read_line(&mut line).await?, 0);
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct BufReader<R> {
    inner: R,
    /// `buf[pos..]` is buffered and not yet consumed.
    buf: Vec<u8>,
    pos: usize,
    /// Where reads go while `buf` holds bytes (which must not be in an op's buffer).
    spare: Vec<u8>,
    capacity: usize,
}

impl<R> BufReader<R> {
    /// A reader with a buffer of [`DEFAULT_BUF_SIZE`] bytes.
    pub fn new(inner: R) -> BufReader<R> {
        BufReader::with_capacity(DEFAULT_BUF_SIZE, inner)
    }

    /// A reader whose reads ask for `capacity` bytes (at least 1). The buffer is allocated at
    /// the first read.
    pub fn with_capacity(capacity: usize, inner: R) -> BufReader<R> {
        BufReader {
            inner,
            buf: Vec::new(),
            pos: 0,
            spare: Vec::new(),
            capacity: capacity.max(1),
        }
    }

    /// The inner reader.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// The inner reader; reading from it directly skips the buffered bytes.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// The inner reader; the buffered bytes are dropped (see [`BufReader::into_parts`]).
    pub fn into_inner(self) -> R {
        self.inner
    }

    /// The inner reader and the bytes buffered but not consumed.
    pub fn into_parts(mut self) -> (R, Vec<u8>) {
        self.buf.drain(..self.pos);
        (self.inner, self.buf)
    }

    /// How many bytes one read asks for.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

impl<R: AsyncRead> AsyncBufRead for BufReader<R> {
    fn buffer(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    async fn fill_more(&mut self) -> io::Result<usize> {
        if self.pos == self.buf.len() {
            // Nothing buffered: read straight into the buffer. If this future is dropped the
            // buffer goes with the op, and `buf` is left empty, which is what it held.
            let mut buf = std::mem::take(&mut self.buf);
            self.pos = 0;
            buf.clear();
            if buf.capacity() < self.capacity {
                buf.reserve_exact(self.capacity);
            }
            let (res, buf) = self.inner.read(buf).await;
            self.buf = buf;
            if res.is_err() {
                self.buf.clear();
            }
            return res;
        }
        // Keep the buffered bytes out of the op: read into the spare buffer, then append.
        let mut spare = std::mem::take(&mut self.spare);
        spare.clear();
        if spare.capacity() < self.capacity {
            spare.reserve_exact(self.capacity);
        }
        let (res, spare) = self.inner.read(spare).await;
        if let Ok(n) = res {
            if self.pos > 0 {
                self.buf.drain(..self.pos);
                self.pos = 0;
            }
            self.buf.extend_from_slice(&spare[..n]);
        }
        self.spare = spare;
        res
    }

    fn consume(&mut self, amt: usize) {
        self.pos = (self.pos + amt).min(self.buf.len());
    }
}

impl<R: AsyncRead> AsyncRead for BufReader<R> {
    /// Hands out buffered bytes, reading a buffer's worth first if there are none; a read
    /// at least as large as the capacity, with nothing buffered, goes straight to the inner
    /// reader (no copy).
    ///
    /// # Cancel safety
    /// Cancel safe when the inner reader's `read` is (see the type's docs).
    async fn read<B: IoBufMut>(&mut self, mut buf: B) -> BufResult<usize, B> {
        if self.pos == self.buf.len() {
            if buf.bytes_total() >= self.capacity {
                return self.inner.read(buf).await;
            }
            if let Err(e) = self.fill_more().await {
                return (Err(e), buf);
            }
        }
        let n = fill_from(&mut buf, &self.buf[self.pos..]);
        self.pos += n;
        (Ok(n), buf)
    }
}

impl<R: AsyncWrite> AsyncWrite for BufReader<R> {
    fn write<B: IoBuf>(&mut self, buf: B) -> impl Future<Output = BufResult<usize, B>> {
        self.inner.write(buf)
    }

    fn write_all<B: IoBuf>(&mut self, buf: B) -> impl Future<Output = BufResult<(), B>> {
        self.inner.write_all(buf)
    }

    fn flush(&mut self) -> impl Future<Output = io::Result<()>> {
        self.inner.flush()
    }

    fn shutdown(&mut self) -> impl Future<Output = io::Result<()>> {
        self.inner.shutdown()
    }
}
