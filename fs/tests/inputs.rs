//! The input audit of fs (docs/input-audit.md), enforced: every offset, length and count a
//! caller gives at 0, at its largest value and past it is served, saturated or refused with
//! a clear `InvalidInput`, never a panic, a hang or a read somewhere else.

mod support;

use std::io::{self, SeekFrom};

use fs::{Advice, File, FileCursor, OpenOptions};
use support::TempPath;

const CONTENT: &[u8] = b"some bytes";

/// The largest offset the kernel takes, and the first one past it (io_uring reads
/// `u64::MAX`, -1, as "the file's position").
const LARGEST: u64 = i64::MAX as u64;
const PAST: [u64; 3] = [LARGEST + 1, u64::MAX - 1, u64::MAX];

async fn read_write_file(name: &str) -> (TempPath, File) {
    let path = TempPath::new(name);
    std::fs::write(&path, CONTENT).unwrap();
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .await
        .unwrap();
    (path, file)
}

fn assert_refused(res: io::Result<impl std::fmt::Debug>, what: &str, pos: u64) {
    let e = res.expect_err(what);
    assert_eq!(
        e.kind(),
        io::ErrorKind::InvalidInput,
        "{what} at {pos}: {e}"
    );
    assert!(e.to_string().contains("i64::MAX"), "{what} at {pos}: {e}");
}

/// Every positional transfer refuses an offset past `i64::MAX` before reaching the kernel,
/// and touches nothing: before, `read_at(buf, u64::MAX)` read at the file's position.
#[runtime::test]
async fn positional_ops_refuse_offsets_past_i64_max() {
    let (path, file) = read_write_file("past-i64-max").await;
    for pos in PAST {
        assert_refused(
            file.read_at(Vec::with_capacity(4), pos).await.0,
            "read_at",
            pos,
        );
        assert_refused(
            file.read_exact_at(Vec::with_capacity(4), pos).await.0,
            "read_exact_at",
            pos,
        );
        assert_refused(
            file.read_to_end_at(Vec::new(), pos).await.0,
            "read_to_end_at",
            pos,
        );
        assert_refused(
            file.readv_at(vec![Vec::with_capacity(4)], pos).await.0,
            "readv_at",
            pos,
        );
        assert_refused(file.write_at(b"x".to_vec(), pos).await.0, "write_at", pos);
        assert_refused(
            file.write_all_at(b"x".to_vec(), pos).await.0,
            "write_all_at",
            pos,
        );
        assert_refused(
            file.writev_at(vec![b"x".to_vec()], pos).await.0,
            "writev_at",
            pos,
        );
        assert_refused(file.allocate(pos, 1).await, "allocate", pos);
        assert_refused(file.allocate(0, pos).await, "allocate (length)", pos);
        assert_refused(file.advise(pos, 1, Advice::Normal).await, "advise", pos);
        assert_refused(file.set_len(pos).await, "set_len", pos);
        let mut cursor = FileCursor::new(File::open(&path).await.unwrap());
        assert_refused(cursor.seek(SeekFrom::Start(pos)).await, "seek", pos);
        assert_eq!(cursor.position(), 0, "a refused seek moves nothing");
    }
    // Nothing was read through the file's position: it is still at 0.
    let (n, buf) = file.read(Vec::with_capacity(64)).await;
    assert_eq!(&buf[..n.unwrap()], CONTENT);
    assert_eq!(std::fs::read(&path).unwrap(), CONTENT);
}

/// At offset 0 and at the largest offset the kernel decides: 0 bytes past the end of the
/// file, EINVAL/EFBIG where a write would end past the largest file size.
#[runtime::test]
async fn offsets_zero_and_largest_reach_the_kernel() {
    let (path, file) = read_write_file("offset-edges").await;
    let (n, buf) = file.read_to_end_at(Vec::new(), 0).await;
    assert_eq!(&buf[..n.unwrap()], CONTENT);
    // Past the end of the file, the largest range that fits reads nothing; one that would
    // end past the largest offset is the kernel's EINVAL.
    let (n, _) = file.read_at(Vec::with_capacity(4), LARGEST - 4).await;
    assert_eq!(n.unwrap(), 0);
    let (n, _) = file
        .readv_at(vec![Vec::with_capacity(4)], LARGEST - 4)
        .await;
    assert_eq!(n.unwrap(), 0);
    let e = file
        .read_at(Vec::with_capacity(4), LARGEST)
        .await
        .0
        .unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EINVAL), "{e}");
    let (res, _) = file.read_to_end_at(Vec::new(), LARGEST - 64).await;
    assert_eq!(res.unwrap(), 0);
    let e = file
        .read_exact_at(Vec::with_capacity(4), LARGEST - 4)
        .await
        .0
        .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof, "{e}");
    // A write ending past the largest size: the kernel says EFBIG or EINVAL.
    let e = file.write_at(b"x".to_vec(), LARGEST).await.0.unwrap_err();
    assert!(
        matches!(e.raw_os_error(), Some(libc::EFBIG | libc::EINVAL)),
        "{e}"
    );
    let e = file.allocate(0, 0).await.unwrap_err();
    assert_eq!(
        e.raw_os_error(),
        Some(libc::EINVAL),
        "allocate of 0 bytes: {e}"
    );
    let e = file.set_len(LARGEST).await.unwrap_err();
    assert!(
        matches!(e.raw_os_error(), Some(libc::EFBIG | libc::EINVAL)),
        "{e}"
    );
    let mut cursor = FileCursor::new(File::open(&path).await.unwrap());
    assert_eq!(
        cursor.seek(SeekFrom::Start(LARGEST)).await.unwrap(),
        LARGEST
    );
    assert!(cursor.seek(SeekFrom::Current(1)).await.is_err());
    assert_eq!(std::fs::read(&path).unwrap(), CONTENT);
}

