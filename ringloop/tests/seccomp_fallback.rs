//! Where io_uring is blocked (Docker's default seccomp profile denies `io_uring_setup` with
//! EPERM), a default runtime runs on the fallback driver and serves the same program: the
//! test re-runs itself as a child that installs such a filter, then echoes bytes over
//! loopback TCP and copies a file, on one core and on two, and checks every byte. The parent
//! checks the child passed and logged the fallback warning exactly once for all its cores.

use std::io;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ringloop::net::{TcpListener, TcpStream};
use ringloop::{Builder, DriverKind};

/// Set in the child's environment: it is the child.
const CHILD: &str = "RINGLOOP_TEST_SECCOMP_FALLBACK_CHILD";
/// Starts each line the child's subscriber prints for a `warn` event.
const WARN: &str = "CHILD-WARN: ";
/// What the runtime's fallback warning says (`driver::warn_fallback_once`).
const FALLBACK_WARNING: &str = "io_uring is unavailable, so the runtime runs its epoll fallback";

#[test]
fn a_default_runtime_serves_and_copies_where_seccomp_denies_io_uring() {
    const NAME: &str = "a_default_runtime_serves_and_copies_where_seccomp_denies_io_uring";
    if std::env::var_os(CHILD).is_some() {
        return child();
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", NAME, "--nocapture", "--test-threads", "1"])
        .env(CHILD, "1")
        // The child's runtime chooses by itself (auto), whatever this run forces.
        .env_remove("RUNTIME_DRIVER")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "child failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    if let Some(line) = stdout.lines().find(|l| l.starts_with("CHILD-SKIP")) {
        println!("skipped: {line}");
        return;
    }
    assert!(
        stdout.contains("CHILD-OK"),
        "child output:\n{stdout}\n{stderr}"
    );
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with(WARN) && l.contains(FALLBACK_WARNING))
        .collect();
    assert_eq!(
        warnings.len(),
        1,
        "the fallback warning, once for the process (3 cores set up):\n{stderr}"
    );
    // It quotes the setup error: the cause (EPERM) and where to look.
    assert!(warnings[0].contains("EPERM"), "{}", warnings[0]);
    assert!(warnings[0].contains("seccomp"), "{}", warnings[0]);
}

fn child() {
    let arch = match std::env::consts::ARCH {
        "x86_64" => AUDIT_ARCH_X86_64,
        "aarch64" => AUDIT_ARCH_AARCH64,
        other => {
            println!("CHILD-SKIP: no seccomp filter written for {other}");
            return;
        }
    };
    tracing::subscriber::set_global_default(PrintWarnings).expect("the child's only subscriber");
    if let Err(e) = deny_io_uring_setup(arch) {
        println!("CHILD-SKIP: could not install a seccomp filter: {e}");
        return;
    }
    // The filter works: io_uring itself is refused, with EPERM.
    let forced = Builder::new()
        .driver(ringloop::DriverChoice::IoUring)
        .build()
        .expect_err("io_uring is denied");
    assert!(forced.to_string().contains("EPERM"), "{forced}");
    // IOPOLL rings are the kernel's alone: where io_uring is denied they fail to build, and
    // say why (the fallback has no slower route for polled completions).
    let polled = ringloop::iopoll::PolledRing::new(4).expect_err("io_uring is denied");
    assert!(polled.to_string().contains("EPERM"), "{polled}");

    let rt = Builder::new().cores(2).pin_cores(false).build().unwrap();
    rt.block_on(async {
        assert_eq!(ringloop::driver_kind(), Some(DriverKind::Fallback));
        echo(64 << 10).await.expect("echo");
        copy(256 << 10, 0).await.expect("copy");
    });
    // Two more cores, each setting up its own driver: no second warning.
    let kinds = rt.run_per_core(|core| async move {
        echo(16 << 10).await.expect("echo on a core");
        copy(64 << 10, core + 1).await.expect("copy on a core");
        ringloop::driver_kind()
    });
    assert_eq!(kinds, [Some(DriverKind::Fallback); 2]);
    println!("CHILD-OK");
}

