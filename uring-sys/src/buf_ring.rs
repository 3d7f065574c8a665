//! Provided-buffer rings (`IORING_REGISTER_PBUF_RING`, 5.19): the kernel picks a buffer from
//! the ring for each recv/read that asks for group `group`, and names it in the CQE.

use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU16, Ordering};

use crate::abi::{self, io_uring_buf, io_uring_buf_reg};
use crate::mmap::Mmap;
use crate::{Ring, syscall};

/// A registered ring of buffer descriptors for buffer group `group`.
///
/// The ring holds descriptors only: the memory they point to belongs to the caller, which
/// keeps it alive while the kernel may write to it (see [`BufRing::push`]). Dropping a
/// `BufRing` does not unregister the group: the kernel reads the descriptors through pages it
/// pinned at registration, so it may still hand out the buffers published here until
/// [`Ring::unregister_buf_ring`].
#[derive(Debug)]
pub struct BufRing {
    mem: Mmap,
    entries: u16,
    group: u16,
    /// Our tail; the kernel sees entries up to it after [`BufRing::publish`].
    tail: u16,
}

impl BufRing {
    fn bufs(&self) -> *mut io_uring_buf {
        self.mem.as_ptr().cast()
    }

    fn shared_tail(&self) -> &AtomicU16 {
        // SAFETY: the tail is the u16 at byte 14 of the ring (io_uring_buf_ring.tail, which
        // overlays bufs[0].resv), inside our mapping and 2-aligned; the kernel only reads it.
        unsafe { &*self.mem.as_ptr().add(14).cast::<AtomicU16>() }
    }

    /// A buffer ring of `entries` descriptors (a power of two) for group `group` that is
    /// registered with no kernel: for the user-space side of a `Ring::user_space`, which
    /// reads the descriptors at [`Self::as_ptr`].
    ///
    /// # Errors
    /// `InvalidInput` for a size that is not a power of two; `mmap(2)`'s errno.
    pub fn user_space(entries: u16, group: u16) -> io::Result<BufRing> {
        check_entries(entries)?;
        let mem = Mmap::anonymous(entries as usize * size_of::<io_uring_buf>())?;
        Ok(BufRing {
            mem,
            entries,
            group,
            tail: 0,
        })
    }

    /// The descriptors (`struct io_uring_buf_ring`): the tail the producer publishes is the
    /// `u16` at byte 14, the entries are `io_uring_buf`s.
    pub fn as_ptr(&self) -> *const io_uring_buf {
        self.bufs()
    }

    /// The buffer group id.
    pub fn group(&self) -> u16 {
        self.group
    }

    /// The number of descriptor slots (a power of two).
    pub fn entries(&self) -> u16 {
        self.entries
    }

    /// Adds buffer `bid` (`len` bytes at `addr`) at the tail; the kernel sees it after
    /// [`Self::publish`].
    ///
    /// # Safety
    /// `addr..addr+len` must stay valid and not be read or written by anyone else until the
    /// kernel returns the buffer in a CQE (`IORING_CQE_F_BUFFER` with this `bid`). Where no
    /// CQE returns it: until the group is unregistered with [`Ring::unregister_buf_ring`] and
    /// every op that could have selected it has completed (an op that took the buffer keeps
    /// writing it after the unregister; dropping this `BufRing` unregisters nothing, and
    /// dropping the `Ring` only later, asynchronously). At most `entries` buffers may be in
    /// the ring at once.
    pub unsafe fn push(&mut self, addr: *mut u8, len: u32, bid: u16) {
        let index = self.tail & (self.entries - 1);
        // SAFETY: index < entries, so the slot is inside the mapping; the kernel only reads
        // slots before the published tail, and this one is past it. Writing the whole entry
        // would clobber the shared tail in slot 0, so fields are written one by one.
        unsafe {
            let slot = self.bufs().add(index as usize);
            (&raw mut (*slot).addr).write(addr as u64);
            (&raw mut (*slot).len).write(len);
            (&raw mut (*slot).bid).write(bid);
        }
        self.tail = self.tail.wrapping_add(1);
    }

    /// Makes the pushed buffers visible to the kernel: a Release store of the tail, so the
    /// kernel's Acquire load sees the descriptors written before it.
    pub fn publish(&mut self) {
        self.shared_tail().store(self.tail, Ordering::Release);
    }
}

impl Ring {
    /// Creates and registers a buffer ring of `entries` descriptors (a power of two, at most
    /// 32768) for group `group`, in memory we map (5.19).
    ///
    /// # Errors
    /// EINVAL before 5.19 (use `prep_provide_buffers` there), for a bad size, or for a group
    /// already in use.
    pub fn setup_buf_ring(&self, entries: u16, group: u16) -> io::Result<BufRing> {
        check_entries(entries)?;
        let mem = Mmap::anonymous(entries as usize * size_of::<io_uring_buf>())?;
        let reg = io_uring_buf_reg {
            ring_addr: mem.as_ptr() as u64,
            ring_entries: entries as u32,
            bgid: group,
            ..Default::default()
        };
        // SAFETY: reg is valid for the call and points to `mem`, which the returned BufRing
        // owns. The kernel pins mem's pages and reads them through its own mapping, never our
        // address, so a BufRing dropped while registered leaves it nothing freed to read.
        unsafe {
            syscall::register(
                self.as_raw_fd(),
                abi::IORING_REGISTER_PBUF_RING,
                (&reg as *const io_uring_buf_reg).cast(),
                1,
            )?;
        }
        Ok(BufRing {
            mem,
            entries,
            group,
            tail: 0,
        })
    }

    /// Unregisters buffer group `group`'s ring.
    ///
    /// # Errors
    /// ENOENT when no such ring is registered.
    pub fn unregister_buf_ring(&self, group: u16) -> io::Result<()> {
        let reg = io_uring_buf_reg {
            bgid: group,
            ..Default::default()
        };
        // SAFETY: reg is valid for the call.
        unsafe {
            syscall::register(
                self.as_raw_fd(),
                abi::IORING_UNREGISTER_PBUF_RING,
                (&reg as *const io_uring_buf_reg).cast(),
                1,
            )
        }
        .map(drop)
    }
}

fn check_entries(entries: u16) -> io::Result<()> {
    if entries.is_power_of_two() {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("buffer ring entries must be a power of two, got {entries}"),
        ))
    }
}
