//! The generic I/O traits (`runtime::io`) on sockets: code written once for any stream runs
//! on TCP and Unix streams and TCP's split halves; `BufReader` lines under `select!` lose no
//! line when the losing `next_line` is dropped; `io::split` reads and writes at once; `copy`
//! moves a stream's bytes.

mod support;

use std::time::Duration;

use net::{TcpListener, TcpStream, UnixStream};
use runtime::Runtime;
use runtime::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, BufReader, BufWriter};
use support::watchdog;

const LIMIT: Duration = Duration::from_secs(30);

/// Library code written once: answers each line with it reversed, until end of stream.
async fn reverse_lines<S: AsyncRead + AsyncWrite>(stream: S) -> std::io::Result<usize> {
    let mut lines = BufReader::new(stream).lines();
    let mut n = 0;
    while let Some(line) = lines.next_line().await? {
        let answer: String = line.chars().rev().chain(['\n']).collect();
        lines.get_mut().write_all(answer.into_bytes()).await.0?;
        n += 1;
    }
    lines.get_mut().shutdown().await?;
    Ok(n)
}

/// The client side: sends `lines` through a `BufWriter`, then reads the answers to the end.
async fn ask<S: AsyncRead + AsyncWrite>(stream: S, lines: &[&str]) -> std::io::Result<String> {
    let mut w = BufWriter::new(stream);
    for line in lines {
        w.write_all(format!("{line}\n").into_bytes()).await.0?;
    }
    w.shutdown().await?;
    let (res, answers) = w.into_inner().read_to_end(Vec::new()).await;
    res?;
    Ok(String::from_utf8(answers).expect("answers are UTF-8"))
}

#[test]
fn generic_code_serves_tcp_and_unix_streams() {
    let _w = watchdog("generic_code_serves_tcp_and_unix_streams", LIMIT);
    Runtime::new().unwrap().block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = runtime::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            reverse_lines(stream).await.unwrap()
        });
        let client = TcpStream::connect(addr).await.unwrap();
        let got = ask(client, &["abc", "", "xy"]).await.unwrap();
        assert_eq!(got, "cba\n\nyx\n");
        assert_eq!(server.await.unwrap(), 3);

        let (a, b) = UnixStream::pair().unwrap();
        let server = runtime::spawn(reverse_lines(a));
        assert_eq!(ask(b, &["hello"]).await.unwrap(), "olleh\n");
        assert_eq!(server.await.unwrap().unwrap(), 1);
    });
}

#[test]
fn split_halves_and_shared_references_implement_the_traits() {
    let _w = watchdog(
        "split_halves_and_shared_references_implement_the_traits",
        LIMIT,
    );
    Runtime::new().unwrap().block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = runtime::spawn(async move {
            let (mut rd, mut wr) = TcpStream::connect(addr).await.unwrap().into_split();
            AsyncWrite::write_all(&mut wr, b"ping".as_slice())
                .await
                .0
                .unwrap();
            AsyncWrite::shutdown(&mut wr).await.unwrap();
            let (res, buf) = AsyncRead::read_exact(&mut rd, vec![0u8; 4]).await;
            res.unwrap();
            buf
        });
        let (stream, _) = listener.accept().await.unwrap();
        // A shared reference reads and writes too.
        let mut r = &stream;
        let (res, got) = r.read_to_end(Vec::new()).await;
        res.unwrap();
        assert_eq!(got, b"ping");
        let mut w = &stream;
        AsyncWrite::write_all(&mut w, b"pong".as_slice())
            .await
            .0
            .unwrap();
        assert_eq!(client.await.unwrap(), b"pong");
    });
}

