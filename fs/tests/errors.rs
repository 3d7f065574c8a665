//! Bad input: each failure is an `io::Error` with the errno (or a message that says what is
//! wrong), never a panic or a hang.

mod support;

use std::future::Future;
use std::io;
use std::path::Path;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use fs::{File, OpenOptions};
use support::{TempPath, is_root};

#[runtime::test]
async fn missing_file_is_not_found() {
    let path = TempPath::new("missing");
    let e = File::open(&path).await.unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::NotFound);
    assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
    assert_eq!(
        fs::metadata(&path).await.unwrap_err().kind(),
        io::ErrorKind::NotFound
    );
    assert_eq!(
        fs::read(&path).await.unwrap_err().kind(),
        io::ErrorKind::NotFound
    );
}

#[runtime::test]
async fn a_nul_byte_in_a_path_is_invalid_input_that_says_so() {
    let bad = Path::new("dir/with\0nul");
    let checks = [
        File::open(bad).await.map(drop).unwrap_err(),
        fs::remove_file(bad).await.unwrap_err(),
        fs::create_dir(bad).await.unwrap_err(),
        fs::metadata(bad).await.map(drop).unwrap_err(),
        fs::rename("ok", bad).await.unwrap_err(),
        fs::symlink(bad, "ok").await.unwrap_err(),
        fs::read_dir(bad).await.map(drop).unwrap_err(),
    ];
    for e in checks {
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(e.to_string().contains("NUL byte at offset 8"), "{e}");
    }
}

#[runtime::test]
async fn a_directory_opened_for_writing_is_eisdir() {
    let dir = TempPath::new("dir-write");
    fs::create_dir(&dir).await.unwrap();
    let e = OpenOptions::new().write(true).open(&dir).await.unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EISDIR));
    // Opened read-only, a read says EISDIR too.
    let d = File::open(&dir).await.unwrap();
    let (res, _) = d.read_at(Vec::with_capacity(8), 0).await;
    assert_eq!(res.unwrap_err().raw_os_error(), Some(libc::EISDIR));
}

#[runtime::test]
async fn writing_a_file_opened_read_only_is_ebadf() {
    let path = TempPath::new("ro-fd");
    fs::write(&path, b"x".as_slice()).await.unwrap();
    let file = File::open(&path).await.unwrap();
    let (res, _) = file.write_at(b"y".as_slice(), 0).await;
    assert_eq!(res.unwrap_err().raw_os_error(), Some(libc::EBADF));
    let file = OpenOptions::new().write(true).open(&path).await.unwrap();
    let (res, _) = file.read_at(Vec::with_capacity(1), 0).await;
    assert_eq!(res.unwrap_err().raw_os_error(), Some(libc::EBADF));
}

#[runtime::test]
async fn contradictory_options_are_invalid_input() {
    let path = TempPath::new("opts");
    let e = OpenOptions::new().open(&path).await.unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    let e = OpenOptions::new()
        .read(true)
        .create(true)
        .open(&path)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    fs::write(&path, Vec::new()).await.unwrap();
    let e = File::create_new(&path).await.unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
}

/// Where the child run as `nobody` finds its files.
const PERM_ENV: &str = "FS_TEST_PERMISSION_FILES";

