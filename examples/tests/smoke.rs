//! Smoke tests of every example: each one's logic (the library functions its `main` calls)
//! against loopback clients and temporary files, and, where `cargo test` has built them, the
//! example binaries themselves with `--demo`. Each test takes a second or so; a hung one
//! fails after 20 s instead of hanging.

use std::io::{self, Read};
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream as StdUnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use examples::file_server::{Client, remove_dir_all, temp_dir};
use examples::signal::Signal;
use examples::{
    cat, chat, cp, echo, echo_per_core, file_server, http, timers, tokio_port, udp_echo,
};
use net::{TcpListener, TcpStream, UdpSocket};

/// Runs `body` on a fresh single-core runtime, failing after 20 s.
fn on_runtime<F: Future<Output = io::Result<T>>, T>(body: F) -> T {
    let rt = runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        match runtime::time::timeout(Duration::from_secs(20), body).await {
            Ok(r) => r,
            Err(e) => Err(e.into()),
        }
    })
    .expect("test body")
}

async fn listener() -> io::Result<TcpListener> {
    TcpListener::bind("127.0.0.1:0").await
}

#[test]
fn tokio_port_demo_runs_all_four_parts() {
    // echo, chat (4 clients, 3 lines each, relayed to the 3 others), hyper, walker.
    let report = on_runtime(async { tokio_port::demo(listener().await?).await });
    assert!(report.contains("chat 36 lines relayed"), "{report}");
    assert!(report.contains("walker 12 files, 6 dirs"), "{report}");
    assert!(report.ends_with("verified"), "{report}");
}

#[test]
fn http_demo_answers_through_hyper() {
    let report = on_runtime(async { http::demo(listener().await?).await });
    assert!(report.contains("verified"), "{report}");
}

#[test]
fn echo_demo_echoes_every_byte_back() {
    let report = on_runtime(async { echo::demo(listener().await?).await });
    assert!(report.contains("10 connections"), "{report}");
}

#[test]
fn echo_exits_after_n_connections() {
    let served = on_runtime(async {
        let l = listener().await?;
        let addr = l.local_addr().unwrap();
        let server = runtime::spawn(echo::serve(l, Signal::after(Some(3))));
        for i in 0..3 {
            echo::check_echo(addr, echo::pattern(i, 50_000)).await?;
        }
        // No stop from here: the server ends by itself after the third connection.
        server.await?
    });
    assert_eq!(served, 3);
}

#[test]
fn echo_copy_path_echoes_like_the_provided_buffer_path() {
    on_runtime(async {
        let l = listener().await?;
        let addr = l.local_addr().unwrap();
        let server = runtime::spawn(async move {
            let (stream, _) = l.accept().await?;
            echo::echo_copy(&stream).await
        });
        // Reads of different sizes through one reused Vec must not echo stale bytes.
        echo::check_echo(addr, echo::pattern(3, 100_003)).await?;
        assert_eq!(server.await??, 100_003);
        Ok(())
    });
}

#[test]
fn echo_per_core_demo_serves_from_every_core() {
    let report = echo_per_core::demo(2).expect("demo");
    assert!(report.contains("24 connections over 2 cores"), "{report}");
}

#[test]
fn echo_per_core_exits_after_n_connections() {
    // A client that runs on core 0 but leaves the stopping to the server's count.
    let client = |addr: SocketAddr| async move {
        for i in 0..4 {
            echo::check_echo(addr, echo::pattern(i, 1000)).await?;
        }
        Ok(4000)
    };
    let served = echo_per_core::serve(
        "127.0.0.1:0".parse().unwrap(),
        2,
        Signal::after(Some(4)),
        Some(client),
    )
    .expect("serve");
    assert_eq!(served.per_core.iter().sum::<usize>(), 4);
    assert_eq!(served.client.unwrap().unwrap(), 4000);
}

#[test]
fn chat_demo_relays_lines_across_cores() {
    let report = chat::demo(2).expect("demo");
    assert!(report.contains("verified"), "{report}");
}

