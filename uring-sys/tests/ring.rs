//! `Ring` against the running kernel: round trips, files, a full SQ, an overflowing CQ, timed
//! waits, the probe, SQPOLL, provided-buffer rings with multishot recv, fixed files and
//! buffers, links, and setup failures (a seccomp filter denying `io_uring_setup`, bad sizes).
//!
//! Everything uses temp files and socket pairs only, and each test ends well under a second.

use std::collections::HashSet;
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::Command;
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use uring_sys::abi;
use uring_sys::prep::{prep_nop, prep_read, prep_read_fixed, prep_recv_multishot, prep_write};
use uring_sys::{Cqe, Ring, SetupError, SqFull, syscall};

/// A file under the temp dir with a unique name, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn with_contents(tag: &str, contents: &[u8]) -> TempFile {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "uring-sys-{tag}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&path, contents).expect("write the temp file");
        TempFile(path)
    }

    fn open(&self, write: bool) -> std::fs::File {
        std::fs::OpenOptions::new()
            .read(true)
            .write(write)
            .open(&self.0)
            .expect("open the temp file")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `len` bytes of a pattern that makes a misplaced or reordered byte visible.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// Waits for and pops exactly `n` CQEs.
fn wait_for(ring: &mut Ring, n: usize) -> Vec<Cqe> {
    let mut cqes = Vec::with_capacity(n);
    while cqes.len() < n {
        ring.submit_and_wait(1).expect("io_uring_enter");
        cqes.extend(ring.cq().take(n - cqes.len()));
    }
    cqes
}

#[test]
fn nop_round_trip_returns_user_data_and_zero() {
    let mut ring = Ring::new(8).expect("ring");
    // SAFETY: a NOP points to no memory.
    unsafe { ring.sq().push(&prep_nop().user_data(0xdead_beef)) }.expect("empty SQ has room");
    let submitted = ring.submit_and_wait(1).expect("enter");
    assert_eq!(submitted, 1);
    let cqe = ring.cq().pop().expect("waited for one CQE");
    assert_eq!(
        (cqe.user_data(), cqe.res(), cqe.flags()),
        (0xdead_beef, 0, 0)
    );
    assert!(ring.cq().pop().is_none());
}

#[test]
fn read_returns_the_bytes_of_a_known_file() {
    let contents = pattern(4096);
    let file = TempFile::with_contents("read", &contents);
    let f = file.open(false);
    let mut ring = Ring::new(8).expect("ring");
    let mut whole = vec![0u8; 4096];
    let mut middle = vec![0u8; 50];
    let sqes = [
        prep_read(f.as_raw_fd(), whole.as_mut_ptr(), 4096, 0).user_data(1),
        prep_read(f.as_raw_fd(), middle.as_mut_ptr(), 50, 100).user_data(2),
    ];
    // SAFETY: both buffers and `f` live until the CQEs are reaped below.
    unsafe { ring.sq().push_all(&sqes) }.expect("room for two");
    let mut cqes = wait_for(&mut ring, 2);
    cqes.sort_by_key(Cqe::user_data);
    assert_eq!(cqes[0].result().expect("read"), 4096);
    assert_eq!(cqes[1].result().expect("read at offset"), 50);
    assert_eq!(whole, contents);
    assert_eq!(middle, contents[100..150]);
}

#[test]
fn write_then_read_back_returns_the_same_bytes() {
    let file = TempFile::with_contents("write", &[]);
    let f = file.open(true);
    let data = pattern(10_000);
    let mut ring = Ring::new(8).expect("ring");

    let sqe = prep_write(f.as_raw_fd(), data.as_ptr(), data.len() as u32, 0).user_data(1);
    // SAFETY: `data` and `f` outlive the wait below.
    unsafe { ring.sq().push(&sqe) }.expect("room");
    let cqe = wait_for(&mut ring, 1)[0];
    assert_eq!(cqe.result().expect("write"), data.len() as u32);

    let mut back = vec![0u8; data.len()];
    let sqe = prep_read(f.as_raw_fd(), back.as_mut_ptr(), back.len() as u32, 0).user_data(2);
    // SAFETY: `back` and `f` outlive the wait below.
    unsafe { ring.sq().push(&sqe) }.expect("room");
    let cqe = wait_for(&mut ring, 1)[0];
    assert_eq!(cqe.result().expect("read"), data.len() as u32);
    assert_eq!(back, data);
    assert_eq!(std::fs::read(&file.0).expect("read with std"), data);
}

#[test]
fn ten_thousand_nops_through_a_64_entry_sq_lose_none() {
    const N: u64 = 10_000;
    let mut ring = Ring::new(64).expect("ring");
    assert_eq!(ring.sq().capacity(), 64);
    let mut seen = vec![false; N as usize];
    let (mut pushed, mut reaped, mut full) = (0u64, 0u64, 0u32);
    while reaped < N {
        while pushed < N {
            // SAFETY: a NOP points to no memory.
            match unsafe { ring.sq().push(&prep_nop().user_data(pushed)) } {
                Ok(()) => pushed += 1,
                Err(SqFull) => {
                    full += 1;
                    break;
                }
            }
        }
        // Wait only when everything is pushed and CQEs are still due.
        let want = u32::from(pushed == N);
        ring.submit_and_wait(want).expect("enter");
        for cqe in ring.cq() {
            assert_eq!(cqe.res(), 0);
            let seen = &mut seen[cqe.user_data() as usize];
            assert!(!*seen, "user_data {} completed twice", cqe.user_data());
            *seen = true;
            reaped += 1;
        }
    }
    assert!(seen.iter().all(|&s| s), "some NOP never completed");
    assert!(
        full >= (N / 64 - 1) as u32,
        "the SQ filled only {full} times"
    );
    assert_eq!(ring.cq().overflow(), 0, "the kernel dropped CQEs");
    assert_eq!(ring.sq().dropped(), 0, "the kernel dropped SQEs");
}

#[test]
fn tiny_cq_overflow_is_flushed_on_enter_and_loses_none() {
    const N: u64 = 64;
    let mut ring = Ring::builder(8).cq_entries(8).build().expect("ring");
    assert_eq!(ring.cq().capacity(), 8);
    assert!(ring.has_feature(abi::IORING_FEAT_NODROP));
    // Eight rounds of eight NOPs without reaping: 56 CQEs overflow into the kernel's backlog.
    for round in 0..N / 8 {
        for i in 0..8 {
            // SAFETY: a NOP points to no memory.
            unsafe { ring.sq().push(&prep_nop().user_data(round * 8 + i)) }.expect("SQ drained");
        }
        assert_eq!(ring.submit().expect("submit with an overflowing CQ"), 8);
    }
    assert_eq!(ring.cq().len(), 8);
    assert!(
        ring.sq().cq_overflow(),
        "the SQ flags should show the overflow"
    );

    let mut seen = HashSet::new();
    let mut enters = 0;
    while (seen.len() as u64) < N {
        for cqe in ring.cq() {
            assert_eq!(cqe.res(), 0);
            assert!(seen.insert(cqe.user_data()), "{} twice", cqe.user_data());
        }
        if (seen.len() as u64) < N {
            // Nothing to submit: submit() enters only because the overflow flag asks for a
            // GETEVENTS enter, which moves the backlog into the freed CQ slots.
            assert!(
                ring.sq().cq_overflow(),
                "CQEs missing but no overflow flagged"
            );
            ring.submit().expect("flush the overflow");
            enters += 1;
            assert!(enters <= N, "the overflow does not drain");
        }
    }
    assert_eq!(seen, (0..N).collect());
    assert!(!ring.sq().cq_overflow());
    assert_eq!(ring.cq().overflow(), 0, "the kernel dropped CQEs");
}

#[test]
fn timed_wait_with_nothing_in_flight_fails_with_etime_after_the_timeout() {
    let mut ring = Ring::new(4).expect("ring");
    let start = Instant::now();
    let err = ring
        .submit_and_wait_timeout(1, Duration::from_millis(20))
        .expect_err("nothing can complete");
    let elapsed = start.elapsed();
    assert_eq!(err.raw_os_error(), Some(libc::ETIME), "{err}");
    assert!(
        elapsed >= Duration::from_millis(20),
        "woke after {elapsed:?}"
    );
    assert!(elapsed < Duration::from_secs(5), "woke after {elapsed:?}");
}

#[test]
fn probe_reports_nop_and_read_supported() {
    let ring = Ring::new(4).expect("ring");
    let probe = ring.probe().expect("probe (5.6)");
    assert!(probe.is_supported(abi::IORING_OP_NOP), "{probe:?}");
    assert!(probe.is_supported(abi::IORING_OP_READ), "{probe:?}");
    assert!(probe.last_op() >= abi::IORING_OP_READ, "{probe:?}");
}

#[test]
fn sqpoll_ring_completes_nops_and_wakes_its_idle_poller() {
    let mut ring = Ring::builder(8)
        .sqpoll(Duration::from_millis(10))
        .build()
        .expect("SQPOLL ring (unprivileged since 5.11)");
    for i in 0..4 {
        // SAFETY: a NOP points to no memory.
        unsafe { ring.sq().push(&prep_nop().user_data(i)) }.expect("room");
    }
    assert_eq!(ring.submit().expect("submit"), 4);
    let mut ids: Vec<u64> = wait_for(&mut ring, 4).iter().map(Cqe::user_data).collect();
    ids.sort_unstable();
    assert_eq!(ids, [0, 1, 2, 3]);

    // After 10 ms without work the poller sleeps and asks for a wake-up. Give a loaded
    // machine some slack before calling that a failure.
    std::thread::sleep(Duration::from_millis(50));
    let deadline = Instant::now() + Duration::from_secs(2);
    while !ring.sq().need_wakeup() {
        assert!(Instant::now() < deadline, "the SQ thread never went idle");
        std::thread::sleep(Duration::from_millis(5));
    }
    // SAFETY: a NOP points to no memory.
    unsafe { ring.sq().push(&prep_nop().user_data(99)) }.expect("room");
    assert_eq!(ring.submit().expect("submit waking the poller"), 1);
    let cqe = wait_for(&mut ring, 1)[0];
    assert_eq!((cqe.user_data(), cqe.res()), (99, 0));
}

#[test]
fn multishot_recv_with_a_buffer_ring_delivers_every_byte_in_order() {
    const BUF_LEN: usize = 4096;
    const BUFS: u16 = 16;
    const GROUP: u16 = 7;
    const TOTAL: usize = 64 * 1024;
    const RECV: u64 = 1;

    // Declared first, so dropped after the ring: the kernel may write them until then.
    let mut buffers = vec![0u8; BUF_LEN * BUFS as usize];
    let base = buffers.as_mut_ptr();
    let mut ring = Ring::new(32).expect("ring");
    let mut buf_ring = match ring.setup_buf_ring(BUFS, GROUP) {
        Ok(b) => b,
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            println!("skipped: no provided-buffer rings on this kernel (5.19): {e}");
            return;
        }
        Err(e) => panic!("setup_buf_ring: {e}"),
    };
    for bid in 0..BUFS {
        // SAFETY: each buffer is a distinct BUF_LEN slice of `buffers`, which outlives the
        // ring; we touch it only after a CQE hands it back.
        unsafe { buf_ring.push(base.add(bid as usize * BUF_LEN), BUF_LEN as u32, bid) };
    }
    buf_ring.publish();

    let (rx, mut tx) = UnixStream::pair().expect("socketpair");
    let sender = std::thread::spawn(move || {
        let data = pattern(TOTAL);
        for chunk in data.chunks(1000) {
            tx.write_all(chunk).expect("send");
        }
        // Dropping `tx` closes it: the receiver sees EOF.
    });

    let arm = |ring: &mut Ring| {
        let sqe = prep_recv_multishot(rx.as_raw_fd(), GROUP, 0).user_data(RECV);
        // SAFETY: the SQE points to no memory of ours besides the registered buffer group;
        // `rx` stays open until the final CQE (EOF) is reaped.
        unsafe { ring.sq().push(&sqe) }.expect("room to arm");
    };
    arm(&mut ring);
    let mut received = Vec::with_capacity(TOTAL);
    let (mut rearms, mut cqes) = (0, 0);
    'outer: loop {
        ring.submit_and_wait(1).expect("enter");
        while let Some(cqe) = ring.cq().pop() {
            cqes += 1;
            assert_eq!(cqe.user_data(), RECV);
            match cqe.res() {
                0 => {
                    assert!(!cqe.more(), "EOF ends the multishot recv");
                    break 'outer;
                }
                n if n > 0 => {
                    let bid = cqe.buffer_id().expect("a recv with data names its buffer");
                    let start = bid as usize * BUF_LEN;
                    // SAFETY: the kernel handed buffer `bid` back with this CQE and writes it
                    // no more until we push it again below; `n <= BUF_LEN`.
                    let data = unsafe { std::slice::from_raw_parts(base.add(start), n as usize) };
                    received.extend_from_slice(data);
                    // SAFETY: as at setup; the buffer's bytes were copied out above.
                    unsafe { buf_ring.push(base.add(start), BUF_LEN as u32, bid) };
                    buf_ring.publish();
                }
                e if e == -libc::ENOBUFS => {
                    assert!(
                        !cqe.more(),
                        "running out of buffers ends the multishot recv"
                    );
                }
                e => panic!("recv failed: {}", io::Error::from_raw_os_error(-e)),
            }
            if !cqe.more() {
                rearms += 1;
                arm(&mut ring);
            }
        }
    }
    sender.join().expect("sender thread");
    println!("{cqes} CQEs, {rearms} re-arms");
    assert_eq!(received.len(), TOTAL);
    assert!(received == pattern(TOTAL), "bytes arrived out of order");
    ring.unregister_buf_ring(GROUP).expect("unregister");
}

