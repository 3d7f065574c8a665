//! Resource limits: a listener out of fds (EMFILE) keeps serving the connections it has and
//! backs off instead of spinning; one core holds 10,000 concurrent connections.
//!
//! Both need an `RLIMIT_NOFILE` that must not touch other tests, so part of each runs in a
//! child process: this test binary started again for one test, with a role in its env.

mod support;

use std::cell::Cell;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use net::{TcpListener, TcpStream};
use support::{child_role, cpu_time, nofile_limit, run_for, set_nofile_soft, spawn_child};

/// Echoes on `s` until EOF or an error.
async fn echo(s: TcpStream) {
    let mut buf = Vec::with_capacity(64);
    loop {
        let (res, b) = s.read(buf).await;
        match res {
            Ok(n) if n > 0 => {}
            _ => return,
        }
        let (res, b) = s.write_all(b).await;
        if res.is_err() {
            return;
        }
        buf = b;
        buf.clear();
    }
}

/// The `RLIMIT_NOFILE` that leaves this process exactly `spare` free fd numbers: new fds
/// take the lowest free number below the limit (open fds above it, such as one inherited
/// from cargo, may stay).
fn limit_leaving(spare: usize) -> u64 {
    let open: std::collections::HashSet<u64> = std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    let nth_free = (0u64..)
        .filter(|fd| !open.contains(fd))
        .nth(spare - 1)
        .expect("free fd numbers");
    nth_free + 1
}

/// Clients of the EMFILE test: more than the server can hold at once.
const EMFILE_CLIENTS: usize = 12;
/// Spare fd numbers the server has after its limit is lowered.
const EMFILE_SPARE: usize = 4;

/// The EMFILE test's server, in a child process (role `emfile-server`): echo on every
/// connection of `incoming()` with a soft `RLIMIT_NOFILE` just above the fds it has open,
/// so accepting fails with EMFILE while clients wait in the backlog. It prints its port,
/// then, when every client was served, what it saw.
#[test]
fn emfile_server_child() {
    if child_role().as_deref() != Some("emfile-server") {
        return; // Only meaningful as the child of `emfile_at_accept_keeps_serving_and_backs_off`.
    }
    run_for(Duration::from_secs(20), async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        // Let the runtime open what it opens lazily (the blocking pool is not used here;
        // the ring and its eventfd are open already), then leave EMFILE_SPARE fds.
        runtime::time::sleep(Duration::from_millis(1)).await;
        set_nofile_soft(limit_leaving(EMFILE_SPARE))?;
        println!("PORT {}", listener.local_addr().unwrap().port());
        std::io::stdout().flush()?;

        let mut incoming = listener.incoming();
        let (mut accepted, mut emfile) = (0usize, 0usize);
        let (mut first_emfile, mut last_emfile) = (None, None);
        let cpu_before = cpu_time();
        let open = Rc::new(Cell::new(0usize));
        let mut tasks = Vec::new();
        while accepted < EMFILE_CLIENTS {
            match incoming.next().await.expect("incoming never ends") {
                Ok(s) => {
                    accepted += 1;
                    open.set(open.get() + 1);
                    let open = open.clone();
                    tasks.push(runtime::spawn(async move {
                        echo(s).await;
                        open.set(open.get() - 1);
                    }));
                }
                Err(e) if e.raw_os_error() == Some(libc::EMFILE) => {
                    emfile += 1;
                    first_emfile.get_or_insert_with(Instant::now);
                    last_emfile = Some(Instant::now());
                }
                Err(e) => return Err(e),
            }
        }
        for t in tasks {
            let _ = t.await;
        }
        let cpu = cpu_time() - cpu_before;
        let emfile_span = match (first_emfile, last_emfile) {
            (Some(a), Some(b)) => b - a,
            _ => Duration::ZERO,
        };
        println!(
            "STATS accepted={accepted} emfile={emfile} emfile_span_ms={} cpu_ms={}",
            emfile_span.as_millis(),
            cpu.as_millis()
        );
        Ok(())
    });
}

