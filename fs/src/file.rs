//! [`File`]: an open file whose reads and writes are io_uring ops at explicit offsets.

use std::any::Any;
use std::future::Future;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use runtime::buf::{BufResult, FixedBuf, FixedIoBuf, IoBuf, IoBufMut, Slice};
use runtime::fd::SharedFd;
use runtime::op::{Op, Operation};
use uring_sys::abi;

use crate::aligned::DioAlignment;
use crate::metadata::{Metadata, STATX_MASK};
use crate::op::close::{Close, Closing, close_now};
use crate::op::fadvise::Fadvise;
use crate::op::fallocate::Fallocate;
use crate::op::fsync::Fsync;
use crate::op::ftruncate::Ftruncate;
use crate::op::rw::{At, Direction, Read, RwAt, RwvAt, Write};
use crate::op::statx::Statx;
use crate::op::{IOV_MAX, MAX_RW};
use crate::open_options::OpenOptions;
use crate::util::{blocking, on_ring};

/// An open file on the current core.
///
/// Reads and writes are positional (`read_at(buf, offset)`), so many may be in flight at once
/// on one file, from many tasks (share it with `Rc`); [`FileCursor`](crate::FileCursor) adds a
/// std-like position. Each takes an owned buffer and gives it back with the result, since the
/// kernel may use it until the completion: a dropped future cancels its op, and the buffer
/// and the file stay alive until the kernel is done.
///
/// Dropping a `File` closes it without blocking the core; [`File::close`] reports the close's
/// error. A `File` belongs to its core (`!Send`).
///
/// # Examples
/// ```
/// use fs::File;
///
/// runtime::Runtime::new()?.block_on(async {
///     let path = std::env::temp_dir().join(format!("fs-doc-file-{}", std::process::id()));
///     let file = File::create(&path).await?;
///     let (res, _) = file.write_all_at(b"hello, world".as_slice(), 0).await;
///     res?;
///     file.close().await?;
///
///     let file = File::open(&path).await?;
///     let (n, buf) = file.read_at(Vec::with_capacity(5), 7).await;
///     assert_eq!(&buf[..n?], b"world");
///     fs::remove_file(&path).await
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// A closed file cannot be used: `close` takes the file.
/// ```compile_fail
/// # async fn f(file: fs::File) {
/// file.close().await.unwrap();
/// file.read_at(vec![0u8; 4], 0).await;
/// # }
/// ```
#[derive(Debug)]
pub struct File {
    fd: SharedFd,
    /// `Some` for an O_DIRECT file: what its transfers must be aligned to.
    dio: Option<DioAlignment>,
}

/// The registered buffer's index when `buf` is a [`FixedBuf`] (or a slice of one), so that
/// [`File::read_at`] and friends use `READ_FIXED`/`WRITE_FIXED` for it, as
/// [`File::read_fixed_at`] does for any [`FixedIoBuf`]; decided per buffer type at compile
/// time.
fn registered_index<B: IoBuf>(buf: &B) -> Option<u16> {
    let any: &dyn Any = buf;
    match any.downcast_ref::<FixedBuf>() {
        Some(b) => Some(b.buf_index()),
        None => any
            .downcast_ref::<Slice<FixedBuf>>()
            .map(|s| s.get_ref().buf_index()),
    }
}

/// The future of a read: the op itself in the common case, or a boxed loop of ops for a
/// transfer larger than one op moves.
enum Transfer<'a, T: Operation> {
    Single(Op<T>),
    Several(Pin<Box<dyn Future<Output = T::Output> + 'a>>),
}

// Nothing here is pinned structurally: `Op` is `Unpin` and the loop is boxed.
impl<T: Operation> Unpin for Transfer<'_, T> {}

impl<T: Operation> Future for Transfer<'_, T> {
    type Output = T::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T::Output> {
        match self.get_mut() {
            Transfer::Single(op) => Pin::new(op).poll(cx),
            Transfer::Several(f) => f.as_mut().poll(cx),
        }
    }
}