#[test]
fn fixed_file_and_fixed_buffer_read_returns_the_file_bytes() {
    let contents = pattern(3000);
    let file = TempFile::with_contents("fixed", &contents);
    let f = file.open(false);
    let mut buf = vec![0u8; 4096];
    let mut ring = Ring::new(8).expect("ring");
    ring.register_files(&[f.as_raw_fd()])
        .expect("register files");
    let iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: `buf` outlives the ring's use of it: it is unregistered below before `buf` drops.
    unsafe { ring.register_buffers(&[iov]) }.expect("register buffers");

    // Fixed file 0, fixed buffer 0; read 3000 bytes at offset 0 into the buffer's start.
    let sqe = prep_read_fixed(0, buf.as_mut_ptr(), 3000, 0, 0)
        .fixed_file()
        .user_data(5);
    // SAFETY: `buf` is registered and outlives the wait; fixed file 0 is `f`, still open.
    unsafe { ring.sq().push(&sqe) }.expect("room");
    let cqe = wait_for(&mut ring, 1)[0];
    assert_eq!(cqe.user_data(), 5);
    assert_eq!(cqe.result().expect("read_fixed"), 3000);
    ring.unregister_buffers().expect("unregister buffers");
    ring.unregister_files().expect("unregister files");
    assert_eq!(buf[..3000], contents[..]);
}

