//! The generic I/O traits (`runtime::io`) on files: `File` reads and writes at the file's
//! own position (as std's `Read`/`Write for File`), so `BufWriter`, `lines`, `read_to_end`
//! and `copy` work on it; `FileCursor` at its own position.

use std::path::PathBuf;

use fs::{File, FileCursor};
use runtime::Runtime;
use runtime::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, BufReader, BufWriter};

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("fs-io-{name}-{}", std::process::id()))
}

#[test]
fn file_writes_and_reads_at_its_own_position() {
    let path = temp("position");
    Runtime::new().unwrap().block_on(async {
        let mut w = BufWriter::with_capacity(64, File::create(&path).await.unwrap());
        for i in 0..100 {
            w.write_all(format!("line {i}\n").into_bytes())
                .await
                .0
                .unwrap();
        }
        w.shutdown().await.unwrap();
        drop(w);
        let expect: String = (0..100).map(|i| format!("line {i}\n")).collect();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), expect);

        // Reads advance the position: two reads get consecutive bytes.
        let mut f = File::open(&path).await.unwrap();
        let (res, first) = f.read_exact(Vec::with_capacity(5)).await;
        res.unwrap();
        assert_eq!(first, b"line ");
        let (res, rest) = f.read_to_end(Vec::new()).await;
        res.unwrap();
        assert_eq!(rest, &expect.as_bytes()[5..]);

        let mut lines = BufReader::new(File::open(&path).await.unwrap()).lines();
        let mut count = 0;
        while let Some(line) = lines.next_line().await.unwrap() {
            assert_eq!(line, format!("line {count}"));
            count += 1;
        }
        assert_eq!(count, 100);
    });
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn copy_between_files_and_cursor_traits() {
    let (src, dst) = (temp("copy-src"), temp("copy-dst"));
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(&src, &data).unwrap();
    Runtime::new().unwrap().block_on(async {
        let mut from = File::open(&src).await.unwrap();
        let mut to = File::create(&dst).await.unwrap();
        let n = runtime::io::copy(&mut from, &mut to).await.unwrap();
        assert_eq!(n, data.len() as u64);
        to.close().await.unwrap();

        let mut cursor = FileCursor::new(File::open(&dst).await.unwrap());
        let (res, head) = AsyncRead::read_exact(&mut cursor, vec![0u8; 10]).await;
        res.unwrap();
        assert_eq!(head, &data[..10]);
        assert_eq!(cursor.position(), 10);
        let (res, rest) = cursor.read_to_end(Vec::new()).await;
        res.unwrap();
        assert_eq!(rest, &data[10..]);
    });
    assert_eq!(std::fs::read(&dst).unwrap(), data);
    std::fs::remove_file(&src).unwrap();
    std::fs::remove_file(&dst).unwrap();
}

/// `compat::Compat` writes many small pieces at the file's position and reads them back
/// in pieces smaller than its buffer.
#[cfg(feature = "tokio")]
#[test]
fn compat_file_round_trips_through_tokio_traits() {
    use std::future::poll_fn;
    use std::pin::Pin;
    use tokio::io::{AsyncRead as _, AsyncWrite as _, ReadBuf};

    let path = temp("compat");
    let data: Vec<u8> = (0..50_000u32).map(|i| (i % 241) as u8).collect();
    Runtime::new().unwrap().block_on(async {
        let mut out = fs::compat::Compat::with_capacity(4096, File::create(&path).await.unwrap());
        let mut at = 0;
        while at < data.len() {
            let end = (at + 1000).min(data.len());
            let n = poll_fn(|cx| Pin::new(&mut out).poll_write(cx, &data[at..end]))
                .await
                .unwrap();
            assert!(n > 0);
            at += n;
        }
        poll_fn(|cx| Pin::new(&mut out).poll_shutdown(cx))
            .await
            .unwrap();

        let mut input = fs::compat::Compat::with_capacity(4096, File::open(&path).await.unwrap());
        let mut got = Vec::new();
        loop {
            let mut buf = [0u8; 777];
            let mut read = ReadBuf::new(&mut buf);
            poll_fn(|cx| Pin::new(&mut input).poll_read(cx, &mut read))
                .await
                .unwrap();
            if read.filled().is_empty() {
                break;
            }
            got.extend_from_slice(read.filled());
        }
        assert_eq!(got, data);
    });
    std::fs::remove_file(&path).unwrap();
}
