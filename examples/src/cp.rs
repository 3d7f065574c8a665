//! `cp`: copying a file two ways.
//!
//! - [`fs::copy`]: the library's copy (splice through a pipe where the kernel can make one
//!   on the ring, else reads and writes through pooled buffers; permission bits copied).
//! - [`copy_pipelined`]: the same by hand, to show positional I/O with several ops in
//!   flight: `depth` tasks each own one buffer and claim the next chunk of the file in turn,
//!   so up to `depth` reads and writes overlap, and no buffer is allocated after the start.
//!
//! # Examples
//! ```
//! runtime::Runtime::new()?.block_on(async {
//!     let report = examples::cp::demo().await?;
//!     assert!(report.contains("verified"));
//!     Ok::<_, std::io::Error>(())
//! })?;
//! # Ok::<(), std::io::Error>(())
//! ```

use std::cell::Cell;
use std::io;
use std::path::Path;
use std::rc::Rc;

use fs::File;
use runtime::buf::IoBuf;

use crate::file_server::{remove_dir_all, temp_dir};

/// Chunk size of [`copy_pipelined`] by default.
pub const CHUNK: usize = 256 * 1024;
/// Chunks in flight in [`copy_pipelined`] by default.
pub const DEPTH: usize = 4;

/// Copies the regular file `from` to `to` (created or truncated) with `depth` tasks, each
/// reading a `chunk`-byte piece at its offset and writing it at the same offset in `to`, then
/// claiming the next piece; returns the bytes copied. Permission bits are not copied.
///
/// # Errors
/// `InvalidInput` when `from` is not a regular file; `UnexpectedEof` if it shrinks
/// meanwhile; opening, reading or writing errors.
pub async fn copy_pipelined(from: &Path, to: &Path, depth: usize, chunk: usize) -> io::Result<u64> {
    let src = File::open(from).await?;
    let meta = src.metadata().await?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not a regular file", from.display()),
        ));
    }
    let len = meta.len();
    let (src, dst) = (Rc::new(src), Rc::new(File::create(to).await?));
    let chunk = chunk.max(1);
    let next = Rc::new(Cell::new(0u64));
    let workers: Vec<_> = (0..depth.max(1))
        .map(|_| {
            let (src, dst, next) = (src.clone(), dst.clone(), next.clone());
            runtime::spawn(async move {
                let mut buf = Vec::with_capacity(chunk);
                loop {
                    let pos = next.get();
                    if pos >= len {
                        return Ok::<_, io::Error>(());
                    }
                    next.set(pos + chunk as u64);
                    let want = chunk.min((len - pos) as usize);
                    buf.clear();
                    let (res, slice) = src.read_exact_at(buf.slice(..want), pos).await;
                    buf = slice.into_inner();
                    res?;
                    let (res, b) = dst.write_all_at(buf, pos).await;
                    buf = b;
                    res?;
                }
            })
        })
        .collect();
    let mut result = Ok(len);
    for w in workers {
        if let Err(e) = w.await.map_err(io::Error::from).and_then(|r| r) {
            result = result.and(Err(e));
        }
    }
    // Every worker is done: the files are ours alone again.
    if let (Ok(src), Ok(dst)) = (Rc::try_unwrap(src), Rc::try_unwrap(dst)) {
        src.close().await?;
        dst.close().await?;
    }
    result
}

/// The self-test of `cp --demo`: copies a 3 MiB + 123 byte file with [`fs::copy`] and with
/// [`copy_pipelined`] (and an empty file with both), checks every copy, and returns a
/// report.
///
/// # Errors
/// I/O errors; `InvalidData` when a copy differs.
pub async fn demo() -> io::Result<String> {
    let dir = temp_dir("cp").await?;
    let result = async {
        let data: Vec<u8> = (0..(3 << 20) + 123u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        let src = dir.join("src");
        let empty = dir.join("empty");
        fs::write(&src, data.clone()).await?;
        fs::write(&empty, Vec::new()).await?;
        let mut lines = Vec::new();
        for (from, expected) in [(&src, &data[..]), (&empty, &[][..])] {
            let (a, b) = (dir.join("by-fs-copy"), dir.join("by-hand"));
            let by_copy = fs::copy(from, &a).await?;
            let by_hand = copy_pipelined(from, &b, DEPTH, CHUNK).await?;
            for (path, n) in [(&a, by_copy), (&b, by_hand)] {
                if n != expected.len() as u64 || fs::read(path).await? != expected {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{} differs from its source", path.display()),
                    ));
                }
            }
            lines.push(format!("{by_copy}+{by_hand}"));
        }
        Ok(lines.join(", "))
    }
    .await;
    remove_dir_all(dir).await?;
    Ok(format!(
        "cp: copied {} bytes (fs::copy + pipelined by hand), verified",
        result?
    ))
}