#[test]
fn failed_link_head_cancels_the_linked_sqe() {
    let mut ring = Ring::new(8).expect("ring");
    let mut buf = [0u8; 16];
    let sqes = [
        prep_read(-1, buf.as_mut_ptr(), 16, 0)
            .user_data(1)
            .flags(abi::IOSQE_IO_LINK),
        prep_nop().user_data(2),
    ];
    // SAFETY: `buf` outlives the wait below (the read fails before touching it anyway).
    unsafe { ring.sq().push_all(&sqes) }.expect("room for the chain");
    let mut cqes = wait_for(&mut ring, 2);
    cqes.sort_by_key(Cqe::user_data);
    assert_eq!(cqes[0].res(), -libc::EBADF, "the head fails on fd -1");
    assert_eq!(cqes[1].res(), -libc::ECANCELED, "the linked NOP never runs");
}

/// Set in the child process of the seccomp test.
const SECCOMP_CHILD: &str = "URING_SYS_TEST_SECCOMP_CHILD";

/// `AUDIT_ARCH_*` of this target (`EM_*` | 64-bit | little-endian), for the filter.
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: Option<u32> = Some(0xc000_003e);
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: Option<u32> = Some(0xc000_00b7);
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const AUDIT_ARCH: Option<u32> = None;

