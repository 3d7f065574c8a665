//! The tokio server, as users write it: a current_thread runtime, a task per accepted
//! connection, `split()` and a read/`write_all` loop over a per-connection buffer. With
//! `--cores N`, one such runtime per thread, each pinned, on its own `SO_REUSEPORT`
//! listener.

use std::io;
use std::os::fd::OwnedFd;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::server::{ServeArgs, announce_metrics, announce_ready, control_fd};
use super::sockopt::bind_tcp;
use crate::cpu::pin_thread;

/// Runs the tokio server described by `args`.
///
/// # Errors
/// Setup failures: bind, the runtime, pinning.
pub fn serve(args: &ServeArgs) -> io::Result<()> {
    let cpus = args.cpus();
    let read_buf = args.read_buf.max(1);
    let (reserve, mut port) = if args.cores > 1 {
        let (fd, port) = bind_tcp(args.port, true, false)?;
        (Some(fd), port)
    } else {
        (None, args.port)
    };
    let mut listeners = Vec::with_capacity(args.cores);
    for _ in 0..args.cores.max(1) {
        let (fd, p) = bind_tcp(port, args.cores > 1, true)?;
        port = p;
        listeners.push(fd);
    }
    drop(reserve);
    // Stop when the control socket closes: a thread that sleeps in read(2) until then.
    let control = control_fd()?;
    std::thread::Builder::new()
        .name("control".into())
        .spawn(move || {
            let mut b = [0u8; 1];
            // SAFETY: `b` is valid for a 1-byte write.
            while unsafe {
                libc::read(
                    std::os::fd::AsRawFd::as_raw_fd(&control),
                    b.as_mut_ptr().cast(),
                    1,
                )
            } > 0
            {}
            announce_metrics(0, &[]);
            std::process::exit(0);
        })?;
    announce_ready(port);
    let mut rest = listeners.split_off(1);
    let first = listeners.pop().expect("one listener");
    for (i, l) in rest.drain(..).enumerate() {
        let cpu = cpus[i + 1];
        std::thread::Builder::new()
            .name(format!("tokio-{}", i + 1))
            .spawn(move || {
                if let Err(e) = pin_thread(cpu).and_then(|()| run(l, read_buf)) {
                    eprintln!("tokio server core {}: {e}", i + 1);
                    std::process::exit(1);
                }
            })?;
    }
    pin_thread(cpus[0])?;
    run(first, read_buf)
}

fn run(listener: OwnedFd, read_buf: usize) -> io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    rt.block_on(async move {
        let std_listener = std::net::TcpListener::from(listener);
        std_listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(std_listener)?;
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(echo(stream, read_buf));
                }
                Err(e) => {
                    eprintln!("tokio server: accept: {e}");
                    tokio::task::yield_now().await;
                }
            }
        }
    })
}

async fn echo(mut stream: tokio::net::TcpStream, read_buf: usize) {
    let (mut rd, mut wr) = stream.split();
    let mut buf = vec![0u8; read_buf];
    loop {
        let n = match rd.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if wr.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
