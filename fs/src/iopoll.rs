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
use std::os::fd::AsRawFd;

use runtime::buf::{BufResult, IoBuf, IoBufMut};
use uring_sys::{Ring, Sqe, prep};

use crate::aligned::{AlignedBuf, DioAlignment};
use crate::file::File;

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

/// A ring of its own with `IORING_SETUP_IOPOLL`, for polled O_DIRECT transfers; see the
/// module docs. Each call blocks the calling thread (polling) until its transfer completes,
/// microseconds on a device that polls.
#[derive(Debug)]
pub struct IopollRing {
    ring: Ring,
    /// Set when the ring failed with a transfer possibly in flight: it is not used again.
    broken: bool,
}

impl IopollRing {
    /// A polled ring with `entries` SQ entries.
    ///
    /// # Errors
    /// The ring setup's error (see `uring_sys::SetupError`).
    pub fn new(entries: u32) -> io::Result<IopollRing> {
        let ring = Ring::builder(entries).iopoll(true).build()?;
        Ok(IopollRing {
            ring,
            broken: false,
        })
    }

    /// Reads `buf.len()` bytes at `pos` of `file` (opened with `O_DIRECT`), polling for the
    /// completion; returns how many were read.
    ///
    /// # Errors
    /// `Unsupported` where the device cannot poll; `InvalidInput` for a file without
    /// `O_DIRECT` or a file in the runtime's fixed table, or a misaligned length or offset;
    /// the read's errno.
    pub fn read_at(
        &mut self,
        file: &File,
        mut buf: AlignedBuf,
        pos: u64,
    ) -> BufResult<usize, AlignedBuf> {
        let len = buf.bytes_total();
        let ptr = buf.stable_mut_ptr();
        self.transfer(file, buf, pos, "read_at", |fd| {
            prep::prep_read(fd, ptr, len as u32, pos)
        })
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
        let len = buf.bytes_init();
        let ptr = buf.stable_ptr();
        self.transfer(file, buf, pos, "write_at", |fd| {
            prep::prep_write(fd, ptr, len as u32, pos)
        })
    }

    fn transfer(
        &mut self,
        file: &File,
        buf: AlignedBuf,
        pos: u64,
        what: &str,
        sqe: impl FnOnce(i32) -> Sqe,
    ) -> BufResult<usize, AlignedBuf> {
        let checked = (|| {
            if self.broken {
                return Err(io::Error::other(
                    "this IopollRing failed earlier with a transfer in flight; make a new one",
                ));
            }
            let Some(align) = file.dio_alignment() else {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("IopollRing::{what}: polled I/O needs a file opened with O_DIRECT"),
                ));
            };
            align.check(what, buf.stable_ptr() as usize, buf.bytes_total(), pos)?;
            if buf.bytes_total() > crate::file::MAX_RW {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "IopollRing::{what}: at most {} bytes per transfer",
                        crate::file::MAX_RW
                    ),
                ));
            }
            file.as_fd().map(|fd| fd.as_raw_fd()).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "IopollRing::{what}: the file is in the runtime's fixed file table and \
                         has no fd this ring can use"
                    ),
                )
            })
        })();
        let fd = match checked {
            Ok(fd) => fd,
            Err(e) => return (Err(e), buf),
        };
        let sqe = sqe(fd).user_data(1);
        // SAFETY: the SQE points into `buf`, which this function owns and does not return
        // (or free) until the CQE is reaped below; on a ring failure with the transfer
        // possibly in flight it is leaked instead. `fd` is open: `file` is borrowed for the
        // whole call. Nothing else is in this ring's SQ (each call reaps its own CQE).
        if unsafe { self.ring.sq().push(&sqe) }.is_err() {
            return (Err(io::Error::other("the IOPOLL ring's SQ is full")), buf);
        }
        let mut submitted = false;
        loop {
            if let Some(cqe) = self.ring.cq().pop() {
                let res = cqe.res();
                let result = if res == -libc::EOPNOTSUPP {
                    Err(not_pollable())
                } else {
                    cqe.result().map(|n| n as usize)
                };
                return (result, buf);
            }
            match self.ring.submit_and_wait(1) {
                Ok(n) => submitted |= n > 0,
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::EINTR | libc::EAGAIN | libc::EBUSY)
                    ) => {}
                Err(e) if !submitted && self.ring.sq().len() == 1 => {
                    // Never submitted: drop the ring (with the SQE still in it) so it can never
                    // reach the kernel; the buffer is free.
                    self.broken = true;
                    if let Ok(fresh) = Ring::builder(2).iopoll(true).build() {
                        self.ring = fresh;
                        self.broken = false;
                    }
                    return (Err(e), buf);
                }
                Err(e) => {
                    self.broken = true;
                    let align = buf.align();
                    std::mem::forget(buf);
                    return (Err(e), AlignedBuf::new(0, align));
                }
            }
        }
    }
}

fn not_pollable() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "this file's device does not support polled I/O (IORING_SETUP_IOPOLL: EOPNOTSUPP): \
         IOPOLL needs O_DIRECT on a block device with poll queues, such as NVMe loaded with \
         nvme.poll_queues=N; virtio-blk, loop devices and most cloud disks have none. Use the \
         runtime's ordinary ring (File::read_at) instead",
    )
}