#[test]
fn emfile_at_accept_keeps_serving_and_backs_off() {
    if child_role().is_some() {
        return;
    }
    let mut child = spawn_child("emfile_server_child", "emfile-server", &[]);
    let mut out = BufReader::new(child.stdout());
    let mut line = String::new();
    let port: u16 = loop {
        line.clear();
        assert!(
            out.read_line(&mut line).expect("child stdout") > 0,
            "child exited early"
        );
        // libtest may print "test NAME ... " on the same line first.
        if let Some(i) = line.find("PORT ") {
            break line[i + 5..].trim().parse().expect("port");
        }
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    // All clients connect at once (the kernel completes the handshakes into the backlog),
    // each sends a message, waits for its echo and keeps the connection 150 ms before it
    // closes: so the server is out of fds while it still serves the clients it holds, and
    // takes the waiting ones as fds come back.
    let start = Instant::now();
    let clients: Vec<_> = (0..EMFILE_CLIENTS)
        .map(|i| {
            std::thread::spawn(move || -> std::io::Result<Duration> {
                let mut s = std::net::TcpStream::connect(addr)?;
                s.set_read_timeout(Some(Duration::from_secs(10)))?;
                let msg = format!("client {i:02}");
                s.write_all(msg.as_bytes())?;
                let mut buf = vec![0u8; msg.len()];
                s.read_exact(&mut buf)?;
                assert_eq!(buf, msg.as_bytes());
                let served = start.elapsed();
                std::thread::sleep(Duration::from_millis(150));
                Ok(served)
            })
        })
        .collect();
    let mut served: Vec<Duration> = clients
        .into_iter()
        .map(|c| c.join().expect("client thread").expect("client"))
        .collect();
    served.sort();
    let mut stats = String::new();
    out.read_to_string(&mut stats).expect("child stdout");
    let (status, _) = child.finish().expect("child");
    assert!(status.success(), "server child failed: {status}");
    let stats = stats
        .lines()
        .find_map(|l| Some(&l[l.find("STATS ")? + 6..]))
        .expect("the child's stats");
    let get = |k: &str| -> u64 {
        stats
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(k)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{k} in {stats:?}"))
    };
    eprintln!("served at {served:?}; server: {stats}");
    assert_eq!(get("accepted"), EMFILE_CLIENTS as u64);
    // The server did run out of fds, and the first clients were served at once anyway.
    assert!(get("emfile") >= 1, "the server never saw EMFILE: {stats}");
    assert!(
        served[0] < Duration::from_millis(100),
        "first client waited {:?}",
        served[0]
    );
    // Backing off (1 ms doubling to 100 ms, reset by each accept) means a few EMFILEs per
    // 150 ms wave, not a spin: a spinning accept fails thousands of times and burns the
    // CPU for the whole span.
    let span = Duration::from_millis(get("emfile_span_ms"));
    let cpu = Duration::from_millis(get("cpu_ms"));
    let max_errors = 16 * (span.as_millis() as u64 / 150 + 1);
    assert!(get("emfile") <= max_errors, "accept spun: {stats}");
    assert!(
        cpu < span / 2 + Duration::from_millis(50),
        "accept spun: {stats}"
    );
}

/// Connections held at once by the 10k test.
const MANY: usize = 10_000;

/// The 10k test's clients, in a child process (role `many-clients`): opens `MANY` blocking
/// connections to `NET_TEST_ADDR`, then sends one byte on each, then reads each echo, and
/// only then closes them all: the server holds every connection at once.
#[test]
fn many_clients_child() {
    if child_role().as_deref() != Some("many-clients") {
        return; // Only meaningful as the child of `ten_thousand_concurrent_connections_on_one_core`.
    }
    let addr: SocketAddr = std::env::var("NET_TEST_ADDR").unwrap().parse().unwrap();
    let (soft, hard) = nofile_limit();
    if soft < MANY as u64 + 64 {
        set_nofile_soft(hard).unwrap();
    }
    let mut conns = Vec::with_capacity(MANY);
    for _ in 0..MANY {
        let s = std::net::TcpStream::connect(addr).expect("connect");
        conns.push(s);
    }
    for (i, s) in conns.iter_mut().enumerate() {
        s.write_all(&[i as u8]).expect("write");
    }
    for (i, s) in conns.iter_mut().enumerate() {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut b = [0u8; 1];
        s.read_exact(&mut b).expect("echo");
        assert_eq!(b[0], i as u8);
    }
    println!("CLIENTS OK {}", conns.len());
}

#[test]
fn ten_thousand_concurrent_connections_on_one_core() {
    if child_role().is_some() {
        return;
    }
    // Server side: MANY accepted fds in this process (the clients' live in the child).
    let (soft, hard) = nofile_limit();
    let need = MANY as u64 + 256;
    if soft < need {
        if hard < need {
            eprintln!("skipped: RLIMIT_NOFILE hard limit {hard} < {need}");
            return;
        }
        set_nofile_soft(hard).unwrap();
    }
    run_for(Duration::from_secs(60), async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr().unwrap();
        let child = spawn_child(
            "many_clients_child",
            "many-clients",
            &[("NET_TEST_ADDR", addr.to_string())],
        );
        let open = Rc::new(Cell::new(0usize));
        let peak = Rc::new(Cell::new(0usize));
        let mut incoming = listener.incoming();
        let mut tasks = Vec::with_capacity(MANY);
        for _ in 0..MANY {
            let s = incoming.next().await.expect("incoming never ends")?;
            open.set(open.get() + 1);
            peak.set(peak.get().max(open.get()));
            let open = open.clone();
            tasks.push(runtime::spawn(async move {
                echo(s).await;
                open.set(open.get() - 1);
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
        let status = runtime::spawn_blocking(move || child.finish()).await??;
        assert!(status.0.success(), "clients failed: {}", status.0);
        assert!(
            status.1.contains(&format!("CLIENTS OK {MANY}")),
            "{}",
            status.1
        );
        assert_eq!(peak.get(), MANY, "not every connection was open at once");
        assert_eq!(open.get(), 0);
        Ok(())
    });
}

/// The child of `writev_to_a_closed_peer_is_epipe_not_sigpipe`: SIGPIPE at its default
/// disposition (which kills the process), then vectored writes to a peer that closed.
#[test]
fn writev_epipe_child() {
    if child_role().as_deref() != Some("writev-epipe") {
        return; // Only meaningful as the child of `writev_to_a_closed_peer_is_epipe_not_sigpipe`.
    }
    // SAFETY: sets this process's SIGPIPE disposition to the default, before any thread of
    // ours could rely on it being ignored.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    run_for(Duration::from_secs(10), async {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let client = TcpStream::connect(listener.local_addr()?).await?;
        let (peer, _) = listener.accept()?;
        drop(peer);
        for _ in 0..100 {
            let (res, _) = client.writev(vec![vec![7u8; 4096], vec![8u8; 4096]]).await;
            if let Err(e) = res {
                println!("WRITEV ERROR {:?}", e.raw_os_error());
                return Ok(());
            }
            runtime::time::sleep(Duration::from_millis(1)).await;
        }
        println!("WRITEV NEVER FAILED");
        Ok(())
    });
}

/// A vectored write to a closed peer is an EPIPE (or ECONNRESET) error, as `write` is: it
/// must not raise SIGPIPE, which kills a process that keeps the default disposition.
#[test]
fn writev_to_a_closed_peer_is_epipe_not_sigpipe() {
    if child_role().is_some() {
        return;
    }
    let child = spawn_child("writev_epipe_child", "writev-epipe", &[]);
    let (status, out) = child.finish().expect("child output");
    assert!(
        status.success(),
        "the child died ({status}): SIGPIPE from a vectored write? output: {out}"
    );
    assert!(
        out.contains(&format!("WRITEV ERROR Some({})", libc::EPIPE))
            || out.contains(&format!("WRITEV ERROR Some({})", libc::ECONNRESET)),
        "expected EPIPE or ECONNRESET, got: {out}"
    );
}
