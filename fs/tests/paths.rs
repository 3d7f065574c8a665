//! Path functions: whole-file read/write, directories, renames and links, metadata,
//! canonicalize, read_dir and copy.

mod support;

use std::collections::BTreeSet;
use std::io;
use std::os::unix::fs::PermissionsExt;

use support::TempPath;

#[runtime::test]
async fn write_read_and_read_to_string_round_trip() {
    let path = TempPath::new("whole");
    fs::write(&path, b"first".as_slice()).await.unwrap();
    fs::write(&path, "second, shorter? no, longer".as_bytes().to_vec())
        .await
        .unwrap();
    assert_eq!(
        fs::read_to_string(&path).await.unwrap(),
        "second, shorter? no, longer"
    );
    fs::write(&path, vec![0xff, 0xfe]).await.unwrap();
    assert_eq!(fs::read(&path).await.unwrap(), [0xff, 0xfe]);
    let e = fs::read_to_string(&path).await.unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidData);
}

#[runtime::test]
async fn read_of_an_empty_and_a_large_file() {
    let path = TempPath::new("sizes");
    fs::write(&path, Vec::new()).await.unwrap();
    assert!(fs::read(&path).await.unwrap().is_empty());
    let big: Vec<u8> = (0..3_000_000u32).map(|i| i as u8).collect();
    fs::write(&path, big.clone()).await.unwrap();
    assert_eq!(fs::read(&path).await.unwrap(), big);
}

#[runtime::test]
async fn directories_are_created_and_removed() {
    let root = TempPath::new("dirs");
    fs::create_dir(&root).await.unwrap();
    let e = fs::create_dir(&root).await.unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);

    let deep = root.join("a/b/c");
    fs::create_dir_all(&deep).await.unwrap();
    fs::create_dir_all(&deep).await.unwrap();
    assert!(fs::metadata(&deep).await.unwrap().is_dir());

    let e = fs::remove_dir(root.join("a")).await.unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::ENOTEMPTY));
    fs::remove_dir(&deep).await.unwrap();
    fs::remove_dir(root.join("a/b")).await.unwrap();
    assert_eq!(
        fs::metadata(&deep).await.unwrap_err().kind(),
        io::ErrorKind::NotFound
    );

    // create_dir_all over a file fails.
    fs::write(root.join("file"), Vec::new()).await.unwrap();
    assert!(fs::create_dir_all(root.join("file/sub")).await.is_err());
}

#[runtime::test]
async fn remove_file_removes_and_reports_missing() {
    let path = TempPath::new("remove");
    fs::write(&path, b"x".as_slice()).await.unwrap();
    fs::remove_file(&path).await.unwrap();
    let e = fs::remove_file(&path).await.unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::NotFound);
}

#[runtime::test]
async fn rename_moves_and_replaces() {
    let dir = TempPath::new("rename");
    fs::create_dir(&dir).await.unwrap();
    let (a, b) = (dir.join("a"), dir.join("b"));
    fs::write(&a, b"A".as_slice()).await.unwrap();
    fs::write(&b, b"B".as_slice()).await.unwrap();
    fs::rename(&a, &b).await.unwrap();
    assert_eq!(fs::read(&b).await.unwrap(), b"A");
    assert_eq!(
        fs::metadata(&a).await.unwrap_err().kind(),
        io::ErrorKind::NotFound
    );
}

#[runtime::test]
async fn links_and_symlink_metadata() {
    let dir = TempPath::new("links");
    fs::create_dir(&dir).await.unwrap();
    let (file, hard, soft) = (dir.join("file"), dir.join("hard"), dir.join("soft"));
    fs::write(&file, b"linked".as_slice()).await.unwrap();
    fs::hard_link(&file, &hard).await.unwrap();
    assert_eq!(fs::metadata(&file).await.unwrap().nlink(), 2);
    fs::symlink("file", &soft).await.unwrap();
    assert_eq!(fs::read(&soft).await.unwrap(), b"linked");
    assert!(fs::metadata(&soft).await.unwrap().is_file());
    let link = fs::symlink_metadata(&soft).await.unwrap();
    assert!(link.is_symlink() && link.file_type().is_symlink());
    assert_eq!(
        fs::canonicalize(&soft).await.unwrap(),
        std::fs::canonicalize(&file).unwrap()
    );
    let e = fs::symlink("file", &soft).await.unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
}

#[runtime::test]
async fn read_dir_lists_every_entry_with_its_type() {
    let dir = TempPath::new("list");
    fs::create_dir(&dir).await.unwrap();
    // More than one batch of the blocking pool.
    for i in 0..150 {
        fs::write(dir.join(&format!("f{i}")), Vec::new())
            .await
            .unwrap();
    }
    fs::create_dir(dir.join("sub")).await.unwrap();
    let mut entries = fs::read_dir(&dir).await.unwrap();
    let mut names = BTreeSet::new();
    while let Some(e) = entries.next_entry().await.unwrap() {
        let name = e.file_name().into_string().unwrap();
        let is_dir = e.file_type().unwrap().is_dir();
        assert_eq!(is_dir, name == "sub");
        assert_eq!(e.path(), dir.join(&name));
        assert_eq!(e.metadata().await.unwrap().is_dir(), is_dir);
        names.insert(name);
    }
    assert_eq!(names.len(), 151);
    assert!(entries.next_entry().await.unwrap().is_none());

    let e = fs::read_dir(dir.join("f0")).await.unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::ENOTDIR));
}

