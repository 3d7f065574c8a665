//! A UDP echo server, and a client for it (see `examples::udp_echo`).
//!
//! ```text
//! cargo run -p examples --example udp_echo -- [--addr PORT|IP:PORT] [--exit-after N]
//! cargo run -p examples --example udp_echo -- --client 127.0.0.1:7003 hello world
//! cargo run -p examples --example udp_echo -- --demo
//! ```

use std::process::ExitCode;
use std::time::Duration;

use examples::cli::{self, Spec};
use examples::signal::Signal;
use examples::udp_echo;
use net::UdpSocket;

const SPEC: Spec = Spec {
    name: "udp_echo",
    usage: "usage: udp_echo [--addr PORT|IP:PORT] [--exit-after N] [--demo]
       udp_echo --client ADDR MESSAGE...

  --addr        where to listen (default 127.0.0.1:7003; port 0: any free port)
  --exit-after  exit after echoing N datagrams
  --client      send each MESSAGE to the server at ADDR and print its echo
  --demo        listen on a free port, send datagrams to it, verify, exit",
    flags: &["demo"],
    options: &["addr", "exit-after", "client"],
};

fn main() -> ExitCode {
    cli::main(&SPEC, |args| {
        let demo = args.flag("demo");
        let client = match args.value::<String>("client")? {
            Some(a) => Some(cli::parse_addr(&a)?),
            None => None,
        };
        let addr = match demo {
            true => cli::loopback_any_port(),
            false => args.addr(udp_echo::DEFAULT_PORT)?,
        };
        let exit_after = args.value("exit-after")?;
        runtime::Runtime::new()?.block_on(async {
            if let Some(server) = client {
                let socket = udp_echo::client_socket(server).await?;
                for msg in args.positional() {
                    let wait = Duration::from_millis(500);
                    udp_echo::request(&socket, server, msg.as_bytes(), wait, 3).await?;
                    println!("echo from {server}: {msg}");
                }
                return Ok(());
            }
            let socket = UdpSocket::bind(addr).await?;
            cli::print_listening(socket.local_addr()?);
            if demo {
                println!("{}", udp_echo::demo(socket).await?);
            } else {
                let n = udp_echo::serve(socket, Signal::after(exit_after)).await?;
                eprintln!("udp_echo: echoed {n} datagrams");
            }
            Ok(())
        })
    })
}
