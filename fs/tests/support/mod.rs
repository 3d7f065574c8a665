//! Helpers shared by the integration tests: unique temporary paths removed on drop.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A unique path under the temp dir, removed (file or tree) when dropped.
pub struct TempPath(PathBuf);

impl TempPath {
    /// `<tmp>/fs-test-<pid>-<n>-<name>`; nothing is created.
    pub fn new(name: &str) -> TempPath {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        TempPath(std::env::temp_dir().join(format!("fs-test-{}-{n}-{name}", std::process::id())))
    }

    /// Like [`TempPath::new`] but under `dir` when it is a writable directory.
    pub fn new_in(dir: &Path, name: &str) -> TempPath {
        let mut p = TempPath::new(name);
        let probe = dir.join(format!(".fs-test-probe-{}", std::process::id()));
        if std::fs::write(&probe, b"").is_ok() {
            let _ = std::fs::remove_file(&probe);
            p.0 = dir.join(p.0.file_name().expect("a file name"));
        }
        p
    }

    /// A path inside this one (for a directory).
    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl std::ops::Deref for TempPath {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for TempPath {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0).or_else(|_| std::fs::remove_file(&self.0));
    }
}

/// Whether this process runs as root (the owner of /proc/self is our effective uid).
pub fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}
