//! FIFOs on the fallback driver. A FIFO opened by path refuses `RWF_NOWAIT`, so the
//! emulator cannot try it without blocking; it waits for readiness instead and then moves
//! what goes without blocking (the bytes `FIONREAD` counts, `PIPE_BUF` bytes into room), so a
//! read waiting for data is cancelled at once like a socket's, rather than holding a blocking
//! pool thread until a writer comes. Each test forces the fallback.

mod support;

use std::os::fd::AsRawFd;
use std::time::Duration;

use fs::File;
use runtime::{Builder, DriverChoice, DriverKind};
use support::TempPath;

fn fallback() -> runtime::Runtime {
    Builder::new()
        .driver(DriverChoice::Fallback)
        .build()
        .expect("the fallback driver needs no io_uring")
}

/// A FIFO at a fresh path, or `None` (and a note) where `mkfifo` is missing.
fn fifo(name: &str) -> Option<TempPath> {
    let path = TempPath::new(name);
    let status = std::process::Command::new("mkfifo").arg(&*path).status();
    if !status.is_ok_and(|s| s.success()) {
        println!("skipped: mkfifo is not available");
        return None;
    }
    Some(path)
}

async fn open_rw(path: &TempPath) -> File {
    // Read-write: the open does not wait for a peer.
    File::options()
        .read(true)
        .write(true)
        .open(path)
        .await
        .unwrap()
}

#[test]
fn a_fifo_read_waiting_for_data_is_cancelled_at_once() {
    let Some(path) = fifo("fifo-cancel") else {
        return;
    };
    fallback().block_on(async {
        assert_eq!(runtime::driver_kind(), Some(DriverKind::Fallback));
        let file = open_rw(&path).await;
        let read =
            runtime::time::timeout(Duration::from_millis(10), file.read(Vec::with_capacity(8)))
                .await;
        assert!(read.is_err(), "nothing was written, so the read waits");
        // The cancel lands on the next turn: no op is left in flight (on the blocking pool
        // it would stay until a writer came).
        runtime::time::sleep(Duration::from_millis(1)).await;
        assert_eq!(runtime::metrics().unwrap().ops_in_flight, 0);
    });
}

#[test]
fn bytes_cross_a_fifo_in_order() {
    let Some(path) = fifo("fifo-bytes") else {
        return;
    };
    fallback().block_on(async {
        let writer = open_rw(&path).await;
        let reader = File::open(&*path).await.unwrap();
        // More than a FIFO holds (64 KiB): the writer waits for the reader.
        let data: Vec<u8> = (0..256 << 10).map(|i| (i % 251) as u8).collect();
        let expected = data.clone();
        let w = runtime::spawn(async move {
            let (res, _) = writer.write_all(data).await;
            res
        });
        let mut got = Vec::new();
        while got.len() < expected.len() {
            let (n, buf) = reader.read(Vec::with_capacity(32 << 10)).await;
            assert!(n.unwrap() > 0, "the writer is still open");
            got.extend_from_slice(&buf);
        }
        w.await.unwrap().unwrap();
        assert!(got == expected, "bytes lost, repeated or out of order");
        // The emulator moves a FIFO's bytes through a description of its own per call
        // (`nonblocking_fifo`): none is left open, only the reader's (the writer went with
        // its task).
        let fifo = std::fs::canonicalize(&*path).unwrap();
        let open_on_fifo = std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .filter(|target| *target == fifo)
            .count();
        assert_eq!(open_on_fifo, 1, "descriptions of the FIFO left open");
    });
}

/// Opening a FIFO for reading does not wait for a writer (io_uring's inline attempt opens
/// with O_NONBLOCK, and so does the emulator now), and writing-only without a reader fails
/// at once with ENXIO. Before the fix the emulator's open waited in open(2) on a blocking
/// pool thread that nothing could interrupt: a dropped open held the thread until a writer
/// came, and 64 of them starved the whole pool.
#[test]
fn a_fifo_open_does_not_wait_for_the_other_end() {
    let Some(path) = fifo("fifo-open") else {
        return;
    };
    fallback().block_on(async {
        let reader = runtime::time::timeout(Duration::from_secs(5), File::open(&path))
            .await
            .expect("the open waits for a writer")
            .expect("open for reading");
        // It stays blocking, as asked.
        // SAFETY: F_GETFL of an open fd reads nothing from memory.
        let flags = unsafe { libc::fcntl(reader.as_fd().unwrap().as_raw_fd(), libc::F_GETFL) };
        assert_eq!(flags & libc::O_NONBLOCK, 0, "O_NONBLOCK left on the file");
        drop(reader);
        let writer = File::options().write(true).open(&path).await;
        assert_eq!(writer.unwrap_err().raw_os_error(), Some(libc::ENXIO));
        assert_eq!(runtime::metrics().unwrap().ops_in_flight, 0);
    });
}
