//! The traits for std's in-memory types (`&[u8]` reads, `Vec<u8>` writes), for `&mut T`, and
//! [`Join`], a reader and a writer as one value.

use std::io;

use super::bytes::{fill_from, init_bytes};
use super::{AsyncBufRead, AsyncRead, AsyncWrite};
use crate::buf::{BufResult, IoBuf, IoBufMut};

/// Reads the slice's bytes and advances past them, as std's `Read for &[u8]`.
impl AsyncRead for &[u8] {
    async fn read<B: IoBufMut>(&mut self, mut buf: B) -> BufResult<usize, B> {
        let n = fill_from(&mut buf, self);
        *self = &self[n..];
        (Ok(n), buf)
    }
}

/// Appends what is written, as std's `Write for Vec<u8>`.
impl AsyncWrite for Vec<u8> {
    async fn write<B: IoBuf>(&mut self, buf: B) -> BufResult<usize, B> {
        self.extend_from_slice(init_bytes(&buf));
        (Ok(buf.bytes_init()), buf)
    }

    async fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<T: AsyncRead + ?Sized> AsyncRead for &mut T {
    fn read<B: IoBufMut>(&mut self, buf: B) -> impl Future<Output = BufResult<usize, B>> {
        (**self).read(buf)
    }

    fn read_exact<B: IoBufMut>(&mut self, buf: B) -> impl Future<Output = BufResult<(), B>> {
        (**self).read_exact(buf)
    }
}

impl<T: AsyncWrite + ?Sized> AsyncWrite for &mut T {
    fn write<B: IoBuf>(&mut self, buf: B) -> impl Future<Output = BufResult<usize, B>> {
        (**self).write(buf)
    }

    fn write_all<B: IoBuf>(&mut self, buf: B) -> impl Future<Output = BufResult<(), B>> {
        (**self).write_all(buf)
    }

    fn flush(&mut self) -> impl Future<Output = io::Result<()>> {
        (**self).flush()
    }

    fn shutdown(&mut self) -> impl Future<Output = io::Result<()>> {
        (**self).shutdown()
    }
}

impl<T: AsyncBufRead + ?Sized> AsyncBufRead for &mut T {
    fn buffer(&self) -> &[u8] {
        (**self).buffer()
    }

    fn fill_more(&mut self) -> impl Future<Output = io::Result<usize>> {
        (**self).fill_more()
    }

    fn consume(&mut self, amt: usize) {
        (**self).consume(amt);
    }
}

/// A reader and a writer as one value that reads from the first and writes to the second
/// (tokio's `io::join`): a pipe pair, stdin and stdout, or a test's input and output.
pub fn join<R, W>(reader: R, writer: W) -> Join<R, W> {
    Join { reader, writer }
}

/// The value of [`join`].
#[derive(Debug)]
pub struct Join<R, W> {
    reader: R,
    writer: W,
}

impl<R, W> Join<R, W> {
    /// The reader and the writer.
    pub fn into_inner(self) -> (R, W) {
        (self.reader, self.writer)
    }

    /// The reader.
    pub fn reader_mut(&mut self) -> &mut R {
        &mut self.reader
    }

    /// The writer.
    pub fn writer_mut(&mut self) -> &mut W {
        &mut self.writer
    }
}

impl<R: AsyncRead, W> AsyncRead for Join<R, W> {
    fn read<B: IoBufMut>(&mut self, buf: B) -> impl Future<Output = BufResult<usize, B>> {
        self.reader.read(buf)
    }

    fn read_exact<B: IoBufMut>(&mut self, buf: B) -> impl Future<Output = BufResult<(), B>> {
        self.reader.read_exact(buf)
    }
}

impl<R, W: AsyncWrite> AsyncWrite for Join<R, W> {
    fn write<B: IoBuf>(&mut self, buf: B) -> impl Future<Output = BufResult<usize, B>> {
        self.writer.write(buf)
    }

    fn write_all<B: IoBuf>(&mut self, buf: B) -> impl Future<Output = BufResult<(), B>> {
        self.writer.write_all(buf)
    }

    fn flush(&mut self) -> impl Future<Output = io::Result<()>> {
        self.writer.flush()
    }

    fn shutdown(&mut self) -> impl Future<Output = io::Result<()>> {
        self.writer.shutdown()
    }
}

impl<R: AsyncBufRead, W> AsyncBufRead for Join<R, W> {
    fn buffer(&self) -> &[u8] {
        self.reader.buffer()
    }

    fn fill_more(&mut self) -> impl Future<Output = io::Result<usize>> {
        self.reader.fill_more()
    }

    fn consume(&mut self, amt: usize) {
        self.reader.consume(amt);
    }
}