#[test]
fn chat_on_one_core_relays_and_announces() {
    let client = |addr: SocketAddr| async move {
        let mut a = chat::Client::connect(addr).await?;
        let b = chat::Client::connect(addr).await?;
        let joined = a.next_matching(|l| l.ends_with(" joined")).await?;
        assert_eq!(joined, format!("* {} joined", b.id));
        b.send("hi there").await?;
        let line = a.next_matching(|_| true).await?;
        assert_eq!(line, format!("{}: hi there", b.id));
        b.send("/quit").await?;
        let left = a.next_matching(|_| true).await?;
        assert_eq!(left, format!("* {} left", b.id));
        Ok(String::new())
    };
    let served = chat::serve(
        "127.0.0.1:0".parse().unwrap(),
        1,
        Signal::new(),
        Some(client),
    )
    .expect("serve");
    served.client.unwrap().expect("client");
    assert_eq!(served.per_core, [2]);
}

#[test]
fn file_server_demo_answers_ranges_and_refuses_traversal() {
    let report = on_runtime(async { file_server::demo(listener().await?).await });
    assert!(report.contains("14 requests"), "{report}");
}

#[test]
fn file_server_refuses_symlinks_out_of_the_root_and_huge_heads() {
    on_runtime(async {
        let base = temp_dir("smoke-fs").await?;
        let root = base.join("root");
        fs::create_dir_all(&root).await?;
        fs::write(base.join("outside.txt"), b"secret".as_slice()).await?;
        fs::write(root.join("inside.txt"), b"public".as_slice()).await?;
        fs::symlink(base.join("outside.txt"), root.join("escape")).await?;
        fs::symlink(root.join("inside.txt"), root.join("alias")).await?;

        let l = listener().await?;
        let addr = l.local_addr().unwrap();
        let stop = Signal::new();
        let server = runtime::spawn({
            let (root, stop) = (root.clone(), stop.clone());
            async move { file_server::serve(l, &root, stop).await }
        });
        let mut c = Client::connect(addr).await?;
        assert_eq!(c.request("GET", "/escape", &[]).await?.status, 403);
        let r = c.request("GET", "/alias", &[]).await?;
        assert_eq!((r.status, &r.body[..]), (200, &b"public"[..]));
        let r = c
            .request("GET", "/inside.txt", &[("Range", "bytes=2-3")])
            .await?;
        assert_eq!((r.status, &r.body[..]), (206, &b"bl"[..]));
        let huge = "x".repeat(file_server::MAX_HEAD + 10);
        let r = c
            .request("GET", "/inside.txt", &[("X-Huge", &huge)])
            .await?;
        assert_eq!(r.status, 431);

        // HTTP/1.0 without keep-alive: one response, then the server closes.
        let s = TcpStream::connect(addr).await?;
        s.write_all(b"GET /inside.txt HTTP/1.0\r\n\r\n".to_vec())
            .await
            .0?;
        let mut got = Vec::new();
        loop {
            let (res, buf) = s.read(Vec::with_capacity(4096)).await;
            match res? {
                0 => break,
                n => got.extend_from_slice(&buf[..n]),
            }
        }
        let text = String::from_utf8_lossy(&got);
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.ends_with("\r\n\r\npublic"), "{text}");

        stop.fire();
        server.await??;
        remove_dir_all(base).await
    });
}

#[test]
fn cat_demo_concatenates_files() {
    let report = on_runtime(cat::demo());
    assert!(report.contains("verified"), "{report}");
}

#[test]
fn cat_writes_to_a_non_seekable_output() {
    // A socket stands in for a pipe or a terminal: no file position, so the writes at
    // "current position" must simply go out in order.
    let (ours, theirs) = StdUnixStream::pair().expect("socketpair");
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut theirs = theirs;
        theirs.read_to_end(&mut all).map(|_| all)
    });
    let data: Vec<u8> = (0..cat::CHUNK * 3 + 11).map(|i| (i % 199) as u8).collect();
    let copied = on_runtime({
        let data = data.clone();
        async move {
            let dir = temp_dir("smoke-cat").await?;
            let path = dir.join("in");
            fs::write(&path, data).await?;
            let out = fs::File::from(OwnedFd::from(ours));
            let n = cat::cat(&[path.clone(), path], &out).await?;
            out.close().await?;
            remove_dir_all(dir).await?;
            Ok(n)
        }
    });
    let got = reader.join().unwrap().expect("read the socket");
    assert_eq!(copied, 2 * data.len() as u64);
    assert_eq!(got.len(), 2 * data.len());
    assert!(got[..data.len()] == data[..] && got[data.len()..] == data[..]);
}

#[test]
fn cp_demo_copies_both_ways() {
    let report = on_runtime(cp::demo());
    assert!(report.contains("verified"), "{report}");
}

