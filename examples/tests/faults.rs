//! The echo and copy examples with ops failing at random (feature `fault-injection`): the
//! errnos a busy machine and a bad network give (EINTR, EAGAIN, ENOBUFS, ENOMEM, ECONNRESET,
//! EPIPE), before submission, at a seeded rate. Whatever fails must fail clearly: no panic, no
//! hang, no byte changed or reordered, no fd left open once the runtime is gone.
//!
//! `cargo test -p examples --features fault-injection --test faults`

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::Duration;

use examples::signal::Signal;
use examples::{cp, echo};
use net::TcpListener;

/// The errnos ops fail with, at this rate.
const FAULTS: &str = "fail=0.03:EINTR+EAGAIN+ENOBUFS+ENOMEM+ECONNRESET+EPIPE";
/// Echo connections per seed.
const CLIENTS: usize = 60;
/// Longest a test may take before it counts as hung.
const LIMIT: Duration = Duration::from_secs(60);

/// One test at a time: each counts the process's fds before and after.
static SERIAL: Mutex<()> = Mutex::new(());

fn faulty_runtime(seed: u64) -> runtime::Runtime {
    runtime::Builder::new()
        .inject_faults(format!("seed={seed},{FAULTS}").parse().expect("faults"))
        .build()
        .expect("runtime")
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

/// Runs `f` on a thread of its own; panics if it is not done within [`LIMIT`].
fn within_limit<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (done, wait) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(f());
    });
    match wait.recv_timeout(LIMIT) {
        Ok(t) => t,
        Err(_) => panic!("{what}: not done within {LIMIT:?} (hung)"),
    }
}

/// How one echo connection ended, from the client's side.
#[derive(Debug, PartialEq)]
enum Outcome {
    /// Every byte came back, in order.
    Echoed,
    /// The server closed or reset it early; what came back was a prefix of what was sent.
    CutShort,
}

/// One client: sends `data` (writing and reading in turns of 4 KiB), checks that what comes
/// back is `data`, or a prefix of it if the connection ends early.
fn client(addr: SocketAddr, data: &[u8]) -> Result<Outcome, String> {
    let mut s = match TcpStream::connect(addr) {
        Ok(s) => s,
        Err(e) => return Err(format!("connect: {e}")),
    };
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut got = Vec::with_capacity(data.len());
    let mut buf = [0u8; 4096];
    let mut cut = false;
    for part in data.chunks(4096) {
        if s.write_all(part).is_err() {
            cut = true;
            break;
        }
        // Reads back at least this part's bytes (more may come).
        let want = got.len() + part.len();
        while got.len() < want {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => {
                    cut = true;
                    break;
                }
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        if cut {
            break;
        }
    }
    if !cut {
        let _ = s.shutdown(Shutdown::Write);
        match s.read(&mut buf) {
            Ok(0) => {}
            Ok(n) => return Err(format!("{n} bytes more than were sent came back")),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                return Err("no end of stream after the echo".into());
            }
            Err(_) => cut = true,
        }
    }
    if !data.starts_with(&got) {
        let at = got.iter().zip(data).position(|(a, b)| a != b);
        return Err(format!(
            "{} bytes came back that are not a prefix of the {} sent (first difference at {at:?})",
            got.len(),
            data.len()
        ));
    }
    Ok(if cut {
        Outcome::CutShort
    } else {
        Outcome::Echoed
    })
}

#[test]
fn echo_under_injected_errors_corrupts_nothing_and_leaks_no_fd() {
    let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let before = open_fds();
    for seed in 1..=3u64 {
        let (addr_tx, addr_rx) = mpsc::channel();
        let server = std::thread::spawn(move || {
            let rt = faulty_runtime(seed);
            rt.block_on(async move {
                let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                echo::serve(listener, Signal::after(Some(CLIENTS))).await
            })
        });
        let addr = addr_rx.recv().expect("server address");
        let outcomes = within_limit("echo clients", move || {
            (0..CLIENTS)
                .map(|i| {
                    let len = 1 + (i * 7919) % (48 * 1024);
                    client(addr, &echo::pattern(i, len))
                })
                .collect::<Vec<_>>()
        });
        let served = within_limit("echo server", move || server.join()).expect("server thread");
        assert!(served.is_ok(), "seed {seed}: server: {served:?}");
        let bad: Vec<_> = outcomes.iter().filter_map(|o| o.as_ref().err()).collect();
        assert!(bad.is_empty(), "seed {seed}: {bad:?}");
        let echoed = outcomes
            .iter()
            .filter(|o| **o == Ok(Outcome::Echoed))
            .count();
        println!("seed {seed}: {echoed} of {CLIENTS} connections echoed whole, the rest cut short");
    }
    assert_eq!(
        open_fds(),
        before,
        "fds left open after the runtimes were dropped"
    );
}

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("examples-faults-{name}-{}", std::process::id()))
}

#[test]
fn copy_under_injected_errors_is_exact_or_a_clear_error() {
    let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (from, to) = (temp("from"), temp("to"));
    let data = echo::pattern(3, 3 << 20);
    std::fs::write(&from, &data).unwrap();
    let before = open_fds();
    let (mut copied, mut failed) = (0, 0);
    for seed in 1..=12u64 {
        let (f, t) = (from.clone(), to.clone());
        let res = within_limit("copy", move || {
            faulty_runtime(seed).block_on(cp::copy_pipelined(&f, &t, 4, 64 * 1024))
        });
        match res {
            Ok(n) => {
                assert_eq!(n, data.len() as u64, "seed {seed}: bytes copied");
                assert!(
                    std::fs::read(&to).unwrap() == data,
                    "seed {seed}: the copy differs from its source"
                );
                copied += 1;
            }
            Err(e) => {
                // Clear: the errno's own words (or the example's), never an empty message.
                let msg = e.to_string();
                assert!(
                    e.raw_os_error().is_some() || !msg.is_empty(),
                    "seed {seed}: an unclear error {e:?}"
                );
                failed += 1;
            }
        }
    }
    println!("{copied} copies exact, {failed} ended with an error");
    assert_eq!(
        open_fds(),
        before,
        "fds left open after the runtimes were dropped"
    );
    let _ = std::fs::remove_file(&from);
    let _ = std::fs::remove_file(&to);
}