/// `advise` with the largest lengths is one op "to the end", not 2^32 ops of 4 GiB (it
/// used to loop for hours on `advise(0, u64::MAX)`); a range past the end of the file too.
#[runtime::test]
async fn advise_huge_lengths_end_at_once() {
    let (_path, file) = read_write_file("advise-huge").await;
    let _watchdog = support::watchdog("advise", std::time::Duration::from_secs(10));
    let ranges = [
        (0, 0),
        (0, u64::MAX),
        (0, LARGEST),
        (LARGEST, 0),
        (LARGEST, u64::MAX),
        (1, LARGEST - 1),
        (0, 1 << 40),
    ];
    for (offset, len) in ranges {
        for advice in [Advice::WillNeed, Advice::DontNeed, Advice::Sequential] {
            file.advise(offset, len, advice)
                .await
                .unwrap_or_else(|e| panic!("advise({offset}, {len}, {advice:?}): {e}"));
        }
    }
}

/// Empty buffers move nothing (0, as `pread`/`pwrite` with a count of 0), and more than
/// IOV_MAX buffers is `InvalidInput` naming the limit.
#[runtime::test]
async fn empty_and_too_many_buffers() {
    let (path, file) = read_write_file("buffers").await;
    assert_eq!(file.read_at(Vec::new(), 0).await.0.unwrap(), 0);
    assert_eq!(file.write_at(Vec::new(), 0).await.0.unwrap(), 0);
    assert_eq!(file.read(Vec::new()).await.0.unwrap(), 0);
    assert_eq!(file.write(Vec::new()).await.0.unwrap(), 0);
    file.write_all(Vec::new()).await.0.unwrap();
    file.read_exact_at(Vec::new(), 0).await.0.unwrap();
    file.write_all_at(Vec::new(), 0).await.0.unwrap();
    assert_eq!(file.readv_at(Vec::<Vec<u8>>::new(), 0).await.0.unwrap(), 0);
    assert_eq!(file.writev_at(Vec::<Vec<u8>>::new(), 0).await.0.unwrap(), 0);
    for n in [1024, 1025, 4096] {
        let (res, bufs) = file.readv_at(vec![Vec::with_capacity(1); n], 0).await;
        assert_eq!(bufs.len(), n, "the buffers come back");
        let (wres, _) = file.writev_at(vec![Vec::<u8>::new(); n], 0).await;
        if n <= 1024 {
            res.unwrap();
            wres.unwrap();
        } else {
            for e in [res.unwrap_err(), wres.unwrap_err()] {
                assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
                assert!(e.to_string().contains("IOV_MAX (1024)"), "{e}");
            }
        }
    }
    assert_eq!(std::fs::read(&path).unwrap(), CONTENT);
}

/// `File::read`/`write`/`write_all` use and advance the file's own position (io_uring's
/// offset -1), as `read(2)`/`write(2)` do; the positional ops leave it alone.
#[runtime::test]
async fn read_and_write_use_the_files_position() {
    let (path, file) = read_write_file("position").await;
    // A read may return fewer bytes than asked (as read(2)): read until 5 came.
    let mut first = Vec::new();
    while first.len() < 5 {
        let (n, buf) = file.read(Vec::with_capacity(5 - first.len())).await;
        assert_ne!(n.unwrap(), 0, "the file ended early");
        first.extend_from_slice(&buf);
    }
    assert_eq!(first, b"some ");
    // A positional read does not move the position.
    let (n, _) = file.read_to_end_at(Vec::new(), 0).await;
    assert_eq!(n.unwrap(), CONTENT.len());
    file.write_all(b"BYTES!".as_slice()).await.0.unwrap();
    assert_eq!(file.write(b"?".as_slice()).await.0.unwrap(), 1);
    assert_eq!(
        file.read(Vec::with_capacity(8)).await.0.unwrap(),
        0,
        "at the end"
    );
    assert_eq!(std::fs::read(&path).unwrap(), b"some BYTES!?");
}