pin_project! {
    /// The future of a transfer that was checked before it started: the transfer, or the
    /// refusal (with the buffers back) when the check failed.
    #[project = CheckedProj]
    enum Checked<F: Future> {
        Started { #[pin] transfer: F },
        Refused { refusal: Option<F::Output> },
    }
}

impl<F: Future> Future for Checked<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        match self.project() {
            CheckedProj::Started { transfer } => transfer.poll(cx),
            CheckedProj::Refused { refusal } => {
                Poll::Ready(refusal.take().expect("polled after completion"))
            }
        }
    }
}

/// Starts `transfer(bufs)` if `check` passed; else the future yields the check's error with
/// `bufs` back, without reaching the kernel. Every read and write of a [`File`] starts here.
fn checked<B, T, F>(check: io::Result<()>, bufs: B, transfer: impl FnOnce(B) -> F) -> Checked<F>
where
    F: Future<Output = BufResult<T, B>>,
{
    match check {
        Ok(()) => Checked::Started {
            transfer: transfer(bufs),
        },
        Err(e) => Checked::Refused {
            refusal: Some((Err(e), bufs)),
        },
    }
}

/// Access-pattern advice for [`File::advise`] (`posix_fadvise(2)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Advice {
    /// No particular pattern (the default).
    Normal,
    /// Sequential reads: read ahead more.
    Sequential,
    /// Random reads: no read-ahead.
    Random,
    /// Will be read soon: start reading it into the page cache.
    WillNeed,
    /// Will not be needed: drop it from the page cache.
    DontNeed,
    /// Will be read once.
    NoReuse,
}

impl Advice {
    fn raw(self) -> i32 {
        match self {
            Advice::Normal => libc::POSIX_FADV_NORMAL,
            Advice::Sequential => libc::POSIX_FADV_SEQUENTIAL,
            Advice::Random => libc::POSIX_FADV_RANDOM,
            Advice::WillNeed => libc::POSIX_FADV_WILLNEED,
            Advice::DontNeed => libc::POSIX_FADV_DONTNEED,
            Advice::NoReuse => libc::POSIX_FADV_NOREUSE,
        }
    }
}

impl File {
    pub(crate) fn new(fd: SharedFd, dio: Option<DioAlignment>) -> File {
        File { fd, dio }
    }

    /// Opens `path` read-only.
    ///
    /// # Errors
    /// As [`OpenOptions::open`]: `NotFound`, `PermissionDenied`, `InvalidInput` for a path
    /// with a NUL byte, …
    pub async fn open(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new().read(true).open(path).await
    }

    /// Opens `path` write-only, creating it or truncating it.
    ///
    /// # Errors
    /// As [`OpenOptions::open`].
    pub async fn create(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .await
    }

    /// Creates `path` read-write, failing with `AlreadyExists` if it exists.
    ///
    /// # Errors
    /// As [`OpenOptions::open`].
    pub async fn create_new(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
            .await
    }

    /// [`OpenOptions::new`].
    pub fn options() -> OpenOptions {
        OpenOptions::new()
    }

    /// Takes over a std file (not checked for O_DIRECT: misaligned transfers then fail with
    /// the kernel's plain EINVAL).
    pub fn from_std(file: std::fs::File) -> File {
        File::from(OwnedFd::from(file))
    }

