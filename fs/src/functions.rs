//! Path functions, like `std::fs`'s: whole-file [`read`]/[`write()`], removing, creating,
//! renaming and linking, [`metadata`], [`copy`]. Each is an io_uring op where the kernel has
//! one (by the runtime's probe) and runs on the blocking pool otherwise.

use std::cell::RefCell;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use runtime::buf::IoBuf;
use runtime::fd::SharedFd;
use runtime::op::Op;
use uring_sys::abi;

use crate::file::File;
use crate::metadata::{Metadata, STATX_MASK};
use crate::op::mkdir::MkdirAt;
use crate::op::pipe::Pipe;
use crate::op::splice::Splice;
use crate::op::statx::Statx;
use crate::op::symlink::SymlinkAt;
use crate::op::two_paths::{Link, Rename, TwoPathKind, TwoPathsAt};
use crate::op::unlink::UnlinkAt;
use crate::open_options::OpenOptions;
use crate::util::{blocking, cstr, on_ring};

/// Reads the whole file at `path`.
///
/// # Errors
/// As [`File::open`] and [`File::read_at`].
///
/// # Examples
/// ```
/// runtime::Runtime::new()?.block_on(async {
///     let path = std::env::temp_dir().join(format!("fs-doc-read-{}", std::process::id()));
///     fs::write(&path, b"contents".as_slice()).await?;
///     assert_eq!(fs::read(&path).await?, b"contents");
///     assert_eq!(fs::read_to_string(&path).await?, "contents");
///     fs::remove_file(&path).await
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub async fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    let file = File::open(path).await?;
    let hint = file.metadata().await.map_or(0, |m| m.len());
    let mut buf = Vec::new();
    // As std's `fs::read`: a file larger than memory (a huge sparse one) is an error, not
    // an abort of the process.
    buf.try_reserve_exact(usize::try_from(hint).unwrap_or(usize::MAX))
        .map_err(|e| {
            io::Error::new(
                io::ErrorKind::OutOfMemory,
                format!("the file is {hint} bytes, more than this process can allocate ({e})"),
            )
        })?;
    let (res, buf) = file.read_to_end_at(buf, 0).await;
    res?;
    file.close().await?;
    Ok(buf)
}

/// Reads the whole file at `path` as UTF-8.
///
/// # Errors
/// As [`read`]; `InvalidData` if it is not UTF-8.
pub async fn read_to_string(path: impl AsRef<Path>) -> io::Result<String> {
    String::from_utf8(read(path).await?).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the file is not valid UTF-8: {e}"),
        )
    })
}

/// Writes `contents` (an owned buffer: `Vec<u8>`, `&'static [u8]`, …) as the whole file at
/// `path`, creating or truncating it.
///
/// # Errors
/// As [`File::create`] and [`File::write_all_at`]; the close's error.
pub async fn write<B: IoBuf>(path: impl AsRef<Path>, contents: B) -> io::Result<()> {
    let file = File::create(path).await?;
    file.write_all_at(contents, 0).await.0?;
    file.close().await
}

/// Removes a file (or a symbolic link; not a directory).
///
/// # Errors
/// `unlink(2)`'s errno: `NotFound`, `PermissionDenied`, EISDIR for a directory.
pub async fn remove_file(path: impl AsRef<Path>) -> io::Result<()> {
    unlink(path.as_ref(), 0).await
}

/// Removes an empty directory.
///
/// # Errors
/// `rmdir(2)`'s errno: `NotFound`, ENOTEMPTY, ENOTDIR.
pub async fn remove_dir(path: impl AsRef<Path>) -> io::Result<()> {
    unlink(path.as_ref(), libc::AT_REMOVEDIR).await
}

/// Removes a directory and everything in it, on the blocking pool (it walks the tree,
/// which io_uring cannot do: there is no getdents op).
///
/// # Cancel safety
/// None: a dropped call still removes the whole tree (the walk runs to its end on the
/// blocking pool).
///
/// # Errors
/// The first error of the walk, as `std::fs::remove_dir_all`.
pub async fn remove_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    cstr(path.as_ref())?;
    let path = path.as_ref().to_path_buf();
    blocking(move || std::fs::remove_dir_all(path)).await
}

async fn unlink(path: &Path, flags: i32) -> io::Result<()> {
    let cpath = cstr(path)?;
    if on_ring(abi::IORING_OP_UNLINKAT) {
        return Op::new(UnlinkAt { path: cpath, flags }).await;
    }
    let path = path.to_path_buf();
    blocking(move || {
        if flags & libc::AT_REMOVEDIR != 0 {
            std::fs::remove_dir(path)
        } else {
            std::fs::remove_file(path)
        }
    })
    .await
}

