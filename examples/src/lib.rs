//! Runnable examples of the runtime live in `examples/` of this crate (`cargo run -p examples
//! --example NAME -- ARGS`); their logic is here, as documented functions that the thin
//! `main`s and the smoke tests (`tests/smoke.rs`) both call.
//!
//! Every example accepts `--demo`: it starts itself on a free loopback port (port 0), runs a
//! client of its own against itself, verifies what comes back, prints one report line and
//! exits 0. Servers print `listening on ADDR` as their first line of stdout and take their
//! address from `--addr` (`PORT` or `IP:PORT`, 127.0.0.1 by default, port 0 allowed); all
//! but `http` also exit after `--exit-after N` connections (chat sessions, UDP datagrams).
//!
//! | example         | module              | shows                                                   |
//! |-----------------|---------------------|---------------------------------------------------------|
//! | `echo`          | [`echo`]            | multishot accept, `forward_to` on provided buffers: the ring echoes, no copy, no task poll per message |
//! | `echo_per_core` | [`echo_per_core`]   | `run_per_core`, one `SO_REUSEPORT` listener per core    |
//! | `http`          | [`http`]            | hyper 1.x through `net::hyper`                          |
//! | `cat`           | [`cat`]             | `File::read_at` chunks to stdout at its current position |
//! | `cp`            | [`cp`]              | `fs::copy`, and positional reads and writes in flight together |
//! | `file_server`   | [`file_server`]     | HTTP/1.1 by hand: files, `Range` (206/416), traversal refused |
//! | `chat`          | [`chat`]            | clients on every core, per-core inboxes, `spawn_on`     |
//! | `timers`        | [`timers`]          | sleep, interval, timeout cancelling a read, linked timeout |
//! | `udp_echo`      | [`udp_echo`]        | `recv_from`/`send_to` with one reused buffer, a retrying client |
//!
//! Shared: [`cli`] (arguments), [`signal`] (a cross-core stop signal, `race`, `join`),
//! [`reuseport`] (one listener per core on one port).

pub mod cat;
pub mod chat;
pub mod cli;
pub mod cp;
pub mod echo;
pub mod echo_per_core;
pub mod file_server;
pub mod http;
pub mod reuseport;
pub mod signal;
pub mod soak;
pub mod timers;
pub mod tokio_port;
pub mod udp_echo;
