//! Generic I/O on owned buffers: the traits [`AsyncRead`], [`AsyncWrite`] and
//! [`AsyncBufRead`] that sockets, files and wrappers implement, so library code is written
//! once; [`BufReader`], [`BufWriter`], [`Lines`], [`copy`] and [`split`] on top of them.
//!
//! # Owned buffers
//! The kernel writes into a read's buffer until the read's completion, which may come after
//! the future was dropped. So, as everywhere in this runtime (and as monoio's
//! `AsyncReadRent`), a read takes its buffer by value and gives it back with the result:
//! `read(buf) -> (io::Result<usize>, buf)`. A read fills the buffer from its start, up to
//! its capacity (`bytes_total`), and marks what it read initialized (a `Vec`'s length becomes
//! the count); a write sends the buffer's initialized bytes (a `Vec`'s length). Coming from
//! tokio, pass `Vec::with_capacity(n)` where you passed `&mut [u8]`, and take the `Vec` back
//! from the result.
//!
//! The traits' futures are not `Send`: a stream lives on its core.
//!
//! # Cancel safety
//! Dropping an I/O future (a `select!` branch that lost, a [`timeout`](crate::time::timeout))
//! follows the op contract: the op is cancelled and its buffer freed once the kernel is done
//! with it. What the kernel already did is not lost where the implementation says so: the
//! `net` streams keep the bytes a dropped read received for their next read, and finish a
//! dropped write in the background. Each method documents its own behaviour; in short:
//!
//! | method | dropped before it completes |
//! | --- | --- |
//! | [`AsyncRead::read`] | as the implementation says (`net` streams, [`BufReader`]: nothing lost) |
//! | [`AsyncRead::read_exact`] | default: the bytes read so far are lost; `net` streams give them back |
//! | [`AsyncBufReadExt::read_line`], [`read_until`](AsyncBufReadExt::read_until), [`Lines::next_line`] | nothing lost: the bytes stay in the reader's buffer |
//! | [`AsyncReadExt::read_to_end`] | the bytes read so far are lost |
//! | [`AsyncWrite::write`] on a [`BufWriter`] | none of the caller's bytes were taken |
//! | [`AsyncWrite::write_all`], [`copy`] | earlier rounds were written, the rest not |
//!
//! # Examples
//! Code written once for any stream:
//! ```
//! use runtime::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, BufReader};
//!
//! /// Answers every line with its length.
//! async fn serve<S: AsyncRead + AsyncWrite>(stream: S) -> std::io::Result<()> {
//!     let mut lines = BufReader::new(stream).lines();
//!     while let Some(line) = lines.next_line().await? {
//!         let answer = format!("{}\n", line.len());
//!         lines.get_mut().get_mut().write_all(answer.into_bytes()).await.0?;
//!     }
//!     Ok(())
//! }
//!
//! runtime::Runtime::new()?.block_on(async {
//!     let mut out = Vec::new();
//!     serve(runtime::io::join(b"hi\nthere\n".as_slice(), &mut out)).await?;
//!     assert_eq!(out, b"2\n5\n");
//!     Ok::<(), std::io::Error>(())
//! })?;
//! # Ok::<(), std::io::Error>(())
//! ```

mod buf_reader;
mod buf_writer;
mod bytes;
mod copy;
mod impls;
mod lines;
mod split;

use std::future::Future;
use std::io;

use crate::buf::{BufResult, IoBuf, IoBufMut};

pub use buf_reader::BufReader;
pub use buf_writer::BufWriter;
pub use copy::copy;
pub use impls::{Join, join};
pub use lines::Lines;
pub use split::{ReadHalf, WriteHalf, split};

/// The default capacity of [`BufReader`], [`BufWriter`] and [`copy`]'s buffer.
pub const DEFAULT_BUF_SIZE: usize = 8 * 1024;

/// A source of bytes read into owned buffers.
///
/// # Implementing it
/// `read` must fill `buf` from its start (up to `bytes_total()`), mark the bytes it read with
/// `set_init`, and return how many; `Ok(0)` means the end of the stream (or a buffer with no
/// room). Say in its docs what a dropped `read` loses.
pub trait AsyncRead {
    /// Reads into `buf` (from its start, up to its capacity); returns how many bytes were
    /// read, `Ok(0)` at end of stream.
    ///
    /// # Cancel safety
    /// As the implementation documents.
    fn read<B: IoBufMut>(&mut self, buf: B) -> impl Future<Output = BufResult<usize, B>>;

    /// Reads until `buf`'s capacity is full; `UnexpectedEof` (with what was read, a `Vec`'s
    /// length saying how much) if the stream ends first.
    ///
    /// # Cancel safety
    /// The default is not cancel safe: the bytes read so far are in the dropped buffer.
    /// `net`'s streams override it with one that gives them back to the stream.
    fn read_exact<B: IoBufMut>(&mut self, buf: B) -> impl Future<Output = BufResult<(), B>> {
        read_exact(self, buf)
    }
}