/// Installs a seccomp filter on this thread that fails `io_uring_setup` with EPERM, the way
/// Docker's default profile does, and allows everything else.
fn deny_io_uring_setup(arch: u32) {
    let stmt = |code: u32, k: u32| libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    let jeq = |k: u32, jt: u8, jf: u8| libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    };
    let load = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
    let ret = libc::BPF_RET | libc::BPF_K;
    // struct seccomp_data { int nr; __u32 arch; ... }: nr at 0, arch at 4.
    let mut filter = [
        stmt(load, 4),
        jeq(arch, 1, 0),
        stmt(ret, libc::SECCOMP_RET_ALLOW),
        stmt(load, 0),
        jeq(abi::SYS_IO_URING_SETUP as u32, 0, 1),
        stmt(ret, libc::SECCOMP_RET_ERRNO | libc::EPERM as u32),
        stmt(ret, libc::SECCOMP_RET_ALLOW),
    ];
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_mut_ptr(),
    };
    // SAFETY: PR_SET_NO_NEW_PRIVS takes plain integers.
    let rc = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    assert_eq!(rc, 0, "PR_SET_NO_NEW_PRIVS: {}", io::Error::last_os_error());
    // SAFETY: `prog` points to `filter`, both alive for the call; the kernel copies them.
    let rc = unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER as libc::c_ulong,
            &prog as *const libc::sock_fprog,
        )
    };
    assert_eq!(rc, 0, "PR_SET_SECCOMP: {}", io::Error::last_os_error());
}

