//! The epoll engine of the generator: level-triggered; for each ready connection one read,
//! then (for each echo it completed) the next message written at once — a write, then a
//! read, per connection, as most clients do. Partial writes wait for `EPOLLOUT`. At a fixed
//! rate (open loop) messages go out when due instead, whatever came back; the wait for
//! events ends at the next one due (`epoll_pwait2`, nanosecond timeouts).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use super::load::{Conn, Session};
use super::pattern::Pattern;
use super::sockopt::cvt;

/// Bytes per read.
const READ_LEN: usize = 64 * 1024;

/// Runs the session's connections until the window closes.
///
/// # Errors
/// A wrong echo, a connection the server closed, a stall, or a syscall error.
pub fn run(s: &mut Session) -> io::Result<()> {
    // SAFETY: epoll_create1 takes a plain flag; the fd is checked and owned right after.
    let ep = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
    // SAFETY: a fresh fd nobody else owns.
    let ep = unsafe { OwnedFd::from_raw_fd(ep) };
    let n = s.conns.len();
    for (i, c) in s.conns.iter().enumerate() {
        ctl(ep.as_raw_fd(), libc::EPOLL_CTL_ADD, c, i, false)?;
    }
    let mut out_armed = vec![false; n];
    let now = Instant::now();
    for (i, (c, armed)) in s.conns.iter_mut().zip(&mut out_armed).enumerate() {
        for _ in 0..s.depth {
            c.queue(now);
        }
        flush(ep.as_raw_fd(), c, i, armed, &s.pattern, s.size)?;
    }
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; n.clamp(16, 4096)];
    let mut buf = vec![0u8; READ_LEN];
    let mut due = Vec::new();
    loop {
        let now = Instant::now();
        if !s.meter.tick(now)? {
            return Ok(());
        }
        if let Some(pacer) = &mut s.pacer {
            due.clear();
            pacer.queue_due(now, &mut s.conns, |i| due.push(i));
            for &i in &due {
                let c = &mut s.conns[i];
                flush(ep.as_raw_fd(), c, i, &mut out_armed[i], &s.pattern, s.size)?;
            }
        }
        let ready = wait(ep.as_raw_fd(), &mut events, s.wait_hint(Instant::now()));
        if ready < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for ev in &events[..ready as usize] {
            let i = ev.u64 as usize;
            let flags = ev.events as i32;
            // Writable, or echoes just queued: send what is queued (once, after the read).
            let mut send_queued = flags & libc::EPOLLOUT != 0;
            if flags & (libc::EPOLLIN | libc::EPOLLERR | libc::EPOLLHUP) != 0 {
                let conn = &mut s.conns[i];
                // SAFETY: `buf` is valid for writes of its length.
                let r = unsafe { libc::read(conn.raw(), buf.as_mut_ptr().cast(), buf.len()) };
                if r > 0 {
                    let now = Instant::now();
                    let done =
                        conn.receive(&s.pattern, s.size, &buf[..r as usize], now, &mut s.meter)?;
                    s.on_echoes(i, done, now);
                    send_queued |= done > 0 && s.pacer.is_none();
                } else if r == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("the server closed connection {}", conn.id),
                    ));
                } else {
                    let e = io::Error::last_os_error();
                    if e.kind() != io::ErrorKind::WouldBlock
                        && e.kind() != io::ErrorKind::Interrupted
                    {
                        return Err(io::Error::new(
                            e.kind(),
                            format!("read on connection {}: {e}", conn.id),
                        ));
                    }
                }
            }
            if send_queued {
                flush(
                    ep.as_raw_fd(),
                    &mut s.conns[i],
                    i,
                    &mut out_armed[i],
                    &s.pattern,
                    s.size,
                )?;
            }
        }
    }
}

/// Waits up to `timeout` for events; returns what `epoll_pwait2(2)` returns (-1 with errno
/// set on failure).
fn wait(ep: i32, events: &mut [libc::epoll_event], timeout: Duration) -> i32 {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: libc::c_long::from(timeout.subsec_nanos() as i32),
    };
    // SAFETY: `events` is valid for `events.len()` entries for the kernel to fill; `ts` is a
    // valid timespec for the call; a null sigmask leaves the mask as it is (size ignored).
    unsafe {
        libc::syscall(
            libc::SYS_epoll_pwait2,
            ep,
            events.as_mut_ptr(),
            events.len() as libc::c_int,
            &ts as *const libc::timespec,
            std::ptr::null::<libc::sigset_t>(),
            0usize,
        ) as i32
    }
}

fn ctl(ep: i32, op: i32, c: &Conn, i: usize, out: bool) -> io::Result<()> {
    let mut ev = libc::epoll_event {
        events: (libc::EPOLLIN | if out { libc::EPOLLOUT } else { 0 }) as u32,
        u64: i as u64,
    };
    // SAFETY: `ev` is a valid epoll_event for the call.
    cvt(unsafe { libc::epoll_ctl(ep, op, c.raw(), &mut ev) }).map(drop)
}

/// Writes what `c` has queued; on a partial write, watches `EPOLLOUT` until it is all out.
fn flush(
    ep: i32,
    c: &mut Conn,
    i: usize,
    out_armed: &mut bool,
    pattern: &Pattern,
    size: usize,
) -> io::Result<()> {
    loop {
        c.refill(pattern, size);
        if !c.has_unsent() {
            break;
        }
        let pending = &c.tx[c.tx_off..];
        // SAFETY: `pending` is valid for reads of its length.
        let w = unsafe {
            libc::send(
                c.raw(),
                pending.as_ptr().cast(),
                pending.len(),
                libc::MSG_NOSIGNAL,
            )
        };
        if w >= 0 {
            c.sent(w as usize);
            continue;
        }
        let e = io::Error::last_os_error();
        match e.kind() {
            io::ErrorKind::Interrupted => continue,
            io::ErrorKind::WouldBlock => {
                if !*out_armed {
                    ctl(ep, libc::EPOLL_CTL_MOD, c, i, true)?;
                    *out_armed = true;
                }
                return Ok(());
            }
            _ => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("write on connection {}: {e}", c.id),
                ));
            }
        }
    }
    if *out_armed {
        ctl(ep, libc::EPOLL_CTL_MOD, c, i, false)?;
        *out_armed = false;
    }
    Ok(())
}
