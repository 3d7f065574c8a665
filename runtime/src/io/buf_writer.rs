//! [`BufWriter`]: a buffer in front of a writer, for many small writes.

use std::io;

use super::bytes::init_bytes;
use super::{AsyncBufRead, AsyncRead, AsyncWrite, DEFAULT_BUF_SIZE};
use crate::buf::{BufResult, IoBuf, IoBufMut};

/// Collects small writes in a buffer and writes it to `W` when full, on
/// [`flush`](AsyncWrite::flush) and on [`shutdown`](AsyncWrite::shutdown). A write at least
/// as large as the capacity goes straight through (after what is buffered).
///
/// Bytes still buffered when a `BufWriter` is dropped are **not** written (a drop cannot
/// wait): flush or shut down first.
///
/// # Cancel safety
/// [`write`](AsyncWrite::write) is cancel safe: it copies the caller's bytes only after any
/// flush it needed completed, so a dropped `write` took none of them. A dropped `flush`
/// (or a `write` dropped while it flushed) wrote the rounds that completed; the round in
/// flight belongs to the inner writer's dropped write (a `net` stream finishes it in the
/// background and reports a partial one at its next write), and the rest of the buffer is
/// dropped.
///
/// Reads pass through to the inner value (a `BufWriter<TcpStream>` still reads).
///
/// # Examples
/// ```
/// use runtime::io::{AsyncWrite, BufWriter};
///
/// runtime::Runtime::new()?.block_on(async {
///     let mut w = BufWriter::new(Vec::new());
///     for word in ["a", "b", "c"] {
///         w.write_all(word).await.0?;
///     }
///     assert!(w.get_ref().is_empty(), "still buffered");
///     w.flush().await?;
///     assert_eq!(w.get_ref(), b"abc");
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct BufWriter<W> {
    inner: W,
    /// Bytes to write; `buf[..written]` were written by an earlier round of a flush.
    buf: Vec<u8>,
    written: usize,
    capacity: usize,
}

impl<W> BufWriter<W> {
    /// A writer with a buffer of [`DEFAULT_BUF_SIZE`] bytes.
    pub fn new(inner: W) -> BufWriter<W> {
        BufWriter::with_capacity(DEFAULT_BUF_SIZE, inner)
    }

    /// A writer that buffers up to `capacity` bytes (at least 1). The buffer is allocated at
    /// the first write.
    pub fn with_capacity(capacity: usize, inner: W) -> BufWriter<W> {
        BufWriter {
            inner,
            buf: Vec::new(),
            written: 0,
            capacity: capacity.max(1),
        }
    }

    /// The inner writer.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// The inner writer; writing to it directly goes ahead of the buffered bytes.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// The inner writer; bytes still buffered are dropped (flush first).
    pub fn into_inner(self) -> W {
        self.inner
    }

    /// The bytes buffered and not yet written.
    pub fn buffer(&self) -> &[u8] {
        &self.buf[self.written..]
    }

    /// How many bytes it buffers.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

impl<W: AsyncWrite> BufWriter<W> {
    /// Writes the buffer to the inner writer, in as many rounds as it takes. Each round
    /// takes the buffer into the inner write and puts it back after; a dropped round leaves
    /// the buffer empty (its bytes are the inner write's).
    async fn write_buffer(&mut self) -> io::Result<()> {
        while self.written < self.buf.len() {
            let buf = std::mem::take(&mut self.buf);
            let written = std::mem::take(&mut self.written);
            let len = buf.len();
            let (res, slice) = self.inner.write(buf.slice(written..len)).await;
            self.buf = slice.into_inner();
            self.written = written;
            match res {
                Ok(0) => {
                    let what = format!("a write wrote nothing, {} bytes left", len - written);
                    return Err(io::Error::new(io::ErrorKind::WriteZero, what));
                }
                Ok(n) => self.written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.buf.clear();
        self.written = 0;
        Ok(())
    }
}

impl<W: AsyncWrite> AsyncWrite for BufWriter<W> {
    /// Buffers `buf`'s bytes (writing the buffer first if they do not fit), or writes them
    /// straight through when they are at least the capacity.
    ///
    /// # Cancel safety
    /// Cancel safe (see the type's docs).
    async fn write<B: IoBuf>(&mut self, buf: B) -> BufResult<usize, B> {
        let n = buf.bytes_init();
        if self.buf.len() + n > self.capacity
            && let Err(e) = self.write_buffer().await
        {
            return (Err(e), buf);
        }
        if n >= self.capacity {
            return self.inner.write(buf).await;
        }
        if self.buf.capacity() < self.capacity {
            self.buf.reserve_exact(self.capacity - self.buf.len());
        }
        self.buf.extend_from_slice(init_bytes(&buf));
        (Ok(n), buf)
    }

    async fn flush(&mut self) -> io::Result<()> {
        self.write_buffer().await?;
        self.inner.flush().await
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        self.write_buffer().await?;
        self.inner.shutdown().await
    }
}

impl<W: AsyncRead> AsyncRead for BufWriter<W> {
    fn read<B: IoBufMut>(&mut self, buf: B) -> impl Future<Output = BufResult<usize, B>> {
        self.inner.read(buf)
    }

    fn read_exact<B: IoBufMut>(&mut self, buf: B) -> impl Future<Output = BufResult<(), B>> {
        self.inner.read_exact(buf)
    }
}

impl<W: AsyncBufRead> AsyncBufRead for BufWriter<W> {
    fn buffer(&self) -> &[u8] {
        self.inner.buffer()
    }

    fn fill_more(&mut self) -> impl Future<Output = io::Result<usize>> {
        self.inner.fill_more()
    }

    fn consume(&mut self, amt: usize) {
        self.inner.consume(amt);
    }
}