#[test]
fn io_uring_setup_denied_by_seccomp_explains_the_fix() {
    const NAME: &str = "io_uring_setup_denied_by_seccomp_explains_the_fix";
    let Some(arch) = AUDIT_ARCH else {
        println!("skipped: no AUDIT_ARCH for this target");
        return;
    };
    if std::env::var_os(SECCOMP_CHILD).is_some() {
        // The child: deny, then try.
        deny_io_uring_setup(arch);
        match Ring::new(8) {
            Ok(_) => panic!("io_uring_setup succeeded under the seccomp filter"),
            Err(e) => {
                let errno = e
                    .get_ref()
                    .and_then(|inner| inner.downcast_ref::<SetupError>())
                    .map(SetupError::errno);
                assert_eq!(errno, Some(libc::EPERM), "{e}");
                assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
                println!("CHILD SAW: {e}");
            }
        }
        return;
    }
    // The parent: run this test alone in a child process, so the filter stays there.
    let exe = std::env::current_exe().expect("current test binary");
    let out = Command::new(exe)
        .args(["--exact", NAME, "--nocapture", "--test-threads=1"])
        .env(SECCOMP_CHILD, "1")
        .output()
        .expect("spawn the child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let all = format!("{stdout}{stderr}");
    assert!(
        out.status.success() && !all.contains("panicked"),
        "the child failed:\n{all}"
    );
    assert!(all.contains("1 passed"), "the child ran no test:\n{all}");
    for needle in ["CHILD SAW", "EPERM", "kernel.io_uring_disabled", "seccomp"] {
        assert!(
            all.contains(needle),
            "no {needle:?} in the child's output:\n{all}"
        );
    }
}

#[test]
fn zero_entries_fails_with_a_message_naming_the_valid_range() {
    let err = Ring::new(0).expect_err("0 entries is invalid");
    let msg = err.to_string();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{msg}");
    assert!(
        msg.contains("EINVAL") && msg.contains("1 to 32768"),
        "{msg}"
    );
    let inner = err.get_ref().and_then(|e| e.downcast_ref::<SetupError>());
    assert_eq!(inner.map(SetupError::errno), Some(libc::EINVAL));
}

#[test]
fn defer_taskrun_without_single_issuer_fails_naming_the_rule() {
    let err = Ring::builder(8)
        .defer_taskrun(true)
        .build()
        .expect_err("DEFER_TASKRUN alone is invalid");
    let msg = err.to_string();
    assert!(msg.contains("DEFER_TASKRUN needs SINGLE_ISSUER"), "{msg}");
}

/// Whether the kernel has `opcode`; prints why the test skips when it has not.
fn probe_has(ring: &Ring, opcode: u8) -> bool {
    let probe = ring.probe().expect("probe");
    let has = probe.is_supported(opcode);
    if !has {
        let name = abi::OPCODE_NAMES[opcode as usize];
        println!("skipped: this kernel has no IORING_OP_{name}");
    }
    has
}

#[test]
fn multishot_read_from_a_pipe_fills_provided_buffers() {
    const BUF_LEN: usize = 256;
    const BUFS: u16 = 8;
    const GROUP: u16 = 3;
    let mut buffers = vec![0u8; BUF_LEN * BUFS as usize];
    let base = buffers.as_mut_ptr();
    let mut ring = Ring::new(8).expect("ring");
    if !probe_has(&ring, abi::IORING_OP_READ_MULTISHOT) {
        return;
    }
    let mut buf_ring = ring.setup_buf_ring(BUFS, GROUP).expect("buffer ring");
    for bid in 0..BUFS {
        // SAFETY: distinct BUF_LEN slices of `buffers`, which outlives the ring.
        unsafe { buf_ring.push(base.add(bid as usize * BUF_LEN), BUF_LEN as u32, bid) };
    }
    buf_ring.publish();
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two fds pipe(2) writes.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: pipe(2) just gave us both fds; nobody else owns them.
    let (rd, wr) = unsafe {
        use std::os::fd::{FromRawFd, OwnedFd};
        (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1]))
    };
    let sqe = uring_sys::prep::prep_read_multishot(rd.as_raw_fd(), 0, 0, GROUP).user_data(9);
    // SAFETY: the read lands in provided buffers only; `rd` stays open until the end.
    unsafe { ring.sq().push(&sqe) }.expect("room");
    ring.submit().expect("submit");
    let mut writer = std::fs::File::from(wr);
    let mut received = Vec::new();
    for chunk in [&b"first"[..], b"second", b"third"] {
        writer.write_all(chunk).expect("write to the pipe");
        let cqe = wait_for(&mut ring, 1)[0];
        let n = cqe.result().expect("multishot read") as usize;
        assert!(cqe.more(), "the read stays armed");
        let bid = cqe.buffer_id().expect("a provided buffer");
        // SAFETY: the CQE handed buffer `bid` back; the kernel no longer writes it.
        let data = unsafe { std::slice::from_raw_parts(base.add(bid as usize * BUF_LEN), n) };
        received.extend_from_slice(data);
    }
    assert_eq!(received, b"firstsecondthird");
    drop(writer);
    let last = wait_for(&mut ring, 1)[0];
    assert_eq!((last.res(), last.more()), (0, false), "EOF ends the read");
    ring.unregister_buf_ring(GROUP).expect("unregister");
}

