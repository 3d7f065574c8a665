//! The generic I/O traits of `runtime::io` for files: [`File`] (and `&File`) reads and
//! writes at the file's own position, as std's `Read`/`Write for File` do; [`FileCursor`]
//! at the position it keeps.

use std::io;

use runtime::buf::{BufResult, IoBuf, IoBufMut};
use runtime::io::{AsyncRead, AsyncWrite};

use crate::cursor::FileCursor;
use crate::file::File;
use crate::op::MAX_RW;

/// Reads at the file's position (the kernel's, shared with std and other handles of the same
/// open file) and advances it, as std's `Read for File`.
///
/// # Errors
/// As [`File::read_at`]; an O_DIRECT file refuses it (the position is not known to be
/// aligned): use [`File::read_at`].
///
/// # Cancel safety
/// Dropping the future cancels the read; if the kernel had read already, the position moved
/// past bytes nobody got: not cancel safe, as tokio's `File`.
impl AsyncRead for &File {
    async fn read<B: IoBufMut>(&mut self, buf: B) -> BufResult<usize, B> {
        if buf.bytes_total() <= MAX_RW {
            return File::read(self, buf).await;
        }
        // One op at most: the position is the kernel's, so the several ops of a larger
        // positional read cannot name their offsets. A read may read less anyway.
        let mut buf = buf;
        // SAFETY: the first 0 bytes are initialized, and 0 <= bytes_total(); as a read
        // filling from the start, the old contents go.
        unsafe { buf.set_init(0) };
        let (res, slice) = File::read(self, buf.slice(..MAX_RW)).await;
        (res, slice.into_inner())
    }
}

/// Writes at the file's position (at its end in append mode) and advances it, as std's
/// `Write for File`.
///
/// # Errors
/// As [`File::write_at`]; an O_DIRECT file refuses it, as reads.
///
/// # Cancel safety
/// Dropping the future cancels the write, which may have written some or all of it (and
/// moved the position): not cancel safe, as tokio's `File`.
impl AsyncWrite for &File {
    async fn write<B: IoBuf>(&mut self, buf: B) -> BufResult<usize, B> {
        if buf.bytes_init() <= MAX_RW {
            return File::write(self, buf).await;
        }
        let (res, slice) = File::write(self, buf.slice(..MAX_RW)).await;
        (res, slice.into_inner())
    }

    /// Nothing to do: a write is done when its future is (use [`File::sync_all`] to reach
    /// the disk).
    async fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }

    /// As `flush`: a file has no write direction to close.
    async fn shutdown(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// As `&File`'s.
impl AsyncRead for File {
    async fn read<B: IoBufMut>(&mut self, buf: B) -> BufResult<usize, B> {
        let mut file: &File = self;
        AsyncRead::read(&mut file, buf).await
    }
}

/// As `&File`'s.
impl AsyncWrite for File {
    async fn write<B: IoBuf>(&mut self, buf: B) -> BufResult<usize, B> {
        let mut file: &File = self;
        AsyncWrite::write(&mut file, buf).await
    }

    async fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// [`FileCursor::read`] and [`FileCursor::read_exact`] (cancel safe: the position moves only
/// when a read completes).
impl AsyncRead for FileCursor {
    fn read<B: IoBufMut>(&mut self, buf: B) -> impl Future<Output = BufResult<usize, B>> {
        FileCursor::read(self, buf)
    }

    fn read_exact<B: IoBufMut>(&mut self, buf: B) -> impl Future<Output = BufResult<(), B>> {
        FileCursor::read_exact(self, buf)
    }
}

/// [`FileCursor::write`] and [`FileCursor::write_all`].
impl AsyncWrite for FileCursor {
    fn write<B: IoBuf>(&mut self, buf: B) -> impl Future<Output = BufResult<usize, B>> {
        FileCursor::write(self, buf)
    }

    fn write_all<B: IoBuf>(&mut self, buf: B) -> impl Future<Output = BufResult<(), B>> {
        FileCursor::write_all(self, buf)
    }

    async fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        Ok(())
    }
}
