//! `File`: positional and vectored I/O, registered buffers and files, sync, metadata,
//! set_len/allocate/advise, close, the cursor, and many tasks on one file.

mod support;

use std::io;
use std::rc::Rc;
use std::time::Duration;

use fs::{Advice, File, FileCursor, OpenOptions};
use runtime::buf::{FixedBufRegistry, IoBuf};
use support::TempPath;

async fn file_with(path: &TempPath, contents: Vec<u8>) -> File {
    fs::write(path, contents).await.unwrap();
    File::options()
        .read(true)
        .write(true)
        .open(path)
        .await
        .unwrap()
}

#[runtime::test]
async fn writes_then_reads_back_at_offsets() {
    let path = TempPath::new("rw");
    let file = File::create_new(&path).await.unwrap();
    let (res, _) = file.write_all_at(b"hello world".as_slice(), 0).await;
    res.unwrap();
    // A write or read may move fewer bytes than asked (as pwrite/pread): loop.
    let (res, _) = file.write_at(b"WORLD".as_slice(), 6).await;
    let n = res.unwrap();
    assert!((1..=5).contains(&n), "wrote {n} of 5");
    file.write_all_at(&b"WORLD"[n..], 6 + n as u64)
        .await
        .0
        .unwrap();

    let (n, buf) = file.read_to_end_at(Vec::new(), 0).await;
    assert_eq!(n.unwrap(), 11);
    assert_eq!(buf, b"hello WORLD");

    let (res, buf) = file.read_exact_at(Vec::with_capacity(5), 6).await;
    res.unwrap();
    assert_eq!(buf, b"WORLD");
    file.close().await.unwrap();
}

#[runtime::test]
async fn read_exact_past_the_end_is_unexpected_eof() {
    let path = TempPath::new("exact");
    let file = file_with(&path, b"short".to_vec()).await;
    let (res, buf) = file.read_exact_at(Vec::with_capacity(10), 0).await;
    assert_eq!(res.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
    assert_eq!(buf, b"short", "the bytes read are kept");
}

#[runtime::test]
async fn vectored_reads_and_writes_fill_buffers_in_order() {
    let path = TempPath::new("vec");
    let file = file_with(&path, Vec::new()).await;
    let bufs = vec![b"abc".to_vec(), b"defgh".to_vec(), b"ij".to_vec()];
    let (n, _) = file.writev_at(bufs, 0).await;
    assert_eq!(n.unwrap(), 10);

    let bufs = vec![
        Vec::with_capacity(4),
        Vec::with_capacity(4),
        Vec::with_capacity(4),
    ];
    let (n, bufs) = file.readv_at(bufs, 0).await;
    assert_eq!(n.unwrap(), 10);
    assert_eq!(bufs, [b"abcd".to_vec(), b"efgh".to_vec(), b"ij".to_vec()]);
}

#[runtime::test]
async fn registered_buffers_read_and_write() {
    let path = TempPath::new("fixed-bufs");
    let file = file_with(&path, vec![0u8; 8192]).await;
    let registry = FixedBufRegistry::new(2, 4096).unwrap();

    let mut out = registry.check_out(0).unwrap();
    out.as_mut_slice().fill(0xab);
    let (n, out) = file.write_fixed_at(out, 4096).await;
    assert_eq!(n.unwrap(), 4096);
    drop(out);

    let input = registry.check_out(1).unwrap();
    let (n, input) = file.read_fixed_at(input, 4096).await;
    assert_eq!(n.unwrap(), 4096);
    assert!(input.as_slice().iter().all(|&b| b == 0xab));

    // A slice of a registered buffer: only its range is read.
    drop(input);
    let part = registry.check_out(1).unwrap().slice(100..200);
    let (n, part) = file.read_fixed_at(part, 0).await;
    // At most the slice's 100 bytes (fewer is a short read, which `pread` may return too).
    let n = n.unwrap();
    assert!(
        (1..=100).contains(&n),
        "read {n} bytes into a 100-byte slice"
    );
    assert_eq!(part.bytes_total(), 100);
}

#[runtime::test]
async fn sync_all_and_sync_data_succeed() {
    let path = TempPath::new("sync");
    let file = file_with(&path, b"data".to_vec()).await;
    file.sync_all().await.unwrap();
    file.sync_data().await.unwrap();
}

#[runtime::test]
async fn metadata_reports_len_type_permissions_and_times() {
    let path = TempPath::new("meta");
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o640)
        .open(&path)
        .await
        .unwrap();
    file.write_all_at(vec![1u8; 1234], 0).await.0.unwrap();
    let m = file.metadata().await.unwrap();
    assert_eq!(m.len(), 1234);
    assert!(m.is_file() && !m.is_dir() && !m.is_symlink());
    use std::os::unix::fs::PermissionsExt;
    // The umask may only remove bits.
    assert_eq!(m.permissions().mode() & !0o640, 0);
    let age = m.modified().unwrap().elapsed().unwrap_or_default();
    assert!(age < Duration::from_secs(60), "modified {age:?} ago");
    assert!(m.accessed().is_ok());
    assert_eq!(m.nlink(), 1);
    let std_meta = std::fs::metadata(&*path).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!((m.ino(), m.dev()), (std_meta.ino(), std_meta.dev()));
}