#[test]
fn fixed_fd_install_turns_a_fixed_file_into_a_regular_fd() {
    let contents = pattern(64);
    let file = TempFile::with_contents("install", &contents);
    let f = file.open(false);
    let mut ring = Ring::new(8).expect("ring");
    if !probe_has(&ring, abi::IORING_OP_FIXED_FD_INSTALL) {
        return;
    }
    ring.register_files(&[f.as_raw_fd()])
        .expect("register files");
    drop(f);
    let sqe = uring_sys::prep::prep_fixed_fd_install(0, 0).user_data(4);
    // SAFETY: the SQE points to no memory; fixed file 0 stays registered.
    unsafe { ring.sq().push(&sqe) }.expect("room");
    let cqe = wait_for(&mut ring, 1)[0];
    let fd = cqe.result().expect("fixed fd install") as i32;
    // SAFETY: the kernel just installed `fd` for us; nobody else owns it.
    let installed = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    let mut back = Vec::new();
    io::Read::read_to_end(&mut &installed, &mut back).expect("read the installed fd");
    assert_eq!(back, contents);
}

#[test]
fn pipe_op_creates_a_connected_pipe() {
    let mut ring = Ring::new(8).expect("ring");
    if !probe_has(&ring, abi::IORING_OP_PIPE) {
        return;
    }
    let mut fds = [-1; 2];
    let sqe = uring_sys::prep::prep_pipe(fds.as_mut_ptr(), 0).user_data(6);
    // SAFETY: `fds` outlives the wait below.
    unsafe { ring.sq().push(&sqe) }.expect("room");
    let cqe = wait_for(&mut ring, 1)[0];
    cqe.result().expect("pipe op");
    // SAFETY: the kernel wrote two fresh fds into `fds`; nobody else owns them.
    let (rd, wr) = unsafe {
        use std::os::fd::FromRawFd;
        (
            std::fs::File::from_raw_fd(fds[0]),
            std::fs::File::from_raw_fd(fds[1]),
        )
    };
    (&wr).write_all(b"ping").expect("write");
    drop(wr);
    let mut back = Vec::new();
    io::Read::read_to_end(&mut &rd, &mut back).expect("read");
    assert_eq!(back, b"ping");
}

