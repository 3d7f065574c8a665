//! Helpers of the fs calls: paths as C strings, whether the kernel has an op, and the
//! blocking pool for the calls where it has none.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// `path` as the C string the kernel takes.
///
/// # Errors
/// `InvalidInput` naming the path and where its NUL byte is.
pub(crate) fn cstr(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "path {path:?} has a NUL byte at offset {}: paths cannot contain NUL bytes",
                e.nul_position()
            ),
        )
    })
}

/// Whether to use the ring for `opcode`: yes unless the probe says the kernel lacks it.
pub(crate) fn on_ring(opcode: u8) -> bool {
    runtime::op_supported(opcode) != Some(false)
}

/// Runs `f` on the blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    runtime::spawn_blocking(f).await?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_in_a_path_is_named() {
        let e = cstr(Path::new("a\0b")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(e.to_string().contains("NUL byte at offset 1"), "{e}");
    }
}
