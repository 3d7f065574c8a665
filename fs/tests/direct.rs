//! O_DIRECT: aligned transfers work, misaligned ones are refused with a message that says
//! which and what alignment; IOPOLL where the device cannot poll is a clear error.

mod support;

use std::io;

use fs::{AlignedBuf, DioAlignment, File, OpenOptions, iopoll};
use runtime::buf::IoBuf;
use support::TempPath;

/// Opens `path` read-write with O_DIRECT, or `None` (printed) where the file system has no
/// direct I/O.
async fn open_direct(path: &TempPath) -> Option<File> {
    fs::write(path, vec![5u8; 64 << 10]).await.unwrap();
    match OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
        .await
    {
        Ok(f) => Some(f),
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            println!("skipped: no O_DIRECT on the temp dir's file system: {e}");
            None
        }
        Err(e) => panic!("open O_DIRECT: {e}"),
    }
}

#[runtime::test]
async fn aligned_transfers_work_and_alignment_comes_from_statx() {
    let path = TempPath::new("dio");
    let Some(file) = open_direct(&path).await else {
        return;
    };
    let align = file
        .dio_alignment()
        .expect("an O_DIRECT file knows its alignment");
    println!("O_DIRECT alignment here: {align:?}");
    assert!(align.memory.is_power_of_two() && align.offset.is_power_of_two());
    let meta = file.metadata().await.unwrap();
    if let Some(reported) = meta.dio_alignment() {
        assert_eq!(reported, align);
    } else {
        assert_eq!(align, DioAlignment::DEFAULT);
    }

    let mut out = fs::aligned_buf_for(&file, 8192);
    out.fill(0x5a);
    let (res, _) = file.write_all_at(out, 4096).await;
    res.unwrap();
    let (res, input) = file
        .read_exact_at(fs::aligned_buf_for(&file, 16384), 0)
        .await;
    res.unwrap();
    assert!(input[..4096].iter().all(|&b| b == 5));
    assert!(input[4096..12288].iter().all(|&b| b == 0x5a));
    assert!(input[12288..].iter().all(|&b| b == 5));
    file.sync_data().await.unwrap();
}

#[runtime::test]
async fn misaligned_buffer_length_or_offset_is_a_clear_error() {
    let path = TempPath::new("dio-bad");
    let Some(file) = open_direct(&path).await else {
        return;
    };
    let align = file.dio_alignment().unwrap();
    let (mem, off) = (align.memory as usize, align.offset as usize);

    // A buffer that starts one byte past an aligned address.
    let shifted = AlignedBuf::new(off + mem, mem).slice(1..1 + off);
    let (res, _) = file.read_at(shifted, 0).await;
    let e = res.unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    let msg = e.to_string();
    assert!(
        msg.contains("O_DIRECT read_at") && msg.contains("buffer address"),
        "{msg}"
    );
    assert!(msg.contains(&format!("multiple of {mem} bytes")), "{msg}");

    if off > 1 {
        let (res, _) = file.write_at(AlignedBuf::new(off + 1, mem), 0).await;
        let msg = res.unwrap_err().to_string();
        assert!(msg.contains(&format!("length {}", off + 1)), "{msg}");
        assert!(msg.contains(&format!("multiple of {off} bytes")), "{msg}");

        let (res, _) = file.read_exact_at(AlignedBuf::new(off, mem), 1).await;
        let msg = res.unwrap_err().to_string();
        assert!(msg.contains("file offset 1 "), "{msg}");
    }

    let bufs = vec![AlignedBuf::new(off, mem), AlignedBuf::new(off, mem)];
    let (n, _) = file.readv_at(bufs, 0).await;
    assert_eq!(n.unwrap(), 2 * off, "aligned vectored reads pass");

    let (res, _) = file.read_to_end_at(Vec::new(), 0).await;
    assert_eq!(res.unwrap_err().kind(), io::ErrorKind::InvalidInput);
}

#[runtime::test]
async fn iopoll_where_the_device_cannot_poll_is_a_clear_error() {
    let path = TempPath::new("iopoll");
    let Some(file) = open_direct(&path).await else {
        return;
    };
    match iopoll::check(&file) {
        Ok(()) => println!("this device polls: IOPOLL reads work here"),
        Err(e) => {
            assert_eq!(e.kind(), io::ErrorKind::Unsupported, "{e}");
            let msg = e.to_string();
            assert!(msg.contains("does not support polled I/O"), "{msg}");
            assert!(msg.contains("EOPNOTSUPP"), "{msg}");
            println!("as expected on this device: {msg}");
        }
    }
    // Without O_DIRECT, IOPOLL is refused before reaching the kernel.
    let plain = File::open(&path).await.unwrap();
    let mut ring = iopoll::IopollRing::new(4).unwrap();
    let (res, _) = ring.read_at(&plain, AlignedBuf::new(4096, 4096), 0);
    let e = res.unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    assert!(e.to_string().contains("O_DIRECT"), "{e}");
}