/// Set in a child process that [`run_alone`] started to run one test by itself.
const ALONE_CHILD: &str = "URING_SYS_TEST_ALONE_CHILD";

/// Runs test `name` alone in a child process (for checks of process-wide state, such as the
/// fd table, that other tests running in parallel would disturb) and fails if it failed.
fn run_alone(name: &str) {
    let exe = std::env::current_exe().expect("current test binary");
    let out = Command::new(exe)
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(ALONE_CHILD, "1")
        .output()
        .expect("spawn the child");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "the child failed ({}):\n{all}",
        out.status
    );
    assert!(all.contains("1 passed"), "the child ran no test:\n{all}");
}

/// A ring registers its fd in its *thread's* table of 16 slots (`IORING_REGISTER_RING_FDS`).
/// Unless dropping the ring frees its slot, the 17th ring on a thread silently enters by
/// plain fd, and every dropped ring stays alive in the kernel until the thread exits.
#[test]
fn forty_rings_created_and_dropped_on_one_thread_all_use_a_registered_fd() {
    // A fresh thread, so its slots start empty whatever ran on the test thread before.
    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 0..40 {
                let ring = Ring::builder(2)
                    .register_ring_fd(true)
                    .build()
                    .expect("ring");
                if i == 0 && !ring.uses_registered_fd() {
                    println!("skipped: this kernel has no IORING_REGISTER_RING_FDS (5.18)");
                    return;
                }
                assert!(
                    ring.uses_registered_fd(),
                    "ring {i} found no free registered-ring slot: a dropped ring kept its slot"
                );
            }
        });
    });
}

/// `(open fds, io_uring fds, io_uring mappings)` of this process.
fn io_uring_footprint() -> (usize, usize, usize) {
    let mut fds = 0;
    let mut rings = 0;
    for entry in std::fs::read_dir("/proc/self/fd").expect("/proc/self/fd") {
        let entry = entry.expect("fd entry");
        fds += 1;
        // read_dir's own fd is listed too, alike in every count.
        if let Ok(target) = std::fs::read_link(entry.path())
            && target.to_string_lossy().contains("[io_uring]")
        {
            rings += 1;
        }
    }
    let maps = std::fs::read_to_string("/proc/self/maps").expect("/proc/self/maps");
    let mappings = maps.lines().filter(|l| l.contains("[io_uring]")).count();
    (fds, rings, mappings)
}

#[test]
fn dropped_rings_leave_no_fd_mapping_or_registered_ring_behind() {
    const NAME: &str = "dropped_rings_leave_no_fd_mapping_or_registered_ring_behind";
    if std::env::var_os(ALONE_CHILD).is_none() {
        // Other tests open fds and rings in parallel; count in a process of our own.
        run_alone(NAME);
        return;
    }
    std::thread::scope(|s| {
        s.spawn(|| {
            let before = io_uring_footprint();
            for i in 0..40 {
                let ring = Ring::builder(2)
                    .register_ring_fd(true)
                    .build()
                    .expect("ring");
                if i == 0 {
                    if !ring.uses_registered_fd() {
                        println!("skipped: this kernel has no IORING_REGISTER_RING_FDS (5.18)");
                        return;
                    }
                    // The counts see a live ring, so their coming back means something.
                    let (fds, rings, mappings) = io_uring_footprint();
                    assert_eq!((fds, rings), (before.0 + 1, before.1 + 1));
                    assert!(
                        mappings > before.2,
                        "no io_uring mapping in /proc/self/maps"
                    );
                }
            }
            assert_eq!(
                io_uring_footprint(),
                before,
                "(fds, io_uring fds, io_uring maps)"
            );
            // The fds are closed either way; what keeps a ring alive in the kernel after its
            // fd is closed is a registered slot of this thread. Every slot must be empty.
            for slot in 0..16 {
                // SAFETY: no SQE is submitted (to_submit 0) and no argument is passed.
                let r = unsafe {
                    syscall::enter(
                        slot,
                        0,
                        0,
                        abi::IORING_ENTER_REGISTERED_RING,
                        ptr::null(),
                        0,
                    )
                };
                assert_eq!(
                    r.map_err(|e| e.raw_os_error()),
                    Err(Some(libc::EBADF)),
                    "registered-ring slot {slot} still holds a dropped ring"
                );
            }
        });
    });
}

