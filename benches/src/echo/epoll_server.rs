//! The epoll baseline, on `libc` directly, in the two flavours that real servers use:
//!
//! - **level-triggered** (`epoll-lt`): `EPOLLIN` per connection, one read per readiness
//!   event; a partial write parks the rest and swaps the interest to `EPOLLOUT` until it
//!   drains (no reading meanwhile: backpressure).
//! - **edge-triggered** (`epoll-et`): `EPOLLIN | EPOLLOUT | EPOLLET` registered once; on an
//!   event, flush what is parked, then read until `EAGAIN`, echoing each chunk; a partial
//!   write parks the rest and stops reading until the next `EPOLLOUT` edge.
//!
//! Both accept in a loop until `EAGAIN` on a level-triggered listener and set `TCP_NODELAY`.
//! One thread per core, each with its own epoll and (with several cores) its own
//! `SO_REUSEPORT` listener.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::run::ServerKind;
use super::server::{CONTROL_FD, ServeArgs, announce_metrics, announce_ready};
use super::sockopt::{bind_tcp, cvt, set_nodelay, set_nonblocking};
use crate::cpu::pin_thread;

const LISTENER: u64 = u64::MAX;
const CONTROL: u64 = u64::MAX - 1;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Flavor {
    Level,
    Edge,
}

/// Counters printed when the server stops.
#[derive(Default, Debug, Clone, Copy)]
struct Counters {
    waits: u64,
    events: u64,
    reads: u64,
    reads_eagain: u64,
    writes: u64,
    partial_writes: u64,
    accepts: u64,
}

struct Conn {
    fd: OwnedFd,
    /// Bytes read but not yet written back (after a partial write).
    parked: Vec<u8>,
    parked_off: usize,
    out_armed: bool,
}

/// Runs the epoll server described by `args` (kind `epoll-lt`, `epoll-et` or `faulty`).
///
/// # Errors
/// Setup failures: bind, epoll, pinning.
pub fn serve(args: &ServeArgs) -> io::Result<()> {
    let flavor = if args.kind == ServerKind::EpollEt {
        Flavor::Edge
    } else {
        Flavor::Level
    };
    let faulty = args.kind == ServerKind::Faulty;
    let cpus = args.cpus();
    let read_buf = args.read_buf;
    let (reserve, port) = if args.cores > 1 {
        let (fd, port) = bind_tcp(args.port, true, false)?;
        (Some(fd), port)
    } else {
        (None, args.port)
    };
    let mut listeners = Vec::with_capacity(args.cores);
    let mut port = port;
    for _ in 0..args.cores.max(1) {
        let (fd, p) = bind_tcp(port, args.cores > 1, true)?;
        port = p;
        listeners.push(fd);
    }
    drop(reserve);
    announce_ready(port);
    let mut rest = listeners.split_off(1);
    let first = listeners.pop().expect("one listener");
    let handles: Vec<_> = rest
        .drain(..)
        .enumerate()
        .map(|(i, l)| {
            let cpu = cpus[i + 1];
            std::thread::Builder::new()
                .name(format!("epoll-{}", i + 1))
                .spawn(move || {
                    pin_thread(cpu)?;
                    event_loop(l, flavor, faulty, read_buf)
                })
        })
        .collect::<io::Result<_>>()?;
    pin_thread(cpus[0])?;
    let mut all = vec![event_loop(first, flavor, faulty, args.read_buf)];
    for h in handles {
        all.push(
            h.join()
                .unwrap_or_else(|_| Err(io::Error::other("an epoll thread panicked"))),
        );
    }
    for (core, c) in all.into_iter().enumerate() {
        let c = c?;
        announce_metrics(
            core,
            &[
                ("epoll_waits", c.waits),
                ("events", c.events),
                ("reads", c.reads),
                ("reads_eagain", c.reads_eagain),
                ("writes", c.writes),
                ("partial_writes", c.partial_writes),
                ("accepts", c.accepts),
            ],
        );
    }
    Ok(())
}

fn ctl(ep: RawFd, op: i32, fd: RawFd, events: i32, token: u64) -> io::Result<()> {
    let mut ev = libc::epoll_event {
        events: events as u32,
        u64: token,
    };
    // SAFETY: `ev` is a valid epoll_event for the call.
    cvt(unsafe { libc::epoll_ctl(ep, op, fd, &mut ev) }).map(drop)
}

