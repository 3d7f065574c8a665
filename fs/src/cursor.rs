//! [`FileCursor`]: a [`File`] with a position that reads and writes advance, for code written
//! against `std::io::Read`/`Write`/`Seek`.

use std::io::{self, SeekFrom};

use runtime::buf::{BufResult, IoBuf, IoBufMut};

use crate::file::File;

/// A file and a position: [`FileCursor::read`] and [`FileCursor::write`] act at the position
/// and move it past what they moved, like std's `Read`/`Write` on a file.
///
/// The position is kept here, not in the kernel (each op names its offset), so it costs no
/// syscall to [`seek`](FileCursor::seek). In append mode writes go to the end of the file
/// whatever the position.
///
/// # Examples
/// ```
/// use fs::{File, FileCursor};
///
/// runtime::Runtime::new()?.block_on(async {
///     let path = std::env::temp_dir().join(format!("fs-doc-cursor-{}", std::process::id()));
///     let mut out = FileCursor::new(File::create(&path).await?);
///     out.write_all(b"one ".as_slice()).await.0?;
///     out.write_all(b"two".as_slice()).await.0?;
///     assert_eq!(out.position(), 7);
///     out.into_inner().close().await?;
///
///     let mut input = FileCursor::new(File::open(&path).await?);
///     input.seek(std::io::SeekFrom::Start(4)).await?;
///     let (n, buf) = input.read(Vec::with_capacity(16)).await;
///     assert_eq!(&buf[..n?], b"two");
///     fs::remove_file(&path).await
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct FileCursor {
    file: File,
    pos: u64,
}

impl FileCursor {
    /// A cursor at position 0.
    pub fn new(file: File) -> FileCursor {
        FileCursor { file, pos: 0 }
    }

    /// Reads at the position into `buf` (up to its capacity) and advances past the bytes
    /// read; 0 at the end of the file.
    ///
    /// # Errors
    /// As [`File::read_at`].
    pub async fn read<B: IoBufMut>(&mut self, buf: B) -> BufResult<usize, B> {
        let (res, buf) = self.file.read_at(buf, self.pos).await;
        if let Ok(n) = res {
            self.pos += n as u64;
        }
        (res, buf)
    }

    /// Fills `buf` (its capacity) from the position, and advances.
    ///
    /// # Errors
    /// As [`File::read_exact_at`]; on an error the position is not moved.
    pub async fn read_exact<B: IoBufMut>(&mut self, buf: B) -> BufResult<(), B> {
        let (res, buf) = self.file.read_exact_at(buf, self.pos).await;
        if res.is_ok() {
            self.pos += buf.bytes_total() as u64;
        }
        (res, buf)
    }

    /// Writes `buf`'s initialized bytes at the position and advances past those written.
    ///
    /// # Errors
    /// As [`File::write_at`].
    pub async fn write<B: IoBuf>(&mut self, buf: B) -> BufResult<usize, B> {
        let (res, buf) = self.file.write_at(buf, self.pos).await;
        if let Ok(n) = res {
            self.pos += n as u64;
        }
        (res, buf)
    }

    /// Writes all of `buf`'s initialized bytes at the position, and advances.
    ///
    /// # Errors
    /// As [`File::write_all_at`]; on an error the position is not moved.
    pub async fn write_all<B: IoBuf>(&mut self, buf: B) -> BufResult<(), B> {
        let (res, buf) = self.file.write_all_at(buf, self.pos).await;
        if res.is_ok() {
            self.pos += buf.bytes_init() as u64;
        }
        (res, buf)
    }

    /// Moves the position; `SeekFrom::End` asks the file's length (one statx). Returns the
    /// new position.
    ///
    /// # Errors
    /// `InvalidInput` for a position before 0 or past `i64::MAX` (the largest file offset, as
    /// `lseek(2)`); [`File::metadata`]'s errors for `SeekFrom::End`.
    pub async fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let (base, delta) = match to {
            SeekFrom::Start(n) => (n, 0),
            SeekFrom::Current(d) => (self.pos, d),
            SeekFrom::End(d) => (self.file.metadata().await?.len(), d),
        };
        match base.checked_add_signed(delta) {
            Some(n) if n <= i64::MAX as u64 => {
                self.pos = n;
                Ok(n)
            }
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("seek to {base} {delta:+} is outside 0..=i64::MAX"),
            )),
        }
    }

    /// The position.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// The file.
    pub fn get_ref(&self) -> &File {
        &self.file
    }

    /// The file back (the position is dropped).
    pub fn into_inner(self) -> File {
        self.file
    }
}

impl From<File> for FileCursor {
    fn from(file: File) -> FileCursor {
        FileCursor::new(file)
    }
}