/// A sink of bytes written from owned buffers.
pub trait AsyncWrite {
    /// Writes `buf`'s initialized bytes once (maybe fewer); returns how many were written.
    ///
    /// # Cancel safety
    /// As the implementation documents.
    fn write<B: IoBuf>(&mut self, buf: B) -> impl Future<Output = BufResult<usize, B>>;

    /// Writes all of `buf`'s initialized bytes, in as many writes as it takes.
    ///
    /// # Errors
    /// `WriteZero` if a write wrote nothing; else the first write's error.
    ///
    /// # Cancel safety
    /// Not cancel safe: if dropped, the earlier rounds were written and the rest was not.
    fn write_all<B: IoBuf>(&mut self, buf: B) -> impl Future<Output = BufResult<(), B>> {
        write_all(self, buf)
    }

    /// Waits until everything written so far reached its destination (a [`BufWriter`] writes
    /// its buffer; a `net` stream waits for dropped writes still finishing in the background
    /// and reports their error).
    fn flush(&mut self) -> impl Future<Output = io::Result<()>>;

    /// Flushes, then closes the write direction (a socket's `shutdown(Write)`); the peer
    /// reads end of stream.
    fn shutdown(&mut self) -> impl Future<Output = io::Result<()>>;
}

/// A reader with a buffer of its own ([`BufReader`]): look at what is buffered, read more
/// into it without losing what is there, and consume it.
///
/// Because reading more keeps the buffered bytes, [`AsyncBufReadExt`]'s `read_line` and
/// `read_until` consume nothing until they complete: a dropped one loses nothing.
pub trait AsyncBufRead: AsyncRead {
    /// The buffered bytes (maybe none); reads nothing.
    fn buffer(&self) -> &[u8];

    /// Reads more from the inner reader, appending to what is buffered (which stays); returns
    /// how many bytes came, `Ok(0)` at end of stream.
    ///
    /// # Cancel safety
    /// Cancel safe when the inner reader's `read` is: the buffered bytes are never in the
    /// read's buffer.
    fn fill_more(&mut self) -> impl Future<Output = io::Result<usize>>;

    /// Drops the first `amt` buffered bytes (at most all of them).
    fn consume(&mut self, amt: usize);

    /// The buffered bytes, reading first if none are; empty at end of stream.
    ///
    /// # Cancel safety
    /// As [`fill_more`](AsyncBufRead::fill_more).
    fn fill_buf(&mut self) -> impl Future<Output = io::Result<&[u8]>> {
        async move {
            if self.buffer().is_empty() {
                self.fill_more().await?;
            }
            let this: &Self = self;
            Ok(this.buffer())
        }
    }
}

/// Reading whole contents, for every [`AsyncRead`].
pub trait AsyncReadExt: AsyncRead {
    /// Reads to the end of the stream, appending to `buf`'s contents; returns how many bytes
    /// were appended, with the buffer.
    ///
    /// # Cancel safety
    /// Not cancel safe: the bytes read so far are in the dropped buffer.
    fn read_to_end(&mut self, buf: Vec<u8>) -> impl Future<Output = BufResult<usize, Vec<u8>>> {
        read_to_end(self, buf)
    }

    /// Reads to the end of the stream, appending to `buf`.
    ///
    /// # Errors
    /// `InvalidData` if what was read is not UTF-8; `buf` then comes back unchanged.
    ///
    /// # Cancel safety
    /// Not cancel safe, as [`read_to_end`](AsyncReadExt::read_to_end).
    fn read_to_string(&mut self, buf: String) -> impl Future<Output = BufResult<usize, String>> {
        async move {
            let old = buf.len();
            let (res, bytes) = self.read_to_end(buf.into_bytes()).await;
            match String::from_utf8(bytes) {
                Ok(s) => (res, s),
                Err(e) => {
                    let mut bytes = e.into_bytes();
                    bytes.truncate(old);
                    let s = String::from_utf8(bytes).expect("the old contents were a String");
                    let err = res.err().unwrap_or_else(|| {
                        io::Error::new(
                            io::ErrorKind::InvalidData,
                            "stream did not contain valid UTF-8",
                        )
                    });
                    (Err(err), s)
                }
            }
        }
    }
}

impl<R: AsyncRead + ?Sized> AsyncReadExt for R {}

/// Lines and delimited records, for every [`AsyncBufRead`].
pub trait AsyncBufReadExt: AsyncBufRead {
    /// Reads through the next `byte` (included) or to the end of the stream, appending to
    /// `out`; returns how many bytes were appended (0 at end of stream).
    ///
    /// # Cancel safety
    /// Cancel safe: nothing is consumed or appended until the delimiter (or the end) is
    /// found; a dropped `read_until` leaves the bytes it read in the reader's buffer, for the
    /// next call. The buffer grows to hold a long record.
    fn read_until(
        &mut self,
        byte: u8,
        out: &mut Vec<u8>,
    ) -> impl Future<Output = io::Result<usize>> {
        async move {
            let n = record_len(self, byte).await?;
            out.extend_from_slice(&self.buffer()[..n]);
            self.consume(n);
            Ok(n)
        }
    }