#[runtime::test]
async fn set_len_truncates_and_extends() {
    let path = TempPath::new("set-len");
    let file = file_with(&path, vec![7u8; 100]).await;
    file.set_len(10).await.unwrap();
    assert_eq!(file.metadata().await.unwrap().len(), 10);
    file.set_len(1 << 20).await.unwrap();
    assert_eq!(file.metadata().await.unwrap().len(), 1 << 20);
    // read_exact: a regular file may return fewer bytes than asked for.
    let (res, buf) = file.read_exact_at(Vec::with_capacity(16), 8).await;
    res.unwrap();
    assert_eq!(buf, [7, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
}

#[runtime::test]
async fn allocate_reserves_blocks_and_advise_is_accepted() {
    let path = TempPath::new("alloc");
    let file = file_with(&path, Vec::new()).await;
    file.allocate(0, 1 << 20).await.unwrap();
    let m = file.metadata().await.unwrap();
    assert_eq!(m.len(), 1 << 20);
    assert!(m.blocks() * 512 >= 1 << 20, "{} blocks", m.blocks());
    for advice in [
        Advice::Sequential,
        Advice::Random,
        Advice::WillNeed,
        Advice::DontNeed,
    ] {
        file.advise(0, 0, advice).await.unwrap();
    }
    // Longer than the SQE's 32-bit length: advised in pieces.
    file.advise(0, 5 << 30, Advice::Normal).await.unwrap();
}

#[runtime::test]
async fn cursor_reads_and_writes_advance_the_position() {
    let path = TempPath::new("cursor");
    let mut c = FileCursor::new(file_with(&path, Vec::new()).await);
    c.write_all(b"abc".as_slice()).await.0.unwrap();
    // `write` and `read` may move fewer bytes than asked for: count what they did.
    let n = c.write(b"def".as_slice()).await.0.unwrap();
    assert!((1..=3).contains(&n), "{n}");
    c.write_all(&b"def"[n..]).await.0.unwrap();
    assert_eq!(c.position(), 6);
    assert_eq!(c.seek(io::SeekFrom::Current(-4)).await.unwrap(), 2);
    let (res, buf) = c.read_exact(Vec::with_capacity(2)).await;
    res.unwrap();
    assert_eq!(&buf[..], b"cd");
    assert_eq!(c.seek(io::SeekFrom::End(-1)).await.unwrap(), 5);
    let (res, buf) = c.read_exact(Vec::with_capacity(1)).await;
    res.unwrap();
    assert_eq!(buf, b"f");
    let (n, _) = c.read(Vec::with_capacity(8)).await;
    assert_eq!(n.unwrap(), 0, "at the end");
    assert!(c.seek(io::SeekFrom::Current(-100)).await.is_err());
}

#[runtime::test]
async fn append_mode_writes_at_the_end() {
    let path = TempPath::new("append");
    fs::write(&path, b"start".as_slice()).await.unwrap();
    let file = OpenOptions::new().append(true).open(&path).await.unwrap();
    file.write_all_at(b"+end".as_slice(), 0).await.0.unwrap();
    file.close().await.unwrap();
    assert_eq!(fs::read(&path).await.unwrap(), b"start+end");
}

#[runtime::test]
async fn concurrent_writes_to_disjoint_ranges_from_many_tasks() {
    const TASKS: usize = 64;
    const CHUNK: usize = 4096;
    let path = TempPath::new("concurrent");
    let file = Rc::new(file_with(&path, Vec::new()).await);
    let tasks: Vec<_> = (0..TASKS)
        .map(|i| {
            let file = file.clone();
            runtime::spawn(async move {
                // Each task writes its range in two halves, to interleave with the others.
                let half = CHUNK / 2;
                let pos = (i * CHUNK) as u64;
                file.write_all_at(vec![i as u8; half], pos).await.0?;
                runtime::yield_now().await;
                file.write_all_at(vec![i as u8; half], pos + half as u64)
                    .await
                    .0
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let (res, buf) = file
        .read_exact_at(Vec::with_capacity(TASKS * CHUNK), 0)
        .await;
    res.unwrap();
    for (i, chunk) in buf.chunks(CHUNK).enumerate() {
        assert!(
            chunk.iter().all(|&b| b == i as u8),
            "range {i} was overwritten"
        );
    }
}

#[runtime::test]
async fn registered_file_serves_ops_by_its_slot() {
    let path = TempPath::new("registered");
    let file = file_with(&path, b"registered".to_vec()).await;
    assert_eq!(file.fixed_index(), None);
    let slot = file.register().unwrap();
    assert_eq!(
        file.register().unwrap(),
        slot,
        "registering twice keeps the slot"
    );
    assert_eq!(file.fixed_index(), Some(slot));
    let (n, buf) = file.read_to_end_at(Vec::new(), 0).await;
    assert_eq!(n.unwrap(), 10);
    assert_eq!(buf, b"registered");
    file.write_all_at(b"R".as_slice(), 0).await.0.unwrap();
    file.sync_data().await.unwrap();
    assert_eq!(
        file.metadata().await.unwrap().len(),
        10,
        "statx uses the fd"
    );
    file.close().await.unwrap();
    assert_eq!(fs::read(&path).await.unwrap(), b"Registered");
}

#[runtime::test]
async fn direct_descriptor_opens_into_the_fixed_table() {
    let path = TempPath::new("direct-descriptor");
    fs::write(&path, b"no fd at all".as_slice()).await.unwrap();
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .direct_descriptor(true)
        .open(&path)
        .await
        .unwrap();
    assert!(file.as_fd().is_none());
    assert!(file.fixed_index().is_some());
    let (n, buf) = file.read_at(Vec::with_capacity(32), 3).await;
    assert_eq!(&buf[..n.unwrap()], b"fd at all");
    file.write_all_at(b"NO".as_slice(), 0).await.0.unwrap();
    let e = file.metadata().await.unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::Unsupported);
    assert!(e.to_string().contains("fixed file table"), "{e}");
    file.close().await.unwrap();
    assert_eq!(fs::read(&path).await.unwrap(), b"NO fd at all");
}

/// Whether `fd` is open in this process on `path` (tests on other threads may reuse the
/// number for their own files as soon as it is closed).
fn fd_is_open(fd: i32, path: &std::path::Path) -> bool {
    std::fs::read_link(format!("/proc/self/fd/{fd}")).is_ok_and(|p| p == path)
}

#[runtime::test]
async fn close_closes_the_fd_and_drop_closes_in_the_background() {
    use std::os::fd::AsRawFd;
    let path = TempPath::new("close");
    let file = file_with(&path, Vec::new()).await;
    let raw = file.as_fd().unwrap().as_raw_fd();
    assert!(fd_is_open(raw, &path));
    file.close().await.unwrap();
    assert!(!fd_is_open(raw, &path));

    let file = File::open(&path).await.unwrap();
    let raw = file.as_fd().unwrap().as_raw_fd();
    drop(file);
    // The CLOSE goes with the next loop turn.
    runtime::time::sleep(Duration::from_millis(1)).await;
    assert!(!fd_is_open(raw, &path));
}

#[runtime::test]
async fn dropped_read_keeps_the_fd_open_until_its_cqe() {
    use std::os::fd::AsRawFd;
    // A FIFO opened read-write never blocks the open, and a read on it waits for data.
    let path = TempPath::new("fifo");
    let status = std::process::Command::new("mkfifo").arg(&*path).status();
    if !status.is_ok_and(|s| s.success()) {
        println!("skipped: mkfifo is not available");
        return;
    }
    let file = File::options()
        .read(true)
        .write(true)
        .open(&path)
        .await
        .unwrap();
    let raw = file.as_fd().unwrap().as_raw_fd();
    let read = runtime::time::timeout(
        Duration::from_millis(20),
        file.read_at(Vec::with_capacity(8), 0),
    )
    .await;
    assert!(read.is_err(), "nothing was written, so the read waits");
    // The abandoned read holds the fd until its cancellation completes.
    file.close().await.unwrap();
    for _ in 0..100 {
        if !fd_is_open(raw, &path) {
            return;
        }
        runtime::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("fd {raw} still open after the cancelled read completed");
}

#[runtime::test]
async fn read_past_the_end_returns_zero() {
    let path = TempPath::new("eof");
    let file = file_with(&path, b"12345".to_vec()).await;
    let (n, buf) = file.read_at(Vec::with_capacity(8), 5).await;
    assert_eq!(n.unwrap(), 0);
    assert!(buf.is_empty());
    let (n, _) = file.read_at(Vec::with_capacity(8), 1 << 40).await;
    assert_eq!(n.unwrap(), 0);
}

/// A read of more than one op can move (0x7ffff000 bytes) is split and completed: a sparse
/// 2.5 GiB file (no data written) read into a 2.2 GiB buffer. On tmpfs (/dev/shm) when there
/// is one: its holes read as the shared zero page, with no page cache to fill.
#[runtime::test]
async fn read_larger_than_2_gib_is_split_and_completed() {
    const LEN: usize = 2200 << 20;
    let path = TempPath::new_in(std::path::Path::new("/dev/shm"), "huge");
    let file = file_with(&path, Vec::new()).await;
    file.set_len(2560 << 20).await.unwrap();
    file.write_all_at(b"tail".as_slice(), (LEN - 4) as u64)
        .await
        .0
        .unwrap();
    let mut buf = Vec::<u8>::with_capacity(LEN);
    // Huge pages where the kernel has them: 2.2 GiB of 4 KiB page faults take seconds in a VM.
    // SAFETY: the range is the Vec's own allocation; MADV_HUGEPAGE changes no contents.
    unsafe { libc::madvise(buf.as_mut_ptr().cast(), LEN, libc::MADV_HUGEPAGE) };
    let t = std::time::Instant::now();
    let (n, buf) = file.read_at(buf, 0).await;
    println!("read {LEN} bytes in {:?}", t.elapsed());
    assert_eq!(n.unwrap(), LEN);
    assert_eq!(buf.len(), LEN);
    assert_eq!(&buf[LEN - 4..], b"tail");
    assert!(buf[..4096].iter().all(|&b| b == 0));
}

#[runtime::test]
async fn read_to_end_reads_what_the_metadata_did_not_announce() {
    let path = TempPath::new("to-end");
    let file = file_with(&path, vec![3u8; 10_000]).await;
    let (n, buf) = file.read_to_end_at(Vec::with_capacity(100), 0).await;
    assert_eq!(n.unwrap(), 10_000);
    assert_eq!(buf.len(), 10_000);
    let (n, buf) = file.read_to_end_at(b"prefix".to_vec(), 9_990).await;
    assert_eq!(n.unwrap(), 10);
    assert_eq!(&buf[..6], b"prefix");
}
