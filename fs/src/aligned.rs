//! O_DIRECT: [`AlignedBuf`], a buffer at the alignment direct I/O needs, and
//! [`DioAlignment`], what a file needs (statx `STATX_DIOALIGN`, else 4096).
//!
//! With `O_DIRECT` the kernel moves data between the device and the buffer without the page
//! cache, so the buffer address, the length and the file offset must be multiples of what the
//! file system and device accept. Getting it wrong gives a bare EINVAL; this crate checks
//! first and says which one is off and by how much.

use std::io;
use std::ops::{Deref, DerefMut};

use runtime::buf::{IoBuf, IoBufMut};

/// The alignment O_DIRECT I/O on a file needs, in bytes (powers of two).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DioAlignment {
    /// Of the buffer's address in memory (`stx_dio_mem_align`).
    pub memory: u32,
    /// Of the file offset and the length (`stx_dio_offset_align`).
    pub offset: u32,
}

impl DioAlignment {
    /// What is assumed where statx does not tell (before Linux 6.1, or a file system that
    /// does not report it): 4096 for both, which every device accepts.
    pub const DEFAULT: DioAlignment = DioAlignment {
        memory: 4096,
        offset: 4096,
    };

    /// Checks one O_DIRECT transfer; the error names the operation, what is misaligned, and
    /// the alignment wanted.
    pub(crate) fn check(self, what: &str, addr: usize, len: usize, offset: u64) -> io::Result<()> {
        let (mem, off) = (self.memory.max(1) as usize, self.offset.max(1) as u64);
        let problem = if addr % mem != 0 {
            format!(
                "the buffer address {addr:#x} is not a multiple of {mem} bytes (the file's \
                 memory alignment); use fs::AlignedBuf::for_file"
            )
        } else if len as u64 % off != 0 {
            format!(
                "the length {len} is not a multiple of {off} bytes (the file's offset \
                 alignment)"
            )
        } else if offset % off != 0 {
            format!(
                "the file offset {offset} is not a multiple of {off} bytes (the file's offset \
                 alignment)"
            )
        } else {
            return Ok(());
        };
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("O_DIRECT {what}: {problem} (alignment from statx STATX_DIOALIGN, or 4096)"),
        ))
    }
}

/// A zeroed byte buffer whose start is aligned to `align` bytes, for O_DIRECT reads and
/// writes. Its length is fixed; it reads as `[u8]` (`Deref`), and ops take it by value like
/// any owned buffer.
///
/// # Examples
/// ```
/// let mut buf = fs::AlignedBuf::new(8192, 4096);
/// assert_eq!(buf.as_ptr() as usize % 4096, 0);
/// buf[..5].copy_from_slice(b"hello");
/// assert_eq!(buf.len(), 8192);
/// ```
pub struct AlignedBuf {
    /// `len + align` bytes, so that an aligned start with `len` bytes after it fits.
    storage: Vec<u8>,
    start: usize,
    len: usize,
    align: usize,
}

impl AlignedBuf {
    /// `len` zero bytes starting at a multiple of `align`.
    ///
    /// # Panics
    /// If `align` is not a power of two.
    pub fn new(len: usize, align: usize) -> AlignedBuf {
        assert!(
            align.is_power_of_two(),
            "alignment {align} is not a power of two"
        );
        let storage = vec![0u8; len + align];
        let addr = storage.as_ptr() as usize;
        let start = (align - addr % align) % align;
        AlignedBuf {
            storage,
            start,
            len,
            align,
        }
    }

    /// `len` zero bytes at the memory alignment `file`'s O_DIRECT I/O needs (4096 when the
    /// file was not opened with O_DIRECT).
    pub fn for_file(file: &crate::File, len: usize) -> AlignedBuf {
        let align = file.dio_alignment().unwrap_or(DioAlignment::DEFAULT);
        AlignedBuf::new(len, align.memory.max(1) as usize)
    }

    /// The alignment of the start.
    pub fn align(&self) -> usize {
        self.align
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.storage[self.start..self.start + self.len]
    }

    /// The bytes, writable.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.storage[self.start..self.start + self.len]
    }
}

impl Deref for AlignedBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl DerefMut for AlignedBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.as_mut_slice()
    }
}

impl std::fmt::Debug for AlignedBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlignedBuf")
            .field("len", &self.len)
            .field("align", &self.align)
            .finish()
    }
}

// SAFETY: the bytes live in `storage`'s heap block, which never reallocates (its length is
// fixed at creation) and does not move when the AlignedBuf moves; `start + len` is within it.
// All of it is initialized (zeroed at creation).
unsafe impl IoBuf for AlignedBuf {
    fn stable_ptr(&self) -> *const u8 {
        self.as_slice().as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len
    }
    fn bytes_total(&self) -> usize {
        self.len
    }
}

// SAFETY: as for IoBuf; the same memory, writable through `&mut self`.
unsafe impl IoBufMut for AlignedBuf {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_slice().as_mut_ptr()
    }
    unsafe fn set_init(&mut self, _: usize) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_start_aligned() {
        for align in [1, 512, 4096, 65536] {
            let b = AlignedBuf::new(100, align);
            assert_eq!(b.as_ptr() as usize % align, 0);
            assert_eq!(b.len(), 100);
        }
    }

    #[test]
    fn misalignment_says_which_and_how_much() {
        let a = DioAlignment {
            memory: 512,
            offset: 4096,
        };
        assert!(a.check("read_at", 4096, 8192, 4096).is_ok());
        let e = a.check("read_at", 4097, 8192, 0).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(e.to_string().contains("buffer address 0x1001"), "{e}");
        assert!(e.to_string().contains("512"), "{e}");
        let e = a.check("write_at", 4096, 100, 0).unwrap_err();
        assert!(e.to_string().contains("length 100"), "{e}");
        assert!(e.to_string().contains("4096"), "{e}");
        let e = a.check("write_at", 4096, 4096, 512).unwrap_err();
        assert!(e.to_string().contains("file offset 512"), "{e}");
    }
}
