//! [`Metadata`] (from `statx(2)`), [`FileType`], and the O_DIRECT alignment a file reports.

use std::fmt;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, SystemTime};

use crate::aligned::DioAlignment;

/// What `statx` asks for: the basic stats, the birth time and the O_DIRECT alignment.
/// (`STATX_DIOALIGN` is 6.1+; older kernels leave it out of the returned mask.)
pub(crate) const STATX_MASK: u32 =
    libc::STATX_BASIC_STATS | libc::STATX_BTIME | libc::STATX_DIOALIGN;

/// A timestamp as statx gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Time {
    sec: i64,
    nsec: u32,
}

impl Time {
    fn to_system_time(self) -> SystemTime {
        let nanos = Duration::from_nanos(u64::from(self.nsec));
        if self.sec >= 0 {
            SystemTime::UNIX_EPOCH + Duration::from_secs(self.sec as u64) + nanos
        } else {
            SystemTime::UNIX_EPOCH - Duration::from_secs(self.sec.unsigned_abs()) + nanos
        }
    }
}

/// Metadata of a file, like [`std::fs::Metadata`]: from `statx(2)` on the ring, or from
/// `std::fs` where the kernel lacks `IORING_OP_STATX`.
///
/// # Examples
/// ```
/// runtime::Runtime::new()?.block_on(async {
///     let m = fs::metadata("/proc").await?;
///     assert!(m.is_dir());
///     assert!(m.modified().is_ok());
///     Ok::<_, std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Metadata {
    mode: u32,
    len: u64,
    ino: u64,
    dev: u64,
    nlink: u64,
    uid: u32,
    gid: u32,
    blksize: u64,
    blocks: u64,
    accessed: Option<Time>,
    modified: Option<Time>,
    changed: Option<Time>,
    created: Option<Time>,
    dio: Option<DioAlignment>,
}

impl Metadata {
    pub(crate) fn from_statx(s: &libc::statx) -> Metadata {
        let has = |bit: u32| s.stx_mask & bit != 0;
        let time = |bit: u32, t: &libc::statx_timestamp| {
            has(bit).then_some(Time {
                sec: t.tv_sec,
                nsec: t.tv_nsec,
            })
        };
        // A zero alignment means the file does not do O_DIRECT at all.
        let dio = (has(libc::STATX_DIOALIGN) && s.stx_dio_mem_align != 0).then_some(DioAlignment {
            memory: s.stx_dio_mem_align,
            offset: s.stx_dio_offset_align,
        });
        Metadata {
            mode: u32::from(s.stx_mode),
            len: s.stx_size,
            ino: s.stx_ino,
            dev: libc::makedev(s.stx_dev_major, s.stx_dev_minor),
            nlink: u64::from(s.stx_nlink),
            uid: s.stx_uid,
            gid: s.stx_gid,
            blksize: u64::from(s.stx_blksize),
            blocks: s.stx_blocks,
            accessed: time(libc::STATX_ATIME, &s.stx_atime),
            modified: time(libc::STATX_MTIME, &s.stx_mtime),
            changed: time(libc::STATX_CTIME, &s.stx_ctime),
            created: time(libc::STATX_BTIME, &s.stx_btime),
            dio,
        }
    }

    /// From `std::fs` (the blocking-pool fallback).
    pub(crate) fn from_std(m: &std::fs::Metadata) -> Metadata {
        use std::os::unix::fs::MetadataExt;
        let t = |sec: i64, nsec: i64| {
            Some(Time {
                sec,
                nsec: nsec as u32,
            })
        };
        Metadata {
            mode: m.mode(),
            len: m.len(),
            ino: m.ino(),
            dev: m.dev(),
            nlink: m.nlink(),
            uid: m.uid(),
            gid: m.gid(),
            blksize: m.blksize(),
            blocks: m.blocks(),
            accessed: t(m.atime(), m.atime_nsec()),
            modified: t(m.mtime(), m.mtime_nsec()),
            changed: t(m.ctime(), m.ctime_nsec()),
            created: m.created().ok().and_then(|c| {
                let d = c.duration_since(SystemTime::UNIX_EPOCH).ok()?;
                t(d.as_secs() as i64, i64::from(d.subsec_nanos()))
            }),
            dio: None,
        }
    }

    /// Size in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the size is 0.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The file's type.
    pub fn file_type(&self) -> FileType {
        FileType(self.mode & libc::S_IFMT)
    }

    /// A directory?
    pub fn is_dir(&self) -> bool {
        self.file_type().is_dir()
    }

    /// A regular file?
    pub fn is_file(&self) -> bool {
        self.file_type().is_file()
    }

    /// A symbolic link (only from [`symlink_metadata`](crate::symlink_metadata))?
    pub fn is_symlink(&self) -> bool {
        self.file_type().is_symlink()
    }

    /// The permission bits, as std's type (use with `std::os::unix::fs::PermissionsExt`).
    pub fn permissions(&self) -> std::fs::Permissions {
        std::fs::Permissions::from_mode(self.mode & 0o7777)
    }