/// Lines trickle in, cut mid-line, while `select!` races `next_line` against a timer that
/// often wins: every dropped `next_line` must leave what it read in the `BufReader` (and the
/// stream keep what its dropped receive got), so every line arrives once, in order.
#[test]
fn next_line_dropped_by_select_loses_no_line() {
    let _w = watchdog("next_line_dropped_by_select_loses_no_line", LIMIT);
    Runtime::new().unwrap().block_on(async {
        const LINES: usize = 200;
        let (a, b) = UnixStream::pair().unwrap();
        let writer = runtime::spawn(async move {
            let text: String = (0..LINES)
                .map(|i| format!("line {i} {}\n", "x".repeat(i % 37)))
                .collect();
            let bytes = text.into_bytes();
            // Chunks of 1..=13 bytes, so lines are cut everywhere.
            let mut at = 0;
            let mut k = 0;
            while at < bytes.len() {
                let n = (1 + k % 13).min(bytes.len() - at);
                a.write_all(bytes[at..at + n].to_vec()).await.0.unwrap();
                at += n;
                k += 1;
                if k % 3 == 0 {
                    runtime::time::sleep(Duration::from_millis(1)).await;
                }
            }
        });
        let mut lines = BufReader::with_capacity(16, b).lines();
        let mut got = Vec::new();
        let mut timer_won = 0;
        while got.len() < LINES {
            runtime::select! {
                line = lines.next_line() => got.push(line.unwrap().expect("a line")),
                _ = runtime::yield_now() => timer_won += 1,
            }
        }
        writer.await.unwrap();
        assert!(lines.next_line().await.unwrap().is_none());
        for (i, line) in got.iter().enumerate() {
            assert_eq!(*line, format!("line {i} {}", "x".repeat(i % 37)));
        }
        assert!(
            timer_won > 0,
            "no next_line was ever dropped: the test tested nothing"
        );
    });
}

#[test]
fn io_split_reads_while_the_other_half_writes() {
    let _w = watchdog("io_split_reads_while_the_other_half_writes", LIMIT);
    Runtime::new().unwrap().block_on(async {
        let (a, b) = UnixStream::pair().unwrap();
        let (mut rd, mut wr) = runtime::io::split(a);
        // The read waits first; the write must not be held up by it.
        let reader = runtime::spawn(async move {
            let (res, buf) = rd.read_exact(vec![0u8; 3]).await;
            res.unwrap();
            (buf, rd)
        });
        wr.write_all(b"out".as_slice()).await.0.unwrap();
        let (res, buf) = b.read_exact(vec![0u8; 3]).await;
        res.unwrap();
        assert_eq!(buf, b"out");
        b.write_all(b"in!".as_slice()).await.0.unwrap();
        let (buf, rd) = reader.await.unwrap();
        assert_eq!(buf, b"in!");
        let _stream: UnixStream = rd.unsplit(wr);
    });
}

#[test]
fn copy_moves_a_stream_to_another() {
    let _w = watchdog("copy_moves_a_stream_to_another", LIMIT);
    Runtime::new().unwrap().block_on(async {
        let (a, mut b) = UnixStream::pair().unwrap();
        let (mut c, d) = UnixStream::pair().unwrap();
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let expect = data.clone();
        let source = runtime::spawn(async move {
            a.write_all(data).await.0.unwrap();
        });
        let sink = runtime::spawn(async move {
            let mut d = d;
            let (res, got) = d.read_to_end(Vec::new()).await;
            res.unwrap();
            got
        });
        let n = runtime::io::copy(&mut b, &mut c).await.unwrap();
        drop(c);
        source.await.unwrap();
        assert_eq!(n, expect.len() as u64);
        assert_eq!(sink.await.unwrap(), expect);
    });
}

/// `compat::Compat` over TCP's split halves: one reads while the other writes.
#[cfg(feature = "tokio")]
#[test]
fn compat_over_split_halves() {
    use std::future::poll_fn;
    use std::pin::Pin;
    use tokio::io::{AsyncRead as _, AsyncWrite as _, ReadBuf};

    let _w = watchdog("compat_over_split_halves", LIMIT);
    Runtime::new().unwrap().block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let echo = runtime::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let (mut rd, mut wr) = stream.into_split();
            runtime::io::copy(&mut rd, &mut wr).await.unwrap()
        });
        let (rd, wr) = TcpStream::connect(addr).await.unwrap().into_split();
        let (mut rd, mut wr) = (net::compat::Compat::new(rd), net::compat::Compat::new(wr));
        poll_fn(|cx| Pin::new(&mut wr).poll_write(cx, b"through halves"))
            .await
            .unwrap();
        poll_fn(|cx| Pin::new(&mut wr).poll_shutdown(cx))
            .await
            .unwrap();
        let mut got = Vec::new();
        loop {
            let mut buf = [0u8; 5];
            let mut read = ReadBuf::new(&mut buf);
            poll_fn(|cx| Pin::new(&mut rd).poll_read(cx, &mut read))
                .await
                .unwrap();
            if read.filled().is_empty() {
                break;
            }
            got.extend_from_slice(read.filled());
        }
        assert_eq!(got, b"through halves");
        assert_eq!(echo.await.unwrap(), 14);
    });
}