#[runtime::test]
async fn read_dir_is_a_stream() {
    use std::future::poll_fn;
    use std::pin::Pin;

    use futures_core::Stream;
    let dir = TempPath::new("stream");
    fs::create_dir(&dir).await.unwrap();
    fs::write(dir.join("only"), Vec::new()).await.unwrap();
    let mut entries = fs::read_dir(&dir).await.unwrap();
    let first = poll_fn(|cx| Pin::new(&mut entries).poll_next(cx)).await;
    assert_eq!(first.unwrap().unwrap().file_name(), "only");
    assert!(
        poll_fn(|cx| Pin::new(&mut entries).poll_next(cx))
            .await
            .is_none()
    );
}

#[runtime::test]
async fn copy_copies_contents_and_permissions() {
    let dir = TempPath::new("copy");
    fs::create_dir(&dir).await.unwrap();
    let (src, dst) = (dir.join("src"), dir.join("dst"));
    let data: Vec<u8> = (0..(3 << 20) + 123).map(|i: u32| (i % 251) as u8).collect();
    fs::write(&src, data.clone()).await.unwrap();
    std::fs::set_permissions(&src, std::fs::Permissions::from_mode(0o751)).unwrap();
    // An existing, longer destination is truncated.
    fs::write(&dst, vec![9u8; 5 << 20]).await.unwrap();
    assert_eq!(fs::copy(&src, &dst).await.unwrap(), data.len() as u64);
    assert_eq!(fs::read(&dst).await.unwrap(), data);
    let mode = fs::metadata(&dst).await.unwrap().permissions().mode();
    assert_eq!(mode & 0o7777, 0o751);

    let e = fs::copy(&dir, dir.join("x")).await.unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
}

#[runtime::test]
async fn remove_dir_all_removes_a_tree() {
    let root = std::env::temp_dir().join(format!("fs-rmtree-{}", std::process::id()));
    fs::create_dir_all(root.join("a/b/c")).await.unwrap();
    fs::write(root.join("a/b/c/f"), b"x".to_vec())
        .await
        .unwrap();
    fs::write(root.join("a/g"), b"y".to_vec()).await.unwrap();
    fs::remove_dir_all(&root).await.unwrap();
    assert!(!root.exists());
    let missing = fs::remove_dir_all(&root).await.unwrap_err();
    assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
}

/// A sparse file larger than the address space: `fs::read` says so, as std's does, instead
/// of aborting the process on the allocation (which it did before the fix).
#[runtime::test]
async fn read_of_a_file_larger_than_memory_is_an_error() {
    let path = TempPath::new_in(std::path::Path::new("/dev/shm"), "sparse");
    let file = std::fs::File::create(&path).unwrap();
    // 1 PiB: past the 128 TiB of a process's address space, whatever the overcommit policy.
    if let Err(e) = file.set_len(1 << 50) {
        panic!("this test needs a filesystem with 1 PiB sparse files (tmpfs): {e}");
    }
    let e = fs::read(&path).await.unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::OutOfMemory, "{e}");
    assert!(e.to_string().contains("1125899906842624 bytes"), "{e}");
}

/// A copy dropped while the bytes move stops: the destination stops growing short of the
/// source. Before the fix the blocking pool's `std::io::copy` went on to the end, writing
/// the destination behind the back of a caller who had given the copy up. (A try whose copy
/// was within one step of the end when dropped tells nothing, and is made again.)
#[runtime::test]
async fn a_dropped_copy_stops_writing_the_destination() {
    const LEN: u64 = 256 << 20;
    const STEP: u64 = 16 << 20;
    let dir = TempPath::new_in(std::path::Path::new("/dev/shm"), "copy-drop");
    fs::create_dir(&dir).await.unwrap();
    let (src, dst) = (dir.join("src"), dir.join("dst"));
    std::fs::File::create(&src)
        .and_then(|f| std::io::Write::write_all(&mut &f, &vec![0x77u8; LEN as usize]))
        .unwrap();
    let size = || std::fs::metadata(&dst).map_or(0, |m| m.len());
    for _ in 0..10 {
        let _ = std::fs::remove_file(&dst);
        let copy = runtime::spawn(fs::copy(src.clone(), dst.clone()));
        // Dropped once bytes are moving.
        while size() == 0 && !copy.is_finished() {
            runtime::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        copy.abort();
        let at_drop = size();
        // Settles: the same size 200 ms apart.
        let mut last = u64::MAX;
        loop {
            runtime::time::sleep(std::time::Duration::from_millis(200)).await;
            let now = size();
            if now == last {
                break;
            }
            last = now;
        }
        if at_drop + 2 * STEP >= LEN {
            continue;
        }
        assert!(
            last < LEN,
            "the dropped copy (at {at_drop} bytes) wrote all {LEN}"
        );
        return;
    }
    panic!("every copy was near its end when dropped: nothing was checked");
}