    /// `st_mode`: type and permission bits.
    pub fn mode(&self) -> u32 {
        self.mode
    }

    /// Last modification.
    ///
    /// # Errors
    /// `Unsupported` when the file system does not record it.
    pub fn modified(&self) -> io::Result<SystemTime> {
        stamp(self.modified, "modification")
    }

    /// Last access.
    ///
    /// # Errors
    /// `Unsupported` when the file system does not record it.
    pub fn accessed(&self) -> io::Result<SystemTime> {
        stamp(self.accessed, "access")
    }

    /// Creation (statx birth time).
    ///
    /// # Errors
    /// `Unsupported` when the file system does not record it.
    pub fn created(&self) -> io::Result<SystemTime> {
        stamp(self.created, "creation")
    }

    /// Last status change (`ctime`).
    ///
    /// # Errors
    /// `Unsupported` when the file system does not record it.
    pub fn changed(&self) -> io::Result<SystemTime> {
        stamp(self.changed, "status change")
    }

    /// Inode number.
    pub fn ino(&self) -> u64 {
        self.ino
    }

    /// Device of the file system.
    pub fn dev(&self) -> u64 {
        self.dev
    }

    /// Hard links.
    pub fn nlink(&self) -> u64 {
        self.nlink
    }

    /// Owner.
    pub fn uid(&self) -> u32 {
        self.uid
    }

    /// Group.
    pub fn gid(&self) -> u32 {
        self.gid
    }

    /// Preferred I/O block size.
    pub fn blksize(&self) -> u64 {
        self.blksize
    }

    /// 512-byte blocks allocated (less than `len / 512` for a sparse file).
    pub fn blocks(&self) -> u64 {
        self.blocks
    }

    /// The O_DIRECT alignment (statx `STATX_DIOALIGN`, Linux 6.1+), or `None` when the kernel
    /// or the file system does not tell (or the file does not do O_DIRECT).
    pub fn dio_alignment(&self) -> Option<DioAlignment> {
        self.dio
    }
}

fn stamp(t: Option<Time>, what: &str) -> io::Result<SystemTime> {
    t.map(Time::to_system_time).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::Unsupported,
            format!("this file system does not record the {what} time"),
        )
    })
}

impl fmt::Debug for Metadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metadata")
            .field("file_type", &self.file_type())
            .field("len", &self.len)
            .field("mode", &format_args!("{:#o}", self.mode & 0o7777))
            .field("modified", &self.modified().ok())
            .field("dio_alignment", &self.dio)
            .finish_non_exhaustive()
    }
}

/// A file's type, from its mode bits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileType(u32);

impl FileType {
    pub(crate) fn from_std(t: std::fs::FileType) -> FileType {
        use std::os::unix::fs::FileTypeExt;
        let mode = if t.is_file() {
            libc::S_IFREG
        } else if t.is_dir() {
            libc::S_IFDIR
        } else if t.is_symlink() {
            libc::S_IFLNK
        } else if t.is_block_device() {
            libc::S_IFBLK
        } else if t.is_char_device() {
            libc::S_IFCHR
        } else if t.is_fifo() {
            libc::S_IFIFO
        } else if t.is_socket() {
            libc::S_IFSOCK
        } else {
            0
        };
        FileType(mode)
    }

    /// A directory?
    pub fn is_dir(&self) -> bool {
        self.0 == libc::S_IFDIR
    }

    /// A regular file?
    pub fn is_file(&self) -> bool {
        self.0 == libc::S_IFREG
    }

    /// A symbolic link?
    pub fn is_symlink(&self) -> bool {
        self.0 == libc::S_IFLNK
    }

    /// A block device?
    pub fn is_block_device(&self) -> bool {
        self.0 == libc::S_IFBLK
    }

    /// A character device?
    pub fn is_char_device(&self) -> bool {
        self.0 == libc::S_IFCHR
    }

    /// A FIFO?
    pub fn is_fifo(&self) -> bool {
        self.0 == libc::S_IFIFO
    }

    /// A Unix socket?
    pub fn is_socket(&self) -> bool {
        self.0 == libc::S_IFSOCK
    }
}

impl fmt::Debug for FileType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.0 {
            libc::S_IFREG => "file",
            libc::S_IFDIR => "dir",
            libc::S_IFLNK => "symlink",
            libc::S_IFBLK => "block device",
            libc::S_IFCHR => "char device",
            libc::S_IFIFO => "fifo",
            libc::S_IFSOCK => "socket",
            _ => "unknown",
        };
        f.write_str(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_times_are_before_the_epoch() {
        let t = Time {
            sec: -2,
            nsec: 500_000_000,
        };
        assert_eq!(
            SystemTime::UNIX_EPOCH
                .duration_since(t.to_system_time())
                .unwrap(),
            Duration::from_millis(1500)
        );
    }

    #[test]
    fn std_metadata_converts() {
        let m = Metadata::from_std(&std::fs::metadata("/").unwrap());
        assert!(m.is_dir());
        assert!(m.modified().is_ok());
    }
}