/// Serves connections of `listener` until the control socket closes.
fn event_loop(
    listener: OwnedFd,
    flavor: Flavor,
    faulty: bool,
    read_buf: usize,
) -> io::Result<Counters> {
    set_nonblocking(listener.as_raw_fd(), true)?;
    // SAFETY: epoll_create1 takes a plain flag; the fd is checked and owned right after.
    let ep = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
    // SAFETY: a fresh fd nobody else owns.
    let ep = unsafe { OwnedFd::from_raw_fd(ep) };
    let ep = ep.as_raw_fd();
    ctl(
        ep,
        libc::EPOLL_CTL_ADD,
        listener.as_raw_fd(),
        libc::EPOLLIN,
        LISTENER,
    )?;
    ctl(ep, libc::EPOLL_CTL_ADD, CONTROL_FD, libc::EPOLLIN, CONTROL)?;
    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut buf = vec![0u8; read_buf.max(1)];
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
    let mut n = Counters::default();
    let mut faults = 0u64;
    loop {
        // SAFETY: `events` is valid for `events.len()` entries for the kernel to fill.
        let ready = unsafe { libc::epoll_wait(ep, events.as_mut_ptr(), events.len() as i32, -1) };
        n.waits += 1;
        if ready < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        n.events += ready as u64;
        for ev in &events[..ready as usize] {
            let flags = ev.events as i32;
            match ev.u64 {
                CONTROL => return Ok(n),
                LISTENER => accept_all(ep, listener.as_raw_fd(), flavor, &mut conns, &mut n)?,
                fd => {
                    let fd = fd as usize;
                    let Some(c) = conns.get_mut(fd).and_then(Option::as_mut) else {
                        continue;
                    };
                    let keep = match flavor {
                        Flavor::Level => {
                            on_level(ep, c, flags, &mut buf, &mut n, faulty, &mut faults)
                        }
                        Flavor::Edge => on_edge(c, &mut buf, &mut n, faulty, &mut faults),
                    };
                    if !keep {
                        conns[fd] = None;
                    }
                }
            }
        }
    }
}

fn accept_all(
    ep: RawFd,
    listener: RawFd,
    flavor: Flavor,
    conns: &mut Vec<Option<Conn>>,
    n: &mut Counters,
) -> io::Result<()> {
    loop {
        // SAFETY: accept4 with null address pointers takes no memory from us.
        let fd = unsafe {
            libc::accept4(
                listener,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            )
        };
        if fd < 0 {
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR | libc::ECONNABORTED) => continue,
                Some(libc::EAGAIN) => return Ok(()),
                Some(libc::EMFILE | libc::ENFILE) => {
                    eprintln!("epoll server: accept: {e} (raise RLIMIT_NOFILE)");
                    return Ok(());
                }
                _ => return Err(e),
            }
        }
        n.accepts += 1;
        // SAFETY: a fresh fd from accept4 that nobody else owns.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        set_nodelay(fd)?;
        let interest = match flavor {
            Flavor::Level => libc::EPOLLIN,
            Flavor::Edge => libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET,
        };
        ctl(ep, libc::EPOLL_CTL_ADD, fd, interest, fd as u64)?;
        let i = fd as usize;
        if conns.len() <= i {
            conns.resize_with(i + 1, || None);
        }
        conns[i] = Some(Conn {
            fd: owned,
            parked: Vec::new(),
            parked_off: 0,
            out_armed: false,
        });
    }
}

/// Level-triggered: one read per event; returns false when the connection is done.
fn on_level(
    ep: RawFd,
    c: &mut Conn,
    flags: i32,
    buf: &mut [u8],
    n: &mut Counters,
    faulty: bool,
    faults: &mut u64,
) -> bool {
    let fd = c.fd.as_raw_fd();
    if c.out_armed {
        if flags & (libc::EPOLLOUT | libc::EPOLLERR | libc::EPOLLHUP) == 0 {
            return true;
        }
        match flush(c, n) {
            Some(true) => {
                c.out_armed = false;
                ctl(ep, libc::EPOLL_CTL_MOD, fd, libc::EPOLLIN, fd as u64).is_ok()
            }
            Some(false) => true,
            None => false,
        }
    } else {
        let got = match read(fd, buf, n) {
            Read::Data(k) => k,
            Read::Again => return true,
            Read::Closed => return false,
        };
        corrupt(&mut buf[..got], faulty, faults);
        match write_or_park(c, &buf[..got], n) {
            Some(true) => true,
            Some(false) => {
                c.out_armed = true;
                ctl(ep, libc::EPOLL_CTL_MOD, fd, libc::EPOLLOUT, fd as u64).is_ok()
            }
            None => false,
        }
    }
}