    /// The process fd, or `None` for a file opened into the fixed file table
    /// ([`OpenOptions::direct_descriptor`]).
    pub fn as_fd(&self) -> Option<BorrowedFd<'_>> {
        self.fd.fd()
    }

    /// The shared handle, for ops on two files (splice).
    pub(crate) fn shared_fd(&self) -> SharedFd {
        self.fd.clone()
    }

    /// For a file opened with `O_DIRECT`: the alignment its transfers need (statx
    /// `STATX_DIOALIGN`, else [`DioAlignment::DEFAULT`]); `None` otherwise.
    pub fn dio_alignment(&self) -> Option<DioAlignment> {
        self.dio
    }

    /// Checks a transfer of `len` bytes at `addr` before it starts: the offset (see
    /// [`At::check`]) and, on an O_DIRECT file, the alignment.
    fn check_transfer(&self, what: &str, addr: *const u8, len: usize, at: At) -> io::Result<()> {
        at.check(what)?;
        match self.dio {
            Some(align) => align.check(what, addr as usize, len, at.dio_offset()),
            None => Ok(()),
        }
    }

    /// One `READ`/`WRITE` (`READ_FIXED`/`WRITE_FIXED` with registered buffer `fixed`) of up
    /// to `len` bytes (capped at [`MAX_RW`]) into or from `buf[start..]`.
    fn chunk<D: Direction<B>, B: IoBuf>(
        &self,
        buf: B,
        fixed: Option<u16>,
        start: usize,
        len: usize,
        at: At,
    ) -> Op<RwAt<D, B>> {
        let len = len.min(MAX_RW) as u32;
        Op::new(RwAt::new(self.fd.clone(), buf, fixed, start, len, at))
    }

    /// Reads at file offset `pos` into `buf`, from its start up to its capacity
    /// (`bytes_total`); returns how many bytes were read (0 at or past the end of the file)
    /// and marks them initialized (a `Vec`'s length becomes that).
    ///
    /// A registered [`FixedBuf`] (or a slice of one) is read with `READ_FIXED`. Like
    /// `pread(2)` it may read less than asked. A buffer larger than one read can move
    /// (`0x7ffff000` bytes, about 2 GiB) is filled by successive reads until it is full or
    /// the file ends.
    ///
    /// The file's own position is neither used nor moved: [`File::read`] reads there.
    ///
    /// # Errors
    /// `InvalidInput` for a `pos` past `i64::MAX` (the largest file offset; io_uring would
    /// read offset -1 as the file's position); `read(2)`'s errno (EBADF on a file not open
    /// for reading, EISDIR on a directory, ESPIPE on a pipe); on an O_DIRECT file,
    /// `InvalidInput` naming a misaligned address, length or offset.
    ///
    /// # Cancel safety
    /// Dropping the future cancels the read; it moves no file position, so a retry at the
    /// same `pos` reads the same range again.
    pub fn read_at<B: IoBufMut>(
        &self,
        buf: B,
        pos: u64,
    ) -> impl Future<Output = BufResult<usize, B>> + '_ {
        self.transfer::<Read, _>("read_at", None, buf, At::Offset(pos))
    }

    /// Reads at the file's own position into `buf` (up to its capacity) and advances the
    /// position past the bytes read, like std's `Read for File` (`read(2)`); returns how
    /// many were read, 0 at the end of the file. This is the read for what has no offsets
    /// (a pipe, standard input, a terminal); for a regular file prefer [`File::read_at`]
    /// (or a [`FileCursor`](crate::FileCursor)), which many tasks may use at once.
    ///
    /// The position is the kernel's, shared by every read and write at it and by other
    /// holders of the fd (a duplicate, a child process): two in flight at once move it in
    /// an order the kernel picks.
    ///
    /// # Errors
    /// As [`File::read_at`].
    ///
    /// # Cancel safety
    /// Not cancel safe: a read dropped after the kernel did it still moved the position,
    /// and its bytes are lost (from a pipe, for good).
    ///
    /// # Examples
    /// ```
    /// runtime::Runtime::new()?.block_on(async {
    ///     let path = std::env::temp_dir().join(format!("fs-doc-read-{}", std::process::id()));
    ///     fs::write(&path, b"hello, world".as_slice()).await?;
    ///     let file = fs::File::open(&path).await?;
    ///     let (n, buf) = file.read(Vec::with_capacity(7)).await;
    ///     assert_eq!(&buf[..n?], b"hello, ");
    ///     let (n, buf) = file.read(Vec::with_capacity(16)).await;
    ///     assert_eq!(&buf[..n?], b"world");
    ///     fs::remove_file(&path).await
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn read<B: IoBufMut>(&self, buf: B) -> impl Future<Output = BufResult<usize, B>> + '_ {
        self.transfer::<Read, _>("read", None, buf, At::Position)
    }

    /// [`File::read_at`], [`File::read_fixed_at`], [`File::write_at`] and
    /// [`File::write_fixed_at`]: `READ_FIXED`/`WRITE_FIXED` with registered buffer `fixed`, or
    /// by [`registered_index`] when `None`. A read larger than one op moves takes several.
    fn transfer<D: Direction<B>, B: IoBuf>(
        &self,
        what: &str,
        fixed: Option<u16>,
        buf: B,
        at: At,
    ) -> Checked<Transfer<'_, RwAt<D, B>>> {
        let fixed = fixed.or_else(|| registered_index(&buf));
        let total = D::room(&buf);
        let check = self.check_transfer(what, buf.stable_ptr(), total, at);
        checked(check, buf, |buf| {
            if total <= MAX_RW || !D::CONTINUES {
                // The common case: the future is the op itself, with no loop around it.
                Transfer::Single(self.chunk(buf, fixed, 0, total, at))
            } else {
                Transfer::Several(Box::pin(self.transfer_long::<D, B>(buf, fixed, at)))
            }
        })
    }

    /// A read larger than one op moves: successive ops until the buffer is full or the file
    /// ends.
    async fn transfer_long<D: Direction<B>, B: IoBuf>(
        &self,
        buf: B,
        fixed: Option<u16>,
        at: At,
    ) -> BufResult<usize, B> {
        let total = D::room(&buf);
        let (mut buf, mut done) = (buf, 0);
        loop {
            let want = (total - done).min(MAX_RW);
            let (res, b) = self
                .chunk::<D, B>(buf, fixed, done, want, at.after(done))
                .await;
            buf = b;
            match res {
                Ok(n) => {
                    done += n;
                    // Only a read of 0 says the file ended: a short one may be a signal or a
                    // filesystem's choice, and the doc promises a full buffer unless it ended.
                    if n == 0 || done == total {
                        return (Ok(done), buf);
                    }
                }
                Err(e) if done == 0 => return (Err(e), buf),
                Err(_) => return (Ok(done), buf),
            }
        }
    }

    /// Reads at `pos` until `buf` is full (`bytes_total`), in as many reads as it takes.
    ///
    /// # Errors
    /// `UnexpectedEof` if the file ends first (the bytes read are initialized in `buf`);
    /// otherwise as [`File::read_at`].
    pub fn read_exact_at<B: IoBufMut>(
        &self,
        buf: B,
        pos: u64,
    ) -> impl Future<Output = BufResult<(), B>> + '_ {
        let ended = |done, total| {
            let what = format!("file ended after {done} of {total} bytes");
            io::Error::new(io::ErrorKind::UnexpectedEof, what)
        };
        self.all::<Read, _>("read_exact_at", buf, At::Offset(pos), ended)
    }

    /// Reads from `pos` to the end of the file, appending to `buf` (growing it as needed);
    /// returns how many bytes were appended.
    ///
    /// # Errors
    /// As [`File::read_at`]; `InvalidInput` on an O_DIRECT file (use `read_at` with an
    /// [`AlignedBuf`](crate::AlignedBuf)).
    pub fn read_to_end_at(
        &self,
        buf: Vec<u8>,
        pos: u64,
    ) -> impl Future<Output = BufResult<usize, Vec<u8>>> + '_ {
        let check = match self.dio {
            Some(_) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "read_to_end_at on an O_DIRECT file: read aligned blocks with read_at and an \
                 AlignedBuf instead",
            )),
            None => At::Offset(pos).check("read_to_end_at"),
        };
        checked(check, buf, move |buf| self.read_to_end(buf, pos))
    }

    /// [`File::read_to_end_at`] on a file without O_DIRECT.
    async fn read_to_end(&self, buf: Vec<u8>, pos: u64) -> BufResult<usize, Vec<u8>> {
        let start = buf.len();
        let (mut buf, mut pos) = (buf, pos);
        loop {
            if buf.len() == buf.capacity() {
                // Full (perhaps sized to the file exactly): a small read tells whether the
                // file ends here before the buffer grows.
                let (res, probe) = self
                    .chunk::<Read, _>(Vec::with_capacity(32), None, 0, 32, At::Offset(pos))
                    .await;
                match res {
                    Ok(0) => return (Ok(buf.len() - start), buf),
                    Ok(n) => {
                        buf.extend_from_slice(&probe);
                        pos += n as u64;
                        buf.reserve(buf.capacity().max(8192));
                        continue;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return (Err(e), buf),
                }
            }
            let (len, spare) = (buf.len(), buf.capacity() - buf.len());
            let (res, b) = self
                .chunk::<Read, _>(buf, None, len, spare, At::Offset(pos))
                .await;
            buf = b;
            match res {
                Ok(0) => return (Ok(buf.len() - start), buf),
                Ok(n) => pos += n as u64,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return (Err(e), buf),
            }
        }
    }

    /// Writes `buf`'s initialized bytes (`bytes_init`) at file offset `pos`; returns how
    /// many were written, which may be fewer (at most `0x7ffff000` per call). A registered
    /// [`FixedBuf`] is written with `WRITE_FIXED`.
    ///
    /// The file's own position is neither used nor moved: [`File::write`] writes there.
    ///
    /// # Errors
    /// `InvalidInput` for a `pos` past `i64::MAX` (see [`File::read_at`]); `write(2)`'s
    /// errno: EBADF on a file not open for writing, `StorageFull` (ENOSPC), EFBIG, ESPIPE on
    /// a pipe; on an O_DIRECT file, `InvalidInput` naming what is misaligned.
    ///
    /// # Cancel safety
    /// Dropping the future cancels the write, which may have written some or all of `buf`; a
    /// retry at the same `pos` writes the same bytes to the same place (not with `append`,
    /// which writes at the end whatever `pos`).
    pub fn write_at<B: IoBuf>(
        &self,
        buf: B,
        pos: u64,
    ) -> impl Future<Output = BufResult<usize, B>> + '_ {
        self.transfer::<Write, _>("write_at", None, buf, At::Offset(pos))
    }

    /// Writes `buf`'s initialized bytes at the file's own position and advances it past
    /// those written, like std's `Write for File` (`write(2)`); returns how many were
    /// written, which may be fewer (a pipe or a terminal may take part). This is the write
    /// for what has no offsets (a pipe, standard output); the position is shared as
    /// [`File::read`] says.
    ///
    /// # Errors
    /// As [`File::write_at`] (EPIPE when a pipe's reader is gone).
    ///
    /// # Cancel safety
    /// Dropping the future cancels the write, which may have written some or all of `buf`
    /// and moved the position past them.
    pub fn write<B: IoBuf>(&self, buf: B) -> impl Future<Output = BufResult<usize, B>> + '_ {
        self.transfer::<Write, _>("write", None, buf, At::Position)
    }

    /// Writes all of `buf`'s initialized bytes at the file's own position, in as many
    /// [`File::write`]s as it takes (a pipe may take part of each).
    ///
    /// # Errors
    /// `WriteZero` if a write wrote nothing; otherwise as [`File::write`].
    ///
    /// # Examples
    /// Standard output as a `File` of its own (a duplicate of its fd):
    /// ```
    /// use std::os::fd::AsFd;
    ///
    /// runtime::Runtime::new()?.block_on(async {
    ///     let stdout = fs::File::from(std::io::stdout().as_fd().try_clone_to_owned()?);
    ///     let (res, _) = stdout.write_all(b"hello\n".as_slice()).await;
    ///     res
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn write_all<B: IoBuf>(&self, buf: B) -> impl Future<Output = BufResult<(), B>> + '_ {
        self.all::<Write, _>("write_all", buf, At::Position, wrote_nothing)
    }

    /// Writes all of `buf`'s initialized bytes at `pos`, in as many writes as it takes.
    ///
    /// # Errors
    /// `WriteZero` if a write wrote nothing; otherwise as [`File::write_at`].
    pub fn write_all_at<B: IoBuf>(
        &self,
        buf: B,
        pos: u64,
    ) -> impl Future<Output = BufResult<(), B>> + '_ {
        self.all::<Write, _>("write_all_at", buf, At::Offset(pos), wrote_nothing)
    }

    /// [`File::read_exact_at`], [`File::write_all_at`] and [`File::write_all`]: moves all of
    /// `buf`'s `D::room` bytes at `at`, in as many ops as it takes; an op that moves nothing
    /// ends it with `nothing_moved(done, total)`.
    fn all<D: Direction<B>, B: IoBuf>(
        &self,
        what: &str,
        buf: B,
        at: At,
        nothing_moved: fn(usize, usize) -> io::Error,
    ) -> impl Future<Output = BufResult<(), B>> + '_ {
        let total = D::room(&buf);
        let check = self.check_transfer(what, buf.stable_ptr(), total, at);
        let fixed = registered_index(&buf);
        checked(check, buf, move |buf| {
            let nothing_moved = move |done| nothing_moved(done, total);
            until_done(buf, total, nothing_moved, move |b, done| {
                self.chunk::<D, B>(b, fixed, done, total - done, at.after(done))
            })
        })
    }

    /// [`File::readv_at`] and [`File::writev_at`]: one `READV`/`WRITEV` over `bufs`, each
    /// over its `D::room` bytes, once they pass the checks.
    fn vectored<D: Direction<B>, B: IoBuf>(
        &self,
        what: &str,
        bufs: Vec<B>,
        at: At,
    ) -> Checked<Op<RwvAt<D, B>>> {
        let check = if let Err(e) = at.check(what) {
            Err(e)
        } else if bufs.len() > IOV_MAX {
            Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{what}: {} buffers, more than IOV_MAX ({IOV_MAX})",
                    bufs.len()
                ),
            ))
        } else {
            bufs.iter()
                .try_for_each(|b| self.check_transfer(what, b.stable_ptr(), D::room(b), at))
        };
        checked(check, bufs, |bufs| {
            Op::new(RwvAt::new(self.fd.clone(), bufs, at))
        })
    }

    /// Reads at `pos` into `bufs` in turn (`preadv`), each up to its capacity; returns the
    /// total read and marks each buffer's part initialized.
    ///
    /// # Errors
    /// As [`File::read_at`]; `InvalidInput` for more than 1024 buffers.
    pub fn readv_at<B: IoBufMut>(
        &self,
        bufs: Vec<B>,
        pos: u64,
    ) -> impl Future<Output = BufResult<usize, Vec<B>>> + '_ {
        self.vectored::<Read, _>("readv_at", bufs, At::Offset(pos))
    }

    /// Writes the initialized bytes of `bufs`, in turn, at `pos` (`pwritev`); returns the
    /// total written.
    ///
    /// # Errors
    /// As [`File::write_at`]; `InvalidInput` for more than 1024 buffers.
    pub fn writev_at<B: IoBuf>(
        &self,
        bufs: Vec<B>,
        pos: u64,
    ) -> impl Future<Output = BufResult<usize, Vec<B>>> + '_ {
        self.vectored::<Write, _>("writev_at", bufs, At::Offset(pos))
    }

    /// Reads at `pos` into a registered buffer (`READ_FIXED`: the kernel skips pinning its
    /// pages), from its start up to its capacity.
    ///
    /// # Errors
    /// As [`File::read_at`]; EFAULT if the memory is not inside the registered buffer.
    pub fn read_fixed_at<B: FixedIoBuf + IoBufMut>(
        &self,
        buf: B,
        pos: u64,
    ) -> impl Future<Output = BufResult<usize, B>> + '_ {
        let index = Some(buf.buf_index());
        self.transfer::<Read, _>("read_fixed_at", index, buf, At::Offset(pos))
    }

    /// Writes a registered buffer's initialized bytes at `pos` (`WRITE_FIXED`).
    ///
    /// # Errors
    /// As [`File::write_at`]; EFAULT if the memory is not inside the registered buffer.
    pub fn write_fixed_at<B: FixedIoBuf>(
        &self,
        buf: B,
        pos: u64,
    ) -> impl Future<Output = BufResult<usize, B>> + '_ {
        let index = Some(buf.buf_index());
        self.transfer::<Write, _>("write_fixed_at", index, buf, At::Offset(pos))
    }

    async fn fsync(&self, flags: u32, what: &'static str) -> io::Result<()> {
        if on_ring(abi::IORING_OP_FSYNC) {
            return Op::new(Fsync {
                fd: self.fd.clone(),
                flags,
            })
            .await;
        }
        let fd = self.fd.dup(what)?;
        let data_only = flags & abi::IORING_FSYNC_DATASYNC != 0;
        blocking(move || {
            let f = std::fs::File::from(fd);
            if data_only {
                f.sync_data()
            } else {
                f.sync_all()
            }
        })
        .await
    }

    /// Flushes data and metadata to the device (`fsync(2)`).
    ///
    /// # Errors
    /// `fsync(2)`'s errno (EIO when the device failed a write back).
    pub async fn sync_all(&self) -> io::Result<()> {
        self.fsync(0, "File::sync_all").await
    }

    /// Flushes data, and only the metadata needed to read it back (`fdatasync(2)`).
    ///
    /// # Errors
    /// As [`File::sync_all`].
    pub async fn sync_data(&self) -> io::Result<()> {
        self.fsync(abi::IORING_FSYNC_DATASYNC, "File::sync_data")
            .await
    }

    /// The file's metadata (`statx(2)` on the fd).
    ///
    /// # Errors
    /// `statx(2)`'s errno; `Unsupported` for a file opened into the fixed file table (STATX
    /// takes no fixed file).
    pub async fn metadata(&self) -> io::Result<Metadata> {
        self.fd.require_fd("File::metadata")?;
        if on_ring(abi::IORING_OP_STATX) {
            return Op::new(Statx::fd(self.fd.clone(), STATX_MASK)).await;
        }
        let fd = self.fd.dup("File::metadata")?;
        blocking(move || {
            std::fs::File::from(fd)
                .metadata()
                .map(|m| Metadata::from_std(&m))
        })
        .await
    }

    /// Truncates or extends the file to `len` bytes (`IORING_OP_FTRUNCATE` on Linux 6.9+,
    /// else `ftruncate(2)` on the blocking pool).
    ///
    /// # Errors
    /// `InvalidInput` for a `len` past `i64::MAX` (the largest file size); `ftruncate(2)`'s
    /// errno: EBADF/EINVAL on a file not open for writing, EFBIG.
    pub async fn set_len(&self, len: u64) -> io::Result<()> {
        At::Offset(len).check("set_len")?;
        if runtime::op_supported(abi::IORING_OP_FTRUNCATE) == Some(true) {
            return Op::new(Ftruncate {
                fd: self.fd.clone(),
                len,
            })
            .await;
        }
        let fd = self.fd.dup("File::set_len")?;
        blocking(move || std::fs::File::from(fd).set_len(len)).await
    }

    /// Allocates disk space for `len` bytes at `offset` (`fallocate(2)` mode 0), extending
    /// the file if needed, so later writes there cannot fail for lack of space.
    ///
    /// # Errors
    /// `InvalidInput` for an `offset` or `len` past `i64::MAX`; `fallocate(2)`'s errno:
    /// EINVAL for a `len` of 0, EFBIG past the largest file size, `StorageFull`, EOPNOTSUPP
    /// where the file system cannot.
    pub async fn allocate(&self, offset: u64, len: u64) -> io::Result<()> {
        At::Offset(offset).check("allocate")?;
        At::Offset(len).check("allocate (length)")?;
        Op::new(Fallocate {
            fd: self.fd.clone(),
            mode: 0,
            offset,
            len,
        })
        .await
    }

    /// Tells the kernel how `len` bytes at `offset` (0: to the end) will be used
    /// (`posix_fadvise(2)`). A range that reaches the end of the file (or past the largest
    /// offset) is advised "to the end", in one op.
    ///
    /// # Errors
    /// `InvalidInput` for an `offset` past `i64::MAX`; `posix_fadvise(2)`'s errno (ESPIPE on
    /// a pipe).
    pub async fn advise(&self, offset: u64, len: u64, advice: Advice) -> io::Result<()> {
        // The SQE carries a 32-bit length: a longer range is advised in pieces, but never
        // past the end of the file, where pages do not exist (and the other advices apply to
        // the whole file): `advise(0, u64::MAX)` would otherwise take 2^32 ops.
        const PIECE: u64 = 0xffff_f000;
        At::Offset(offset).check("advise")?;
        let end = offset.checked_add(len).filter(|&e| e <= i64::MAX as u64);
        let to_the_end = match end {
            _ if len == 0 => true,
            None => true,
            Some(_) if len <= PIECE => false,
            // A file in the fixed table has no statx: advised to the end, a hint's superset.
            Some(end) => self.metadata().await.map_or(true, |m| end >= m.len()),
        };
        let (mut offset, mut left) = (offset, if to_the_end { 0 } else { len });
        loop {
            let piece = left.min(PIECE);
            Op::new(Fadvise {
                fd: self.fd.clone(),
                offset,
                len: piece as u32,
                advice: advice.raw(),
            })
            .await?;
            left -= piece;
            offset += piece;
            if left == 0 {
                return Ok(());
            }
        }
    }

    /// Puts this file in the current core's fixed file table, so its ops name the slot
    /// (`IOSQE_FIXED_FILE`) and the kernel skips the fd lookup per op. The fd stays open.
    /// Returns the slot; registering twice returns the same one.
    ///
    /// # Errors
    /// Outside a runtime; when the table is full; EBADF for a closed fd.
    pub fn register(&self) -> io::Result<u32> {
        self.fd.register()
    }

    /// The file's slot in the fixed file table, if it has one.
    pub fn fixed_index(&self) -> Option<u32> {
        self.fd.fixed_index()
    }

    /// Closes the file and reports the close's error (`IORING_OP_CLOSE`).
    ///
    /// Ops still in flight (futures dropped before their completion) keep the file open
    /// until they end; the file is then closed in the background and this returns `Ok`.
    ///
    /// # Errors
    /// `close(2)`'s errno (EIO on some network file systems when a write back failed).
    pub async fn close(self) -> io::Result<()> {
        match self.fd.try_into_parts() {
            Ok((Some(fd), fixed)) => {
                drop(fixed);
                if runtime::fd::is_anon_inode(fd.as_fd()) {
                    return close_now(fd);
                }
                Op::new(Close {
                    target: Some(Closing::Fd(fd)),
                })
                .await
            }
            Ok((None, Some(fixed))) => {
                Op::new(Close {
                    target: Some(Closing::Fixed(fixed)),
                })
                .await
            }
            Ok((None, None)) => Ok(()),
            Err(in_use) => {
                drop(in_use);
                Ok(())
            }
        }
    }
}