/// Creates a directory (mode 0o777 less the umask).
///
/// # Errors
/// `mkdir(2)`'s errno: `AlreadyExists`, `NotFound` when the parent is missing.
pub async fn create_dir(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref();
    let cpath = cstr(path)?;
    if on_ring(abi::IORING_OP_MKDIRAT) {
        return Op::new(MkdirAt {
            path: cpath,
            mode: 0o777,
        })
        .await;
    }
    let path = path.to_path_buf();
    blocking(move || std::fs::create_dir(path)).await
}

/// Creates a directory and any missing parents; a directory that exists already is fine.
///
/// # Errors
/// As [`create_dir`], except `AlreadyExists` for a directory.
pub async fn create_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref();
    // Walk up until a directory exists or can be made, then make the missing ones below it.
    let mut missing = Vec::new();
    let mut next = Some(path);
    while let Some(p) = next {
        if p.as_os_str().is_empty() {
            break;
        }
        match create_dir(p).await {
            Ok(()) => break,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                missing.push(p);
                next = p.parent();
            }
            Err(e) => {
                if is_dir(p).await {
                    break;
                }
                return Err(e);
            }
        }
    }
    for p in missing.into_iter().rev() {
        if let Err(e) = create_dir(p).await
            && !is_dir(p).await
        {
            return Err(e);
        }
    }
    Ok(())
}

async fn is_dir(path: &Path) -> bool {
    metadata(path).await.is_ok_and(|m| m.is_dir())
}

/// Renames `from` to `to`, replacing `to` if it exists (`rename(2)`).
///
/// # Errors
/// `rename(2)`'s errno: `NotFound`, EXDEV across file systems, EISDIR/ENOTDIR for a
/// file/directory mismatch.
pub async fn rename(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<()> {
    let rename = std::fs::rename::<PathBuf, PathBuf>;
    two_paths(from.as_ref(), to.as_ref(), Rename { flags: 0 }, rename).await
}

/// Makes `link` a new name (a hard link) for the file `original`.
///
/// # Errors
/// `link(2)`'s errno: `AlreadyExists`, `NotFound`, EXDEV across file systems.
pub async fn hard_link(original: impl AsRef<Path>, link: impl AsRef<Path>) -> io::Result<()> {
    let hard_link = std::fs::hard_link::<PathBuf, PathBuf>;
    two_paths(
        original.as_ref(),
        link.as_ref(),
        Link { flags: 0 },
        hard_link,
    )
    .await
}

/// [`rename`] and [`hard_link`]: the op `kind` on `from` and `to` where the kernel has it,
/// else `fallback` on the blocking pool.
async fn two_paths<K: TwoPathKind>(
    from: &Path,
    to: &Path,
    kind: K,
    fallback: fn(PathBuf, PathBuf) -> io::Result<()>,
) -> io::Result<()> {
    let (cfrom, cto) = (cstr(from)?, cstr(to)?);
    if on_ring(K::OPCODE) {
        return Op::new(TwoPathsAt {
            from: cfrom,
            to: cto,
            kind,
        })
        .await;
    }
    let (from, to) = (from.to_path_buf(), to.to_path_buf());
    blocking(move || fallback(from, to)).await
}

/// Creates a symbolic link at `link` pointing to `original` (stored as given, so a relative
/// `original` is relative to `link`'s directory).
///
/// # Errors
/// `symlink(2)`'s errno: `AlreadyExists`, `NotFound` for a missing parent of `link`.
pub async fn symlink(original: impl AsRef<Path>, link: impl AsRef<Path>) -> io::Result<()> {
    let (original, link) = (original.as_ref(), link.as_ref());
    let (target, clink) = (cstr(original)?, cstr(link)?);
    if on_ring(abi::IORING_OP_SYMLINKAT) {
        return Op::new(SymlinkAt {
            target,
            link: clink,
        })
        .await;
    }
    let (original, link) = (original.to_path_buf(), link.to_path_buf());
    blocking(move || std::os::unix::fs::symlink(original, link)).await
}

/// Metadata of `path`, following symbolic links (`statx(2)`).
///
/// # Errors
/// `statx(2)`'s errno: `NotFound`, `PermissionDenied` on a directory on the way.
pub async fn metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    stat(path.as_ref(), 0).await
}

/// Metadata of `path` itself, a symbolic link not followed (`AT_SYMLINK_NOFOLLOW`).
///
/// # Errors
/// As [`metadata`].
pub async fn symlink_metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    stat(path.as_ref(), libc::AT_SYMLINK_NOFOLLOW).await
}

