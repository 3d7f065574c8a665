//! Sockets by hand on `libc`: errno results ([`cvt`]), socket options, `O_NONBLOCK`, a
//! loopback listener ([`bind_tcp`]), and the fd limit that thousands of connections need
//! ([`raise_nofile`]).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// The listen backlog of every server (the kernel caps it at `net.core.somaxconn`).
pub const BACKLOG: i32 = 4096;

/// Raises `RLIMIT_NOFILE`'s soft limit to its hard limit (thousands of connections need as
/// many fds); returns the new soft limit.
///
/// # Errors
/// `getrlimit`/`setrlimit`'s errno.
pub fn raise_nofile() -> io::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid rlimit for the kernel to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if lim.rlim_cur < lim.rlim_max {
        lim.rlim_cur = lim.rlim_max;
        // SAFETY: `lim` is a valid rlimit for the kernel to read.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(lim.rlim_cur)
}

/// Turns a `-1` return into the errno.
pub fn cvt(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

fn set_int_opt(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: the option value is a c_int that lives across the call, with its size.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// `TCP_NODELAY` on.
///
/// # Errors
/// `setsockopt(2)`'s errno.
pub fn set_nodelay(fd: RawFd) -> io::Result<()> {
    set_int_opt(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1)
}

/// `SO_LINGER` with a zero timeout: `close` resets the connection instead of leaving it in
/// TIME_WAIT (a benchmark opens tens of thousands of connections).
///
/// # Errors
/// `setsockopt(2)`'s errno.
pub fn set_linger_zero(fd: RawFd) -> io::Result<()> {
    let l = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: the option value is a linger struct that lives across the call, with its size.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&l as *const libc::linger).cast(),
            size_of::<libc::linger>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// Sets or clears `O_NONBLOCK`.
///
/// # Errors
/// `fcntl(2)`'s errno.
pub fn set_nonblocking(fd: RawFd, on: bool) -> io::Result<()> {
    // SAFETY: F_GETFL/F_SETFL take and return plain ints.
    unsafe {
        let flags = cvt(libc::fcntl(fd, libc::F_GETFL))?;
        let flags = if on {
            flags | libc::O_NONBLOCK
        } else {
            flags & !libc::O_NONBLOCK
        };
        cvt(libc::fcntl(fd, libc::F_SETFL, flags)).map(drop)
    }
}

fn sockaddr_v4(port: u16) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(std::net::Ipv4Addr::LOCALHOST).to_be(),
        },
        sin_zero: [0; 8],
    }
}

/// A TCP socket bound to `127.0.0.1:port` (0: the kernel picks), with `SO_REUSEADDR` and,
/// when `reuseport`, `SO_REUSEPORT`; listening with [`BACKLOG`] when `listen`. Returns it
/// and its port.
///
/// A bound socket that does not listen reserves a port for a group of `SO_REUSEPORT`
/// listeners without taking connections itself.
///
/// # Errors
/// `socket`/`setsockopt`/`bind`/`listen`'s errno.
pub fn bind_tcp(port: u16, reuseport: bool, listen: bool) -> io::Result<(OwnedFd, u16)> {
    // SAFETY: socket(2) takes plain ints; the fd is checked and owned right after.
    let fd = cvt(unsafe {
        libc::socket(
            libc::AF_INET,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            libc::IPPROTO_TCP,
        )
    })?;
    // SAFETY: a fresh fd that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    set_int_opt(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    if reuseport {
        set_int_opt(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)?;
    }
    let addr = sockaddr_v4(port);
    // SAFETY: `addr` is a sockaddr_in that lives across the call, with its size.
    cvt(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_in).cast(),
            size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    })?;
    if listen {
        // SAFETY: listen(2) takes plain ints.
        cvt(unsafe { libc::listen(fd.as_raw_fd(), BACKLOG) })?;
    }
    let mut out: libc::sockaddr_in = sockaddr_v4(0);
    let mut len = size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: `out` and `len` are valid for the kernel to fill (len says out's size).
    cvt(unsafe {
        libc::getsockname(
            fd.as_raw_fd(),
            (&mut out as *mut libc::sockaddr_in).cast(),
            &mut len,
        )
    })?;
    Ok((fd, u16::from_be(out.sin_port)))
}
