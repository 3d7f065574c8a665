//! [`OpenOptions`]: how to open a file, like [`std::fs::OpenOptions`] with Unix's `mode` and
//! `custom_flags`, plus opening straight into the core's fixed file table.

use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;

use runtime::fd::SharedFd;
use runtime::op::Op;
use uring_sys::abi;

use crate::aligned::DioAlignment;
use crate::file::File;
use crate::metadata::STATX_MASK;
use crate::op::open::{OpenAt, Opened};
use crate::op::statx::Statx;
use crate::util::{blocking, cstr, on_ring};

/// Options for opening a file: access (`read`, `write`, `append`), creation (`create`,
/// `create_new`, `truncate`), Unix `mode` and `custom_flags` (`O_DIRECT`, `O_NOATIME`, …),
/// and [`OpenOptions::direct_descriptor`]. Opens with `IORING_OP_OPENAT`; files are always
/// `O_CLOEXEC`.
///
/// # Examples
/// ```
/// use fs::OpenOptions;
///
/// runtime::Runtime::new()?.block_on(async {
///     let path = std::env::temp_dir().join(format!("fs-doc-options-{}", std::process::id()));
///     let file = OpenOptions::new().write(true).create(true).mode(0o600).open(&path).await?;
///     file.write_all_at(b"hello".as_slice(), 0).await.0?;
///     file.close().await?;
///     fs::remove_file(&path).await
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct OpenOptions {
    read: bool,
    write: bool,
    append: bool,
    truncate: bool,
    create: bool,
    create_new: bool,
    mode: u32,
    custom_flags: i32,
    direct_descriptor: bool,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl OpenOptions {
    /// All options off; `mode` 0o666 (less the umask) for created files.
    pub fn new() -> OpenOptions {
        OpenOptions {
            read: false,
            write: false,
            append: false,
            truncate: false,
            create: false,
            create_new: false,
            mode: 0o666,
            custom_flags: 0,
            direct_descriptor: false,
        }
    }

    /// Open for reading.
    pub fn read(&mut self, on: bool) -> &mut Self {
        self.read = on;
        self
    }

    /// Open for writing.
    pub fn write(&mut self, on: bool) -> &mut Self {
        self.write = on;
        self
    }

    /// Writes go to the end of the file (`O_APPEND`), whatever offset they name.
    pub fn append(&mut self, on: bool) -> &mut Self {
        self.append = on;
        self
    }

    /// Truncate to 0 bytes on open (needs `write`).
    pub fn truncate(&mut self, on: bool) -> &mut Self {
        self.truncate = on;
        self
    }

    /// Create the file if missing (needs `write` or `append`).
    pub fn create(&mut self, on: bool) -> &mut Self {
        self.create = on;
        self
    }

    /// Create the file, failing with `AlreadyExists` if it exists (`O_CREAT | O_EXCL`).
    pub fn create_new(&mut self, on: bool) -> &mut Self {
        self.create_new = on;
        self
    }

    /// Permission bits for a created file (less the umask); default 0o666.
    pub fn mode(&mut self, mode: u32) -> &mut Self {
        self.mode = mode;
        self
    }

    /// Extra `open(2)` flags, e.g. `libc::O_DIRECT` (then reads and writes are checked
    /// against the file's [`DioAlignment`]); the access mode bits are ignored.
    pub fn custom_flags(&mut self, flags: i32) -> &mut Self {
        self.custom_flags = flags;
        self
    }

    /// Opens straight into the current core's fixed file table (a "direct descriptor",
    /// `file_index`, Linux 5.15+): the file gets no process fd, and every op names its slot
    /// (`IOSQE_FIXED_FILE`). The file belongs to this core. Ops that need an fd
    /// ([`File::metadata`], the blocking-pool fallbacks) then fail with `Unsupported`.
    pub fn direct_descriptor(&mut self, on: bool) -> &mut Self {
        self.direct_descriptor = on;
        self
    }

    /// The `open(2)` flags these options make, as std computes them.
    fn flags(&self) -> io::Result<i32> {
        let invalid = |why: &str| Err(io::Error::new(io::ErrorKind::InvalidInput, why.to_string()));
        let access = match (self.read, self.write, self.append) {
            (true, false, false) => libc::O_RDONLY,
            (false, true, false) => libc::O_WRONLY,
            (true, true, false) => libc::O_RDWR,
            (false, _, true) => libc::O_WRONLY | libc::O_APPEND,
            (true, _, true) => libc::O_RDWR | libc::O_APPEND,
            (false, false, false) => {
                return invalid("no access mode: set read, write or append");
            }
        };
        if !self.write && !self.append && (self.truncate || self.create || self.create_new) {
            return invalid("truncate, create and create_new need write or append");
        }
        if self.append && self.truncate && !self.create_new {
            return invalid("append and truncate together make no sense");
        }
        let creation = match (self.create, self.truncate, self.create_new) {
            (_, _, true) => libc::O_CREAT | libc::O_EXCL,
            (false, false, false) => 0,
            (true, false, false) => libc::O_CREAT,
            (false, true, false) => libc::O_TRUNC,
            (true, true, false) => libc::O_CREAT | libc::O_TRUNC,
        };
        Ok(access | creation | (self.custom_flags & !libc::O_ACCMODE) | libc::O_CLOEXEC)
    }

    /// Opens `path` with these options.
    ///
    /// # Errors
    /// `InvalidInput` for contradictory options or a path with a NUL byte; otherwise
    /// `openat(2)`'s errno: `NotFound`, `PermissionDenied`, `AlreadyExists` (`create_new`),
    /// EISDIR for a directory opened for writing, EINVAL for `O_DIRECT` where the file system
    /// has no direct I/O. With [`OpenOptions::direct_descriptor`], the fixed file table's
    /// errors as well (full, or not available).
    pub async fn open(&self, path: impl AsRef<Path>) -> io::Result<File> {
        let path = path.as_ref();
        let flags = self.flags()?;
        let cpath = cstr(path)?;
        let fd = if self.direct_descriptor {
            let slot = runtime::fixed_files::reserve()?;
            match Op::new(OpenAt {
                path: cpath.clone(),
                // A direct descriptor is no process fd: the kernel refuses O_CLOEXEC on it.
                flags: flags & !libc::O_CLOEXEC,
                mode: self.mode,
                slot: Some(slot),
            })
            .await?
            {
                Opened::Fixed(slot) => SharedFd::from_fixed(slot),
                Opened::Fd(fd) => SharedFd::new(fd),
            }
        } else if on_ring(abi::IORING_OP_OPENAT) {
            match Op::new(OpenAt {
                path: cpath.clone(),
                flags,
                mode: self.mode,
                slot: None,
            })
            .await?
            {
                Opened::Fd(fd) => SharedFd::new(fd),
                Opened::Fixed(slot) => SharedFd::from_fixed(slot),
            }
        } else {
            let (path, o) = (path.to_path_buf(), self.clone());
            let fd: OwnedFd = blocking(move || {
                use std::os::unix::fs::OpenOptionsExt;
                std::fs::OpenOptions::new()
                    .read(o.read)
                    .write(o.write)
                    .append(o.append)
                    .truncate(o.truncate)
                    .create(o.create)
                    .create_new(o.create_new)
                    .custom_flags(o.custom_flags)
                    .mode(o.mode)
                    .open(path)
                    .map(OwnedFd::from)
            })
            .await?;
            SharedFd::new(fd)
        };
        let dio = if flags & libc::O_DIRECT != 0 {
            // The alignment comes from the open fd, or from the path for a file in the fixed
            // table (STATX takes no fixed file).
            let stx = match fd.fd() {
                Some(_) => Statx::fd(fd.clone(), STATX_MASK),
                None => Statx::path(cpath, 0, STATX_MASK),
            };
            let align = Op::new(stx).await.ok().and_then(|m| m.dio_alignment());
            Some(align.unwrap_or(DioAlignment::DEFAULT))
        } else {
            None
        };
        Ok(File::new(fd, dio))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_follow_std() {
        let o = |f: &dyn Fn(&mut OpenOptions)| {
            let mut o = OpenOptions::new();
            f(&mut o);
            o.flags()
        };
        assert_eq!(
            o(&|o| {
                o.read(true);
            })
            .unwrap(),
            libc::O_RDONLY | libc::O_CLOEXEC
        );
        assert_eq!(
            o(&|o| {
                o.write(true).create(true).truncate(true);
            })
            .unwrap(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC
        );
        assert_eq!(
            o(&|o| {
                o.append(true).create_new(true);
            })
            .unwrap(),
            libc::O_WRONLY | libc::O_APPEND | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC
        );
        assert!(o(&|_| {}).is_err());
        assert!(
            o(&|o| {
                o.read(true).create(true);
            })
            .is_err()
        );
        let direct = o(&|o| {
            o.read(true).custom_flags(libc::O_DIRECT | libc::O_WRONLY);
        })
        .unwrap();
        assert_eq!(direct & libc::O_ACCMODE, libc::O_RDONLY);
        assert_ne!(direct & libc::O_DIRECT, 0);
    }
}