/// With `IORING_SETUP_REGISTERED_FD_ONLY` the kernel returns a registered-ring index, not an
/// fd: wrapped as an `OwnedFd`, index 0 would close fd 0, which nobody gave us. The request
/// is well formed (NO_MMAP memory included), so only `setup` itself can refuse it.
#[test]
fn setup_with_registered_fd_only_is_refused_and_fd_0_stays_open() {
    // SAFETY: F_GETFD takes no argument and changes nothing.
    let fd0_open = || unsafe { libc::fcntl(0, libc::F_GETFD) } != -1;
    let had_fd0 = fd0_open();
    // One page each for the SQEs and for the rings of a 2-entry ring, as NO_MMAP wants.
    let sqes = uring_sys::mmap::Mmap::anonymous(4096).expect("sqe memory");
    let rings = uring_sys::mmap::Mmap::anonymous(4096).expect("ring memory");
    let mut params = abi::io_uring_params {
        flags: abi::IORING_SETUP_NO_MMAP | abi::IORING_SETUP_REGISTERED_FD_ONLY,
        ..Default::default()
    };
    params.sq_off.user_addr = sqes.as_ptr() as u64;
    params.cq_off.user_addr = rings.as_ptr() as u64;
    // SAFETY: setup refuses REGISTERED_FD_ONLY before the syscall, so no ring uses the
    // memory NO_MMAP names (which lives to the end of the test anyway).
    let result = unsafe { syscall::setup(2, &mut params) };
    let err = result.expect_err("REGISTERED_FD_ONLY must be refused");
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
    assert!(err.to_string().contains("REGISTERED_FD_ONLY"), "{err}");
    if had_fd0 {
        assert!(fd0_open(), "fd 0 was closed");
    }
}

/// `Ring::sq` and `Ring::cq` hand out `&mut` queues, so safe code can `mem::swap` them
/// between two rings. Each queue must then keep the mappings it points into alive itself,
/// rather than leave that to the ring it came from.
#[test]
fn queues_swapped_between_rings_outlive_the_ring_they_came_from() {
    const NAME: &str = "queues_swapped_between_rings_outlive_the_ring_they_came_from";
    if std::env::var_os(ALONE_CHILD).is_none() {
        // Done wrong, this reads unmapped memory: let that kill a child, not every test.
        run_alone(NAME);
        return;
    }
    let mut a = Ring::new(8).expect("ring a");
    let mut b = Ring::new(4).expect("ring b");
    std::mem::swap(a.sq(), b.sq());
    std::mem::swap(a.cq(), b.cq());
    drop(b);
    let (sq, cq) = a.queues();
    assert_eq!((sq.capacity(), sq.len()), (4, 0), "b's SQ, empty");
    assert!(cq.pop().is_none(), "b's CQ, empty");
    // SAFETY: a NOP points to no memory.
    unsafe { sq.push(&prep_nop()) }.expect("room");
    assert_eq!(sq.len(), 1);
}

/// `Ring::sq`/`Ring::cq` lend `&mut` queues that safe code may swap between rings; a
/// user-space ring holding a kernel ring's queue gives no `UserSpaceSide`, whose writes of
/// the kernel's SQ head and CQ tail would make the kernel run an SQE twice or hand out a
/// CQE it never posted. Before the fix it gave one.
#[test]
fn a_user_space_side_is_refused_over_a_kernel_ring_queue() {
    let mut kernel = Ring::new(4).expect("io_uring");
    let fd = std::fs::File::open("/dev/null").expect("/dev/null").into();
    let mut user = Ring::user_space(4, fd).expect("user-space ring");
    assert!(user.user_space_side().is_some());
    std::mem::swap(kernel.sq(), user.sq());
    assert!(user.user_space_side().is_none(), "a kernel SQ");
    std::mem::swap(kernel.sq(), user.sq());
    std::mem::swap(kernel.cq(), user.cq());
    assert!(user.user_space_side().is_none(), "a kernel CQ");
    std::mem::swap(kernel.cq(), user.cq());
    assert!(user.user_space_side().is_some(), "its own queues again");
    assert!(kernel.user_space_side().is_none());
}
