//! Async files and directories on the io_uring runtime.
//!
//! Every operation is an io_uring op (one per file under `op/`, built on the runtime's public
//! [`Operation`](runtime::op::Operation) API) where the kernel has one, by the runtime's
//! probe, and runs on the runtime's blocking pool where it does not. Like the `net` crate,
//! reads and writes take owned buffers and give them back with the result
//! ([`BufResult`](runtime::buf::BufResult)): the kernel may use a buffer until the op's
//! completion, so a dropped future cancels its op and the buffer and the file stay alive
//! until the kernel is done.
//!
//! # A tour
//! - [`File`]: positional reads and writes (`read_at`, `write_all_at`, vectored `readv_at`,
//!   registered-buffer `read_fixed_at`), `sync_all`, `metadata`, `set_len`, `allocate`,
//!   `advise`, `close`; opened by [`OpenOptions`]. [`FileCursor`] adds a position for code
//!   written against `std::io`.
//! - Paths: [`read`], [`write()`], [`read_to_string`], [`copy`], [`remove_file`],
//!   [`remove_dir`], [`create_dir`], [`create_dir_all`], [`rename`], [`hard_link`],
//!   [`symlink`], [`metadata`], [`symlink_metadata`], [`canonicalize`], [`read_dir`].
//! - O_DIRECT: [`AlignedBuf`] and [`DioAlignment`]; misaligned transfers are refused with an
//!   error that says what and by how much. [`iopoll`] for polled I/O on devices that can.
//! - Registered files: [`File::register`] puts a file in the core's fixed file table;
//!   [`OpenOptions::direct_descriptor`] opens straight into it.
//!
//! ```
//! use fs::File;
//!
//! #[runtime::main]
//! async fn main() -> std::io::Result<()> {
//!     let path = std::env::temp_dir().join(format!("fs-doc-tour-{}", std::process::id()));
//!     fs::write(&path, b"hello, io_uring".as_slice()).await?;
//!
//!     let file = File::open(&path).await?;
//!     let (res, buf) = file.read_at(vec![0u8; 8], 7).await;
//!     assert_eq!(&buf[..res?], b"io_uring");
//!     assert_eq!(file.metadata().await?.len(), 15);
//!     file.close().await?;
//!
//!     fs::remove_file(&path).await
//! }
//! ```
//!
//! # What runs on the blocking pool
//! Directory listing ([`read_dir`]: io_uring has no `getdents`), [`canonicalize`], the
//! permission bits in [`copy`], [`File::set_len`] before Linux 6.9 (no `IORING_OP_FTRUNCATE`),
//! and any other op the probe reports missing (opens, stats, unlink, rename, mkdir, links,
//! fsync) through its `std::fs` equivalent.

mod aligned;
#[cfg(any(feature = "futures-io", feature = "tokio"))]
pub mod compat;
mod cursor;
mod dir;
mod file;
mod functions;
mod io_impls;
pub mod iopoll;
mod metadata;
mod op;
mod open_options;
mod util;

pub use aligned::{AlignedBuf, DioAlignment, aligned_buf_for};
pub use cursor::FileCursor;
pub use dir::{DirEntry, ReadDir, read_dir};
pub use file::{Advice, File};
pub use functions::{
    canonicalize, copy, create_dir, create_dir_all, hard_link, metadata, read, read_to_string,
    remove_dir, remove_dir_all, remove_file, rename, symlink, symlink_metadata, write,
};
pub use metadata::{FileType, Metadata};
pub use open_options::OpenOptions;
pub use runtime::buf::FixedIoBuf;