/// The bytes sent: a pattern that shows a lost, repeated or reordered chunk.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// Echoes `len` bytes over loopback TCP and checks they come back unchanged.
async fn echo(len: usize) -> io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = ringloop::spawn(async move {
        let (stream, _) = listener.accept().await?;
        loop {
            let (n, buf) = stream.read(Vec::with_capacity(16 << 10)).await;
            if n? == 0 {
                return Ok::<_, io::Error>(());
            }
            let (res, _) = stream.write_all(buf).await;
            res?;
        }
    });
    let client = Rc::new(TcpStream::connect(addr).await?);
    let data = pattern(len);
    let writer = ringloop::spawn({
        let (client, data) = (client.clone(), data.clone());
        async move {
            let (res, _) = client.write_all(data).await;
            res?;
            client.shutdown(std::net::Shutdown::Write).await
        }
    });
    let (res, got) = client.read_exact(Vec::with_capacity(len)).await;
    res?;
    writer.await.unwrap()?;
    server.await.unwrap()?;
    assert!(got == data, "echoed bytes differ");
    Ok(())
}

/// Writes `len` bytes to a file, copies it with `fs::copy`, and checks the copy.
async fn copy(len: usize, n: usize) -> io::Result<()> {
    let dir = std::env::temp_dir();
    let tag = format!("ringloop-seccomp-{}-{n}", std::process::id());
    let (from, to) = (
        dir.join(format!("{tag}-from")),
        dir.join(format!("{tag}-to")),
    );
    let data = pattern(len);
    ringloop::fs::write(&from, data.clone()).await?;
    let copied = ringloop::fs::copy(&from, &to).await;
    let read = ringloop::fs::read(&to).await;
    let _ = ringloop::fs::remove_file(&from).await;
    let _ = ringloop::fs::remove_file(&to).await;
    assert_eq!(copied?, len as u64);
    assert!(read? == data, "the copy differs");
    Ok(())
}

/// `AUDIT_ARCH_*` of `<linux/audit.h>`: the architecture a seccomp filter sees.
const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
const AUDIT_ARCH_AARCH64: u32 = 0xC000_00B7;

/// Installs, on every thread of this process, a seccomp filter that fails `io_uring_setup`
/// with EPERM, as Docker's default profile does (other syscalls, and other architectures'
/// syscalls, pass).
fn deny_io_uring_setup(arch: u32) -> io::Result<()> {
    use libc::{BPF_ABS, BPF_JEQ, BPF_JMP, BPF_K, BPF_LD, BPF_RET, BPF_W, sock_filter, sock_fprog};
    // Offsets in struct seccomp_data: nr at 0, arch at 4.
    const NR: u32 = 0;
    const ARCH: u32 = 4;
    let stmt = |code: u32, k: u32| sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    let jeq = |k: u32, jt: u8, jf: u8| sock_filter {
        code: (BPF_JMP | BPF_JEQ | BPF_K) as u16,
        jt,
        jf,
        k,
    };
    let filter = [
        stmt(BPF_LD | BPF_W | BPF_ABS, ARCH),
        jeq(arch, 1, 0),
        stmt(BPF_RET | BPF_K, libc::SECCOMP_RET_ALLOW),
        stmt(BPF_LD | BPF_W | BPF_ABS, NR),
        jeq(libc::SYS_io_uring_setup as u32, 0, 1),
        stmt(
            BPF_RET | BPF_K,
            libc::SECCOMP_RET_ERRNO | libc::EPERM as u32,
        ),
        stmt(BPF_RET | BPF_K, libc::SECCOMP_RET_ALLOW),
    ];
    let prog = sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr().cast_mut(),
    };
    // SAFETY: PR_SET_NO_NEW_PRIVS takes integers only.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `prog` points to `filter`, both alive for the call; the kernel copies them.
    // TSYNC puts the filter on the process's other threads too.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            libc::SECCOMP_FILTER_FLAG_TSYNC,
            &raw const prog,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A `tracing` subscriber that prints each `warn` event's fields to stderr, one line each
/// (prefixed [`WARN`]), and counts them: the child's window on what the runtime logs.
struct PrintWarnings;

static SPANS: AtomicUsize = AtomicUsize::new(1);

impl tracing::Subscriber for PrintWarnings {
    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        *metadata.level() <= tracing::Level::WARN
    }

    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(SPANS.fetch_add(1, Ordering::Relaxed) as u64)
    }

    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}

    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}

    fn event(&self, event: &tracing::Event<'_>) {
        struct Line(String);
        impl tracing::field::Visit for Line {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                use std::fmt::Write;
                let _ = write!(self.0, "{}={value:?} ", field.name());
            }
        }
        let mut line = Line(String::new());
        event.record(&mut line);
        eprintln!("{WARN}{} {}", event.metadata().level(), line.0);
    }

    fn enter(&self, _: &tracing::span::Id) {}

    fn exit(&self, _: &tracing::span::Id) {}
}