impl From<OwnedFd> for File {
    fn from(fd: OwnedFd) -> File {
        File::new(SharedFd::new(fd), None)
    }
}

impl From<std::fs::File> for File {
    fn from(file: std::fs::File) -> File {
        File::from_std(file)
    }
}

/// The error of [`File::write_all_at`] and [`File::write_all`] when a write wrote nothing.
fn wrote_nothing(done: usize, total: usize) -> io::Error {
    let what = format!("a write wrote nothing after {done} of {total} bytes");
    io::Error::new(io::ErrorKind::WriteZero, what)
}

/// Runs `step(buf, done)` (a read or write of the rest, from byte `done`) until `total`
/// bytes moved, retrying EINTR; a step that moves nothing ends it with `nothing_moved(done)`.
async fn until_done<B, F, Fut>(
    mut buf: B,
    total: usize,
    nothing_moved: impl Fn(usize) -> io::Error,
    mut step: F,
) -> BufResult<(), B>
where
    F: FnMut(B, usize) -> Fut,
    Fut: Future<Output = BufResult<usize, B>>,
{
    let mut done = 0;
    while done < total {
        let (res, b) = step(buf, done).await;
        buf = b;
        match res {
            Ok(0) => return (Err(nothing_moved(done)), buf),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (Err(e), buf),
        }
    }
    (Ok(()), buf)
}