/// As root, DAC checks do not apply: this runs in a child process that is `nobody`. As
/// another user it runs in-process on files it made unreadable.
#[test]
fn permission_denied_for_unreadable_and_read_only_files() {
    let dir = TempPath::new("perm");
    std::fs::create_dir(&dir).unwrap();
    let (secret, read_only) = (dir.join("secret"), dir.join("read-only"));
    std::fs::write(&secret, b"s").unwrap();
    std::fs::write(&read_only, b"r").unwrap();
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path, m| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m));
    mode(&dir, 0o755).unwrap();
    mode(&secret, 0o600).unwrap();
    mode(&read_only, 0o644).unwrap();
    if !is_root() {
        mode(&secret, 0o000).unwrap();
        mode(&read_only, 0o444).unwrap();
        check_permission_denied(&secret, &read_only);
        return;
    }
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(&exe)
        .args([
            "--exact",
            "permission_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(PERM_ENV, dir.as_os_str())
        .uid(65534)
        .gid(65534)
        .output();
    let out = match out {
        Ok(out) => out,
        Err(e) => {
            println!("skipped: could not start a child as nobody (uid 65534): {e}");
            return;
        }
    };
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if log.contains("Permission denied") && !log.contains("permission_child") {
        println!("skipped: nobody cannot run the test binary {exe:?}: {log}");
        return;
    }
    assert!(out.status.success(), "child as nobody failed:\n{log}");
    assert!(
        log.contains("checked as nobody"),
        "the child did not run the check:\n{log}"
    );
}

/// Runs only as the child of the test above (as `nobody`).
#[test]
fn permission_child() {
    let Some(dir) = std::env::var_os(PERM_ENV) else {
        return;
    };
    let dir = Path::new(&dir);
    check_permission_denied(&dir.join("secret"), &dir.join("read-only"));
    println!("checked as nobody");
}

fn check_permission_denied(secret: &Path, read_only: &Path) {
    runtime::Runtime::new().unwrap().block_on(async {
        let e = File::open(secret).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{e}");
        let e = fs::read(secret).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{e}");
        let e = OpenOptions::new()
            .write(true)
            .open(read_only)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{e}");
        assert_eq!(fs::read(read_only).await.unwrap(), b"r");
    });
}

#[runtime::test]
async fn a_full_device_is_storage_full() {
    // /dev/full: every write fails with ENOSPC.
    let full = OpenOptions::new().write(true).open("/dev/full").await;
    match full {
        Ok(file) => {
            let (res, _) = file.write_all_at(vec![1u8; 4096], 0).await;
            let e = res.unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::ENOSPC));
            assert_eq!(e.kind(), io::ErrorKind::StorageFull);
        }
        Err(e) => println!("skipped /dev/full: {e}"),
    }
}

#[runtime::test]
async fn a_full_small_tmpfs_is_storage_full() {
    let dir = TempPath::new("tmpfs");
    fs::create_dir(&dir).await.unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
        .arg(&*dir)
        .output();
    match &mounted {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            println!(
                "skipped: cannot mount a small tmpfs (needs root and CAP_SYS_ADMIN): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return;
        }
        Err(e) => {
            println!("skipped: no mount(8): {e}");
            return;
        }
    }
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let umount = |lazy: bool| {
                let mut c = std::process::Command::new("umount");
                if lazy {
                    c.arg("-l");
                }
                c.arg(self.0).output().is_ok_and(|o| o.status.success())
            };
            if !umount(false) {
                umount(true);
            }
        }
    }
    let _unmount = Unmount(&dir);
    let path = dir.join("big");
    let file = File::create(&path).await.unwrap();
    let (res, _) = file.write_all_at(vec![7u8; 1 << 20], 0).await;
    let e = res.unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::StorageFull, "{e}");
    let e = file.allocate(0, 1 << 20).await.unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::StorageFull, "{e}");
    file.close().await.unwrap();
    let e = fs::write(dir.join("other"), vec![1u8; 1 << 20])
        .await
        .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::StorageFull, "{e}");
    // fs::write's file closes in the background: let that happen before unmounting.
    runtime::time::sleep(std::time::Duration::from_millis(10)).await;
}

#[test]
fn ops_outside_a_runtime_are_an_error_not_a_hang() {
    let file = File::from_std(std::fs::File::open("/proc/self/stat").unwrap());
    let mut read = pin!(file.read_at(Vec::with_capacity(8), 0));
    let mut cx = Context::from_waker(Waker::noop());
    match read.as_mut().poll(&mut cx) {
        Poll::Ready((res, _)) => {
            let e = res.unwrap_err();
            assert!(e.to_string().contains("no io_uring runtime"), "{e}");
        }
        Poll::Pending => panic!("an op outside a runtime must fail at once"),
    }
}
