//! An owned memory mapping, unmapped on drop.

use std::io;
use std::os::fd::RawFd;
use std::ptr::NonNull;

/// A mapping of `len` bytes; `munmap` on drop.
#[derive(Debug)]
pub struct Mmap {
    addr: NonNull<u8>,
    len: usize,
}

impl Mmap {
    /// Maps `len` bytes of the io_uring `fd` at the magic `offset` (`IORING_OFF_*`), shared
    /// and populated, as the kernel's rings are.
    ///
    /// # Errors
    /// `mmap(2)`'s errno.
    pub fn ring(fd: RawFd, len: usize, offset: u64) -> io::Result<Mmap> {
        Self::map(
            len,
            libc::MAP_SHARED | libc::MAP_POPULATE,
            fd,
            offset as libc::off_t,
        )
    }

    /// Maps `len` zeroed anonymous bytes (page aligned), for memory we share with the kernel
    /// ourselves, such as a provided-buffer ring.
    ///
    /// # Errors
    /// `mmap(2)`'s errno.
    pub fn anonymous(len: usize) -> io::Result<Mmap> {
        Self::map(
            len,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
            -1,
            0,
        )
    }

    fn map(len: usize, flags: libc::c_int, fd: RawFd, offset: libc::off_t) -> io::Result<Mmap> {
        // SAFETY: a fresh mapping at an address of the kernel's choosing aliases nothing we own.
        let addr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                fd,
                offset,
            )
        };
        if addr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let addr =
            NonNull::new(addr.cast()).ok_or_else(|| io::Error::other("mmap returned null"))?;
        Ok(Mmap { addr, len })
    }

    /// The first byte of the mapping.
    pub fn as_ptr(&self) -> *mut u8 {
        self.addr.as_ptr()
    }

    /// The mapping's length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the mapping is empty (never, for a successful map).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// A pointer `offset` bytes into the mapping, typed as `T`.
    ///
    /// # Panics
    /// If `offset + size_of::<T>()` lies outside the mapping (an offset the kernel gave us
    /// that does not fit the size it gave us: a broken kernel ABI, never a runtime state).
    pub fn offset<T>(&self, offset: u32) -> *mut T {
        let end = offset as usize + std::mem::size_of::<T>();
        assert!(
            end <= self.len,
            "ring offset {offset} outside mapping of {} bytes",
            self.len
        );
        // SAFETY: checked just above that the result stays inside the mapping.
        unsafe { self.addr.as_ptr().add(offset as usize).cast() }
    }
}

impl Drop for Mmap {
    fn drop(&mut self) {
        // SAFETY: we own this mapping; every pointer into it lives in structs that own (or
        // are dropped before) this Mmap.
        unsafe {
            libc::munmap(self.addr.as_ptr().cast(), self.len);
        }
    }
}
