//! `cat`: files to stdout through io_uring. Each file is read with [`File::read_at`] in
//! chunks and each chunk written to the output with [`File::write_all`], which writes at the
//! output's own position and advances it like `write(2)` (io_uring's offset -1), so output
//! appended to a redirected file, a pipe or a terminal all behave as with the shell's `cat`.
//! Standard input (`-`), which has no offsets, is read with [`File::read`] the same way.
//!
//! Standard output becomes a [`File`] through a duplicate of its fd (no unsafe code:
//! [`std::os::fd::AsFd::as_fd`] and `try_clone_to_owned`).
//!
//! # Examples
//! ```
//! runtime::Runtime::new()?.block_on(async {
//!     let report = examples::cat::demo().await?;
//!     assert!(report.contains("verified"));
//!     Ok::<_, std::io::Error>(())
//! })?;
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use fs::File;

use crate::file_server::{remove_dir_all, temp_dir};

/// Bytes per read.
pub const CHUNK: usize = 128 * 1024;

/// Standard output (or any fd-backed std handle) as a [`File`] of its own: a duplicate of
/// its fd, so closing it leaves the original open.
///
/// # Errors
/// `dup(2)`'s error.
pub fn file_from(handle: impl AsFd) -> io::Result<File> {
    Ok(File::from(handle.as_fd().try_clone_to_owned()?))
}

/// Standard output as a [`File`] (see [`file_from`]).
///
/// # Errors
/// `dup(2)`'s error.
pub fn stdout() -> io::Result<File> {
    file_from(io::stdout())
}

/// Copies the file at `path` (`-`: standard input, read at its current position) to `out`,
/// `CHUNK` bytes at a time with one reused buffer; returns the bytes copied.
///
/// # Errors
/// Opening or reading `path` (the error names it), or writing `out`.
pub async fn cat_one(path: &Path, out: &File) -> io::Result<u64> {
    let named = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", path.display()));
    let (input, positional) = if path == Path::new("-") {
        (file_from(io::stdin())?, false)
    } else {
        (File::open(path).await.map_err(named)?, true)
    };
    let mut buf = Vec::with_capacity(CHUNK);
    let mut pos = 0u64;
    loop {
        buf.clear();
        let (res, b) = if positional {
            input.read_at(buf, pos).await
        } else {
            input.read(buf).await
        };
        buf = b;
        let n = match res {
            Ok(0) => return Ok(pos),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(named(e)),
        };
        let (res, b) = out.write_all(buf).await;
        buf = b;
        res?;
        pos += n as u64;
    }
}

/// Copies each of `paths` to `out` in order (like `cat a b c`); returns the bytes copied.
///
/// # Errors
/// The first file that fails; earlier files were written.
pub async fn cat(paths: &[PathBuf], out: &File) -> io::Result<u64> {
    let mut total = 0;
    for p in paths {
        total += cat_one(p, out).await?;
    }
    Ok(total)
}

/// The self-test of `cat --demo`: writes three files (one empty, one larger than a chunk),
/// writes a header line to a fourth and cats the three after it (at its current position),
/// and checks it holds the header and their concatenation; then checks that a missing file is an error naming it. Returns a report.
///
/// # Errors
/// I/O errors; `InvalidData` when the output differs.
pub async fn demo() -> io::Result<String> {
    let dir = temp_dir("cat").await?;
    let result = async {
        let parts: [Vec<u8>; 3] = [
            b"first file\n".to_vec(),
            Vec::new(),
            (0..CHUNK * 2 + 7).map(|i| (i % 241) as u8).collect(),
        ];
        let mut paths = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            let p = dir.join(format!("part{i}"));
            fs::write(&p, part.clone()).await?;
            paths.push(p);
        }
        let out_path = dir.join("out");
        let out = File::create(&out_path).await?;
        // The writes go on from the file's position, which this first one advances.
        out.write_all(b"header\n".as_slice()).await.0?;
        let copied = cat(&paths, &out).await?;
        out.close().await?;

        let mut expected = b"header\n".to_vec();
        parts.iter().for_each(|p| expected.extend_from_slice(p));
        if fs::read(&out_path).await? != expected || copied != expected.len() as u64 - 7 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the output is not the concatenation of the inputs",
            ));
        }
        let missing = dir.join("missing");
        match cat(std::slice::from_ref(&missing), &stdout()?).await {
            Err(e) if e.kind() == io::ErrorKind::NotFound && e.to_string().contains("missing") => {}
            other => {
                return Err(io::Error::other(format!(
                    "cat of a missing file gave {other:?}"
                )));
            }
        }
        Ok(copied)
    }
    .await;
    remove_dir_all(dir).await?;
    Ok(format!(
        "cat: {} bytes from 3 files copied and verified",
        result?
    ))
}