async fn stat(path: &Path, flags: i32) -> io::Result<Metadata> {
    let cpath = cstr(path)?;
    if on_ring(abi::IORING_OP_STATX) {
        return Op::new(Statx::path(cpath, flags, STATX_MASK)).await;
    }
    let path = path.to_path_buf();
    blocking(move || {
        let m = if flags & libc::AT_SYMLINK_NOFOLLOW != 0 {
            std::fs::symlink_metadata(path)
        } else {
            std::fs::metadata(path)
        };
        m.map(|m| Metadata::from_std(&m))
    })
    .await
}

/// The absolute path with every symbolic link, `.` and `..` resolved (on the blocking pool:
/// no io_uring op resolves paths).
///
/// # Errors
/// `realpath(3)`'s errno: `NotFound` when a component is missing.
pub async fn canonicalize(path: impl AsRef<Path>) -> io::Result<PathBuf> {
    let path = path.as_ref();
    cstr(path)?;
    let path = path.to_path_buf();
    blocking(move || std::fs::canonicalize(path)).await
}

/// Copies the contents and permission bits of the file `from` to `to` (created or
/// truncated); returns the bytes copied. Like [`std::fs::copy`].
///
/// The data moves as `std::fs::copy` moves it, by `copy_file_range(2)` (in the kernel, no copy
/// through user space; a reflink where the filesystem shares extents), on the blocking pool:
/// no io_uring op does that. (`std::io::copy` falls back to `sendfile`, `splice` or reads and
/// writes where the kernel refuses, e.g. across filesystems before 5.19.) A file open only in
/// the fixed table has no fd for it: then the bytes move through a pipe with
/// `IORING_OP_SPLICE` where the kernel can make the pipe on the ring (`IORING_OP_PIPE`,
/// 6.16+), else by reads and writes through this core's pooled 1 MiB buffers.
///
/// # Cancel safety
/// A dropped copy stops within one step (16 MiB in the kernel, 1 MiB through the ring); the
/// destination keeps what was copied until then.
///
/// # Errors
/// `InvalidInput` when `from` is not a regular file; the errors of opening, reading and
/// writing.
pub async fn copy(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<u64> {
    let src = File::open(from).await?;
    let meta = src.metadata().await?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the source path is not a regular file",
        ));
    }
    let dst = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(meta.mode() & 0o7777)
        .open(to)
        .await?;
    // The mode given at creation lost the umask's bits, and an existing file kept its own:
    // set them as std does, on the blocking pool (no io_uring op), while the data moves.
    let chmod = dst.as_fd().map(|fd| fd.try_clone_to_owned()).transpose()?;
    let perms = meta.permissions();
    let chmod = runtime::spawn_blocking(move || match chmod {
        Some(fd) => std::fs::File::from(fd).set_permissions(perms),
        None => Ok(()),
    });
    let copied = match copy_in_kernel(&src, &dst).await {
        Ok(Some(n)) => Ok(n),
        Ok(None) => copy_on_ring(&src, &dst).await,
        Err(e) => Err(e),
    };
    let chmod = chmod.await;
    let copied = copied?;
    chmod??;
    src.close().await?;
    dst.close().await?;
    Ok(copied)
}

/// Bytes per copy step.
const COPY_CHUNK: usize = 1 << 20;

/// Bytes one step of the in-kernel copy moves: a dropped copy stops after the step it is in.
const KERNEL_COPY_STEP: u64 = 16 << 20;

/// Copies as `std::fs::copy` does, on the blocking pool: `std::io::copy` between two files
/// is `copy_file_range(2)` (falling back to `sendfile`, `splice`, then reads and writes where
/// the kernel refuses), from both files' start. `Ok(None)`: a file has no process fd (open
/// only in the fixed table), so the caller moves the bytes through the ring.
///
/// It goes in steps of [`KERNEL_COPY_STEP`], and stops between two when the future is
/// dropped: the pool's thread does not write the destination long after a cancelled copy.
async fn copy_in_kernel(src: &File, dst: &File) -> io::Result<Option<u64>> {
    let (Some(src), Some(dst)) = (src.as_fd(), dst.as_fd()) else {
        return Ok(None);
    };
    let src = std::fs::File::from(src.try_clone_to_owned()?);
    let dst = std::fs::File::from(dst.try_clone_to_owned()?);
    let stop = StopOnDrop(Arc::new(AtomicBool::new(false)));
    let stopped = stop.0.clone();
    let copied = blocking(move || {
        // The clones share the files' positions, which our `File`s do not use (every op
        // names its offset): both start at 0, as `open` left them, and each step goes on
        // from where the last one left them.
        let mut total = 0;
        while !stopped.load(Ordering::Relaxed) {
            let n = std::io::copy(&mut (&src).take(KERNEL_COPY_STEP), &mut &dst)?;
            total += n;
            if n < KERNEL_COPY_STEP {
                return Ok(Some(total));
            }
        }
        Err(io::Error::new(
            io::ErrorKind::Interrupted,
            "the copy was dropped",
        ))
    })
    .await;
    drop(stop);
    copied
}