#[test]
fn cp_by_hand_with_odd_chunks_and_depths() {
    on_runtime(async {
        let dir = temp_dir("smoke-cp").await?;
        let src = dir.join("src");
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 256) as u8).collect();
        fs::write(&src, data.clone()).await?;
        for (depth, chunk) in [(1, 999), (3, 4095), (16, 100_000), (2, 1 << 20)] {
            let dst = dir.join(format!("dst-{depth}-{chunk}"));
            let n = cp::copy_pipelined(&src, &dst, depth, chunk).await?;
            assert_eq!(n, data.len() as u64);
            assert!(
                fs::read(&dst).await? == data,
                "depth {depth}, chunk {chunk}"
            );
        }
        let e = cp::copy_pipelined(&dir, &dir.join("x"), 2, 10)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        remove_dir_all(dir).await
    });
}

#[test]
fn timers_demo_cancels_cleanly() {
    let lines = on_runtime(timers::demo(3, Duration::from_millis(5)));
    assert_eq!(lines.len(), 4);
    assert!(lines[2].contains("cancelled cleanly"), "{lines:?}");
    assert!(lines[3].contains("TimedOut"), "{lines:?}");
}

#[test]
fn udp_echo_demo_echoes_datagrams() {
    let report = on_runtime(async { udp_echo::demo(UdpSocket::bind("127.0.0.1:0").await?).await });
    assert!(report.contains("4 datagrams"), "{report}");
}

#[test]
fn udp_echo_exits_after_n_datagrams_and_serves_ipv6() {
    on_runtime(async {
        // ::1 where the host has IPv6 on loopback; 127.0.0.1 otherwise.
        let socket = match UdpSocket::bind("[::1]:0").await {
            Ok(s) => s,
            Err(_) => UdpSocket::bind("127.0.0.1:0").await?,
        };
        let addr = socket.local_addr()?;
        let server = runtime::spawn(udp_echo::serve(socket, Signal::after(Some(2))));
        let client = udp_echo::client_socket(addr).await?;
        let wait = Duration::from_millis(200);
        udp_echo::request(&client, addr, b"one", wait, 5).await?;
        udp_echo::request(&client, addr, b"two", wait, 5).await?;
        assert_eq!(server.await??, 2);
        Ok(())
    });
}

/// Where cargo put the example binaries: `target/<profile>/examples`, beside this test's
/// `deps` directory.
fn examples_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    Some(exe.parent()?.parent()?.join("examples"))
}

#[test]
fn every_example_binary_passes_its_demo() {
    let Some(dir) = examples_dir() else {
        eprintln!("skipped: cannot locate the example binaries");
        return;
    };
    const SERVERS: [&str; 7] = [
        "echo",
        "echo_per_core",
        "chat",
        "file_server",
        "udp_echo",
        "http",
        "tokio_port",
    ];
    const TOOLS: [&str; 3] = ["cat", "cp", "timers"];
    let mut running = Vec::new();
    for name in SERVERS.iter().chain(&TOOLS) {
        let bin = dir.join(name);
        if !bin.is_file() {
            // `cargo test --test smoke` builds no examples; `cargo test` does.
            eprintln!("skipped {name}: {} was not built", bin.display());
            continue;
        }
        let child = Command::new(&bin)
            .arg("--demo")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
        running.push((*name, child));
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    for (name, mut child) in running {
        while child.try_wait().expect("wait").is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("{name} --demo did not finish in 20 s");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let out = child.wait_with_output().expect("output");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "{name} --demo: {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
            out.status
        );
        if SERVERS.contains(&name) {
            let first = stdout.lines().next().unwrap_or_default();
            assert!(
                first.starts_with("listening on 127.0.0.1:") && !first.ends_with(":0"),
                "{name}: first line {first:?}"
            );
        }
        assert!(
            stdout.contains("verified") || stdout.contains("cancelled cleanly"),
            "{name}: {stdout}"
        );
    }
}

#[test]
fn bad_arguments_exit_with_usage() {
    let Some(bin) = examples_dir().map(|d| d.join("echo")) else {
        return;
    };
    if !Path::new(&bin).is_file() {
        eprintln!("skipped: {} was not built", bin.display());
        return;
    }
    let out = Command::new(&bin)
        .arg("--bogus")
        .output()
        .expect("run echo");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage: echo"));
}
