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

// ---- Helpers of the soundness tests (tests/soundness.rs) ----

/// Writes `msg` straight to fd 2, past the test harness's output capture, so it survives a
/// process abort (the watchdog's, or heap corruption's).
pub fn say(msg: &str) {
    use std::io::Write;
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(msg.as_bytes());
    let _ = err.write_all(b"\n");
    let _ = err.flush();
}

/// Aborts the process with a message (to fd 2) unless dropped within its limit: a hang
/// becomes a failure that names the test.
pub struct Watchdog {
    done: Option<std::sync::mpsc::Sender<()>>,
}

/// Starts a [`Watchdog`] for the test `name`.
pub fn watchdog(name: &'static str, limit: std::time::Duration) -> Watchdog {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
            say(&format!(
                "test {name} still running after {limit:?}: it hangs; aborting"
            ));
            std::process::abort();
        }
    });
    Watchdog { done: Some(tx) }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.done.take();
    }
}

/// Runs the tests of one binary one at a time (they look at the process's fds).
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// What `/proc/self/fd/FD` links to, if `fd` is open.
pub fn fd_target(fd: i32) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/self/fd/{fd}")).ok()
}