    /// Reads through the next `\n` (included) or to the end of the stream, appending to
    /// `line`; returns how many bytes were appended (0 at end of stream).
    ///
    /// # Errors
    /// `InvalidData` if the line is not UTF-8; the line is consumed, `line` is unchanged.
    ///
    /// # Cancel safety
    /// Cancel safe, unlike tokio's `read_line`: as [`read_until`](Self::read_until), a
    /// dropped `read_line` consumed nothing and appended nothing.
    fn read_line(&mut self, line: &mut String) -> impl Future<Output = io::Result<usize>> {
        async move {
            let n = record_len(self, b'\n').await?;
            let res = match std::str::from_utf8(&self.buffer()[..n]) {
                Ok(s) => {
                    line.push_str(s);
                    Ok(n)
                }
                Err(_) => Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "stream did not contain valid UTF-8",
                )),
            };
            self.consume(n);
            res
        }
    }

    /// The lines of the stream, without their `\n` or `\r\n` (see [`Lines`]).
    fn lines(self) -> Lines<Self>
    where
        Self: Sized,
    {
        Lines::new(self)
    }
}

impl<R: AsyncBufRead + ?Sized> AsyncBufReadExt for R {}

/// How many buffered bytes the next record takes: through the first `byte`, or all at the
/// end of the stream; reads more (keeping what is buffered) until one of them is there.
async fn record_len<R: AsyncBufRead + ?Sized>(reader: &mut R, byte: u8) -> io::Result<usize> {
    // Bytes already searched: a long record is scanned once, not once per read.
    let mut searched = 0;
    loop {
        let buffered = reader.buffer();
        if let Some(i) = buffered[searched..].iter().position(|&b| b == byte) {
            return Ok(searched + i + 1);
        }
        searched = buffered.len();
        if reader.fill_more().await? == 0 {
            return Ok(reader.buffer().len());
        }
    }
}

/// [`AsyncRead::read_exact`]'s default: reads into the rest of `buf` until it is full.
async fn read_exact<R, B>(reader: &mut R, mut buf: B) -> BufResult<(), B>
where
    R: AsyncRead + ?Sized,
    B: IoBufMut,
{
    let want = buf.bytes_total();
    // Nothing read yet: a Vec's old contents go, as a read's would.
    // SAFETY: the first 0 bytes are initialized in any buffer, and 0 <= bytes_total().
    unsafe { buf.set_init(0) };
    let mut filled = 0;
    while filled < want {
        let (res, slice) = reader.read(buf.slice(filled..want)).await;
        buf = slice.into_inner();
        match res {
            Ok(0) => {
                let what = format!("the stream ended after {filled} of {want} bytes");
                return (Err(io::Error::new(io::ErrorKind::UnexpectedEof, what)), buf);
            }
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (Err(e), buf),
        }
    }
    (Ok(()), buf)
}

/// [`AsyncWrite::write_all`]'s default: writes the rest of `buf` until none is left.
async fn write_all<W, B>(writer: &mut W, mut buf: B) -> BufResult<(), B>
where
    W: AsyncWrite + ?Sized,
    B: IoBuf,
{
    let total = buf.bytes_init();
    let mut written = 0;
    while written < total {
        let (res, slice) = writer.write(buf.slice(written..total)).await;
        buf = slice.into_inner();
        match res {
            Ok(0) => {
                let what = format!("a write wrote nothing after {written} of {total} bytes");
                return (Err(io::Error::new(io::ErrorKind::WriteZero, what)), buf);
            }
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (Err(e), buf),
        }
    }
    (Ok(()), buf)
}

/// [`AsyncReadExt::read_to_end`]: reads into `buf`'s spare capacity, growing it, until a
/// read returns 0.
async fn read_to_end<R>(reader: &mut R, mut buf: Vec<u8>) -> BufResult<usize, Vec<u8>>
where
    R: AsyncRead + ?Sized,
{
    let start = buf.len();
    loop {
        if buf.capacity() - buf.len() < DEFAULT_BUF_SIZE / 2 {
            // Doubling (at least one default buffer): amortized O(1) per byte, as std.
            buf.reserve(buf.capacity().max(DEFAULT_BUF_SIZE));
        }
        let len = buf.len();
        let cap = buf.capacity();
        // A slice starting at the Vec's length grows its length by what is read.
        let (res, slice) = reader.read(buf.slice(len..cap)).await;
        buf = slice.into_inner();
        match res {
            Ok(0) => return (Ok(buf.len() - start), buf),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (Err(e), buf),
        }
    }
}
