//! Polled O_DIRECT I/O ([`IopollRing`], `IORING_SETUP_IOPOLL`): the caller's thread polls
//! the device for completions instead of waiting for an interrupt, which cuts latency on
//! NVMe devices set up with poll queues (`nvme.poll_queues=N`).
//!
//! The runtime's own rings are not IOPOLL rings: an IOPOLL ring takes only O_DIRECT reads and
//! writes on devices that poll, so the core's wake-up read, its timeouts and MSG_RING could
//! not run on it. An [`IopollRing`] is a small ring of its own, used synchronously: each call
//! submits one transfer and polls until it completes, on the calling thread.
//!
//! Where the device cannot poll (virtio-blk without poll queues, loop devices, most cloud
//! disks) the kernel fails the transfer with EOPNOTSUPP; this module turns that into an
//! `Unsupported` error that says so. [`check`] asks once for a file.

use std::io;

use runtime::buf::{BufResult, IoBuf};
use runtime::iopoll::PolledRing;

use crate::aligned::{AlignedBuf, DioAlignment};
use crate::file::File;
use crate::op::rw::{At, Direction, Read, RwAt, Write};
use crate::op::{ByFd, MAX_RW};

/// Whether `file` (opened with `O_DIRECT`) can do polled I/O: reads its first block on an
/// [`IopollRing`].
///
/// # Errors
/// `Unsupported` with an explanation where the device cannot poll; `InvalidInput` for a
/// file not opened with `O_DIRECT`; the ring's setup error.
///
/// # Examples
/// ```
/// use fs::{File, iopoll};
///
/// runtime::Runtime::new()?.block_on(async {
///     let path = std::env::temp_dir().join(format!("fs-doc-iopoll-{}", std::process::id()));
///     fs::write(&path, vec![7u8; 4096]).await?;
///     let file = File::options()
///         .read(true)
///         .custom_flags(libc::O_DIRECT)
///         .open(&path)
///         .await?;
///     match iopoll::check(&file) {
///         Ok(()) => println!("polled I/O works here"),
///         Err(e) => println!("no polled I/O: {e}"),
///     }
///     fs::remove_file(&path).await
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn check(file: &File) -> io::Result<()> {
    let align = file.dio_alignment().unwrap_or(DioAlignment::DEFAULT);
    let block = align.offset.max(align.memory).max(512) as usize;
    let buf = AlignedBuf::new(block, align.memory.max(1) as usize);
    IopollRing::new(2)?.read_at(file, buf, 0).0.map(drop)
}

/// A ring of its own with `IORING_SETUP_IOPOLL`, for polled O_DIRECT transfers on a
/// [`File`]: checks the file and the alignment, then runs the read or write op on a
/// [`runtime::iopoll::PolledRing`]. Each call blocks the calling thread (polling) until its
/// transfer completes.
#[derive(Debug)]
pub struct IopollRing {
    ring: PolledRing,
}

impl IopollRing {
    /// A polled ring with `entries` SQ entries.
    ///
    /// # Errors
    /// The ring setup's error (see `uring_sys::SetupError`).
    pub fn new(entries: u32) -> io::Result<IopollRing> {
        Ok(IopollRing {
            ring: PolledRing::new(entries)?,
        })
    }

    /// Reads `buf.len()` bytes at `pos` of `file` (opened with `O_DIRECT`), polling for the
    /// completion; returns how many were read.
    ///
    /// # Errors
    /// `Unsupported` where the device cannot poll; `InvalidInput` for a file without
    /// `O_DIRECT` or a file in the runtime's fixed table, a misaligned length or offset, or
    /// an offset past `i64::MAX`;
    /// the read's errno.
    pub fn read_at(
        &mut self,
        file: &File,
        buf: AlignedBuf,
        pos: u64,
    ) -> BufResult<usize, AlignedBuf> {
        self.transfer::<Read>("read_at", file, buf, pos)
    }

    /// Writes `buf` at `pos` of `file` (opened with `O_DIRECT`), polling for the completion;
    /// returns how many bytes were written.
    ///
    /// # Errors
    /// As [`IopollRing::read_at`].
    pub fn write_at(
        &mut self,
        file: &File,
        buf: AlignedBuf,
        pos: u64,
    ) -> BufResult<usize, AlignedBuf> {
        self.transfer::<Write>("write_at", file, buf, pos)
    }

    /// Checks the transfer, then runs it (a read or write of all of `buf`'s `D::room` bytes)
    /// on the polled ring;
    /// EOPNOTSUPP (the device cannot poll) becomes an error that says so. A buffer lost with
    /// a failed ring is replaced by an empty one.
    fn transfer<D: Direction<AlignedBuf>>(
        &mut self,
        what: &str,
        file: &File,
        buf: AlignedBuf,
        pos: u64,
    ) -> BufResult<usize, AlignedBuf> {
        let fd = match check_transfer(file, &buf, pos, what) {
            Ok(fd) => fd,
            Err(e) => return (Err(e), buf),
        };
        let align = buf.align();
        let len = D::room(&buf) as u32;
        let op: RwAt<D, _, ByFd> = RwAt::new(fd, buf, None, 0, len, At::Offset(pos));
        match self.ring.run(op) {
            Ok((Err(e), buf)) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => {
                (Err(not_pollable()), buf)
            }
            Ok(done) => done,
            Err(e) => (Err(e), AlignedBuf::new(0, align)),
        }
    }
}

/// The file's handle, named by its fd, once the file and the transfer are fit for polled
/// O_DIRECT I/O.
fn check_transfer(file: &File, buf: &AlignedBuf, pos: u64, what: &str) -> io::Result<ByFd> {
    let Some(align) = file.dio_alignment() else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("IopollRing::{what}: polled I/O needs a file opened with O_DIRECT"),
        ));
    };
    At::Offset(pos).check(what)?;
    align.check(what, buf.stable_ptr() as usize, buf.bytes_total(), pos)?;
    if buf.bytes_total() > MAX_RW {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("IopollRing::{what}: at most {MAX_RW} bytes per transfer"),
        ));
    }
    ByFd::new(file.shared_fd()).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("IopollRing::{what}: the file is in the runtime's fixed file table and has no fd this ring can use"),
        )
    })
}

fn not_pollable() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "this file's device does not support polled I/O (IORING_SETUP_IOPOLL: EOPNOTSUPP): \
         IOPOLL needs O_DIRECT on a block device with poll queues, such as NVMe loaded with \
         nvme.poll_queues=N; virtio-blk, loop devices and most cloud disks have none. Use the \
         runtime's ordinary ring instead",
    )
}