/// Sets its flag when dropped: tells a blocking job that its future is gone.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Moves the bytes through the ring: splice through a pipe where the kernel makes pipes on
/// the ring, else reads and writes.
async fn copy_on_ring(src: &File, dst: &File) -> io::Result<u64> {
    let splice = runtime::op_supported(abi::IORING_OP_PIPE) == Some(true)
        && runtime::op_supported(abi::IORING_OP_SPLICE) == Some(true);
    if splice {
        copy_splice(src, dst).await
    } else {
        copy_read_write(src, dst).await
    }
}

thread_local! {
    /// This core's copy buffers, kept for the next copy.
    static COPY_BUFFERS: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

async fn copy_read_write(src: &File, dst: &File) -> io::Result<u64> {
    let mut buf = COPY_BUFFERS
        .with(|p| p.borrow_mut().pop())
        .unwrap_or_else(|| Vec::with_capacity(COPY_CHUNK));
    let mut pos = 0u64;
    let result = loop {
        buf.clear();
        let (res, b) = src.read_at(buf, pos).await;
        buf = b;
        let n = match res {
            Ok(0) => break Ok(pos),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => break Err(e),
        };
        let (res, b) = dst.write_all_at(buf, pos).await;
        buf = b;
        if let Err(e) = res {
            break Err(e);
        }
        pos += n as u64;
    };
    COPY_BUFFERS.with(|p| {
        let mut pool = p.borrow_mut();
        if pool.len() < 4 {
            pool.push(buf);
        }
    });
    result
}

async fn copy_splice(src: &File, dst: &File) -> io::Result<u64> {
    let (r, w) = Op::new(Pipe {
        fds: Box::new([-1, -1]),
    })
    .await?;
    let (r, w) = (SharedFd::new(r), SharedFd::new(w));
    let mut pos = 0u64;
    loop {
        let n = Op::new(Splice {
            fd_in: src.shared_fd(),
            off_in: pos as i64,
            fd_out: w.clone(),
            off_out: -1,
            len: COPY_CHUNK as u32,
        })
        .await?;
        if n == 0 {
            return Ok(pos);
        }
        let mut moved = 0;
        while moved < n {
            let m = Op::new(Splice {
                fd_in: r.clone(),
                off_in: -1,
                fd_out: dst.shared_fd(),
                off_out: (pos + moved as u64) as i64,
                len: (n - moved) as u32,
            })
            .await?;
            if m == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "splice into the destination moved nothing",
                ));
            }
            moved += m;
        }
        pos += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The read/write path of `copy` (kernels without IORING_OP_PIPE), `copy_file_range`, and
    /// the splice path all move every byte.
    #[test]
    fn every_copy_path_moves_every_byte() {
        runtime::Runtime::new().unwrap().block_on(async {
            let tmp = std::env::temp_dir();
            let id = std::process::id();
            let src = tmp.join(format!("fs-unit-copy-src-{id}"));
            let dst = tmp.join(format!("fs-unit-copy-dst-{id}"));
            let data: Vec<u8> = (0..(3 << 20) + 5).map(|i: u32| (i % 253) as u8).collect();
            std::fs::write(&src, &data).unwrap();
            let s = File::open(&src).await.unwrap();
            let d = File::create(&dst).await.unwrap();
            assert_eq!(copy_read_write(&s, &d).await.unwrap(), data.len() as u64);
            assert_eq!(std::fs::read(&dst).unwrap(), data);
            let d = File::create(&dst).await.unwrap();
            let len = data.len() as u64;
            assert_eq!(copy_in_kernel(&s, &d).await.unwrap(), Some(len));
            assert_eq!(std::fs::read(&dst).unwrap(), data);
            if runtime::op_supported(abi::IORING_OP_PIPE) == Some(true) {
                let d = File::create(&dst).await.unwrap();
                assert_eq!(copy_splice(&s, &d).await.unwrap(), data.len() as u64);
                assert_eq!(std::fs::read(&dst).unwrap(), data);
            }
            let _ = std::fs::remove_file(&src);
            let _ = std::fs::remove_file(&dst);
        });
    }
}