/// Edge-triggered: flush what is parked, then read until `EAGAIN` (or until a write parks
/// bytes); returns false when the connection is done.
fn on_edge(c: &mut Conn, buf: &mut [u8], n: &mut Counters, faulty: bool, faults: &mut u64) -> bool {
    let fd = c.fd.as_raw_fd();
    if c.parked_off < c.parked.len() {
        match flush(c, n) {
            Some(true) => {}
            Some(false) => return true,
            None => return false,
        }
    }
    loop {
        let got = match read(fd, buf, n) {
            Read::Data(k) => k,
            Read::Again => return true,
            Read::Closed => return false,
        };
        corrupt(&mut buf[..got], faulty, faults);
        match write_or_park(c, &buf[..got], n) {
            Some(true) => {}
            Some(false) => return true,
            None => return false,
        }
    }
}

enum Read {
    Data(usize),
    Again,
    Closed,
}

fn read(fd: RawFd, buf: &mut [u8], n: &mut Counters) -> Read {
    loop {
        n.reads += 1;
        // SAFETY: `buf` is valid for writes of its length.
        let r = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if r > 0 {
            return Read::Data(r as usize);
        }
        if r == 0 {
            return Read::Closed;
        }
        match io::Error::last_os_error().raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EAGAIN) => {
                n.reads_eagain += 1;
                return Read::Again;
            }
            _ => return Read::Closed,
        }
    }
}

/// Sends `data[*off..]` on `fd`, advancing `*off`, until all is out or the socket is full
/// (each `send` counted). `Some(true)`: all out; `Some(false)`: some left (EAGAIN); `None`:
/// the connection failed.
fn send_from(fd: RawFd, data: &[u8], off: &mut usize, n: &mut Counters) -> Option<bool> {
    while *off < data.len() {
        n.writes += 1;
        let rest = &data[*off..];
        // SAFETY: `rest` is valid for reads of its length.
        let w = unsafe { libc::send(fd, rest.as_ptr().cast(), rest.len(), libc::MSG_NOSIGNAL) };
        if w >= 0 {
            *off += w as usize;
            continue;
        }
        match io::Error::last_os_error().raw_os_error() {
            Some(libc::EINTR) => {}
            Some(libc::EAGAIN) => return Some(false),
            _ => return None,
        }
    }
    Some(true)
}

/// Writes `data`; parks what the socket did not take. `Some(true)`: all written;
/// `Some(false)`: some parked; `None`: the connection failed.
fn write_or_park(c: &mut Conn, data: &[u8], n: &mut Counters) -> Option<bool> {
    let mut off = 0;
    let all = send_from(c.fd.as_raw_fd(), data, &mut off, n)?;
    if !all {
        n.partial_writes += 1;
        c.parked.clear();
        c.parked.extend_from_slice(&data[off..]);
        c.parked_off = 0;
    }
    Some(all)
}

/// Writes parked bytes. `Some(true)`: all out; `Some(false)`: some left; `None`: failed.
fn flush(c: &mut Conn, n: &mut Counters) -> Option<bool> {
    if !send_from(c.fd.as_raw_fd(), &c.parked, &mut c.parked_off, n)? {
        return Some(false);
    }
    c.parked.clear();
    c.parked_off = 0;
    Some(true)
}

/// The `faulty` server flips one bit of its 3rd chunk, to prove that the generator notices.
fn corrupt(data: &mut [u8], faulty: bool, faults: &mut u64) {
    if faulty {
        *faults += 1;
        if *faults == 3
            && let Some(b) = data.last_mut()
        {
            *b ^= 0x20;
        }
    }
}
