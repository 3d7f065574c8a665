//! Part 4, a file walker: the files, directories and bytes under a directory, with
//! `read_dir` and `DirEntry::metadata` as `tokio::fs` has them.
//!
//! The tokio original:
//!
//! ```text
//! use tokio::fs;
//!
//! pub async fn walk(root: impl Into<PathBuf>) -> io::Result<Totals> {
//!     let mut totals = Totals::default();
//!     let mut dirs = vec![root.into()];
//!     while let Some(dir) = dirs.pop() {
//!         let mut entries = fs::read_dir(&dir).await?;
//!         while let Some(entry) = entries.next_entry().await? {
//!             let meta = entry.metadata().await?;
//!             if meta.is_dir() {
//!                 totals.dirs += 1;
//!                 dirs.push(entry.path());
//!             } else if meta.is_file() {
//!                 totals.files += 1;
//!                 totals.bytes += meta.len();
//!             }
//!         }
//!     }
//!     Ok(totals)
//! }
//! ```
//!
//! What changed, line for line:
//!
//! ```text
//! - use tokio::fs;                                  + use ringloop::fs;
//! ```
//!
//! A stack of directories rather than a recursive `async fn`, in both: an `async fn` that
//! calls itself needs `Box::pin` under any runtime. As tokio's, `DirEntry::metadata` does
//! not follow symbolic links, so a link is counted as neither and never walked into.

use std::io;
use std::path::{Path, PathBuf};

use ringloop::fs;

/// What [`walk`] counted (the root itself is not counted).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    /// Regular files.
    pub files: u64,
    /// Directories below the root.
    pub dirs: u64,
    /// The regular files' sizes, summed.
    pub bytes: u64,
}

/// Walks the tree under `root`.
///
/// # Errors
/// The first `read_dir` or `metadata` error (a directory that cannot be read, an entry
/// removed meanwhile).
pub async fn walk(root: impl Into<PathBuf>) -> io::Result<Totals> {
    let mut totals = Totals::default();
    let mut dirs = vec![root.into()];
    while let Some(dir) = dirs.pop() {
        let mut entries = fs::read_dir(&dir).await?;
        while let Some(entry) = entries.next_entry().await? {
            let meta = entry.metadata().await?;
            if meta.is_dir() {
                totals.dirs += 1;
                dirs.push(entry.path());
            } else if meta.is_file() {
                totals.files += 1;
                totals.bytes += meta.len();
            }
        }
    }
    Ok(totals)
}

/// The same count with `std::fs`, blocking: what the demo checks [`walk`] against.
///
/// # Errors
/// As [`walk`].
pub fn walk_std(root: &Path) -> io::Result<Totals> {
    let mut totals = Totals::default();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let meta = entry.metadata()?;
            if meta.is_dir() {
                totals.dirs += 1;
                dirs.push(entry.path());
            } else if meta.is_file() {
                totals.files += 1;
                totals.bytes += meta.len();
            }
        }
    }
    Ok(totals)
}
