#!/usr/bin/env python3
"""User-space instructions per echo (or per HTTP request) of one server, counted by callgrind.

Runs the server (`echo --serve KIND` or `http --serve KIND`) under `valgrind --tool=callgrind`
twice, driven by a lockstep client here (CONNS connections, each sends one message and waits
for its echo or response, all connections per round), for N1 and then N2 messages, and
prints (total(N2) - total(N1)) / (N2 - N1): the cost of one more message, without start-up
and shut-down. Instruction counts repeat within a few percent run to run (the loop's batching
varies a little), where timings on a shared VM vary by 5-15%.

    python3 benches/scripts/instructions.py echo runtime            # io_uring driver
    python3 benches/scripts/instructions.py echo runtime --driver fallback
    python3 benches/scripts/instructions.py echo runtime --size 4096
    python3 benches/scripts/instructions.py http ours --body hello
    python3 benches/scripts/instructions.py http tokio-ct --body 16k
    python3 benches/scripts/instructions.py echo c-liburing --conns 500 --cache-sim

`c-liburing` is the C reference server, which the echo benchmark builds into
`target/echo/echo_liburing` when liburing's headers are installed. `--cache-sim` also counts
simulated first-level data-cache misses (reads and writes) per message: where a server's
state is spread over many cache lines, as with hundreds of connections, they cost more than
the instructions say.

Needs valgrind and a release build (`cargo build --release -p benches`); `--bin DIR` points
at other binaries (to compare two builds).
"""

import argparse
import glob
import os
import socket
import subprocess
import sys
import tempfile


def start(cmd, env):
    """Starts `cmd` with a control socket as stdin (its end of stream stops the server);
    returns the process, our end of the socket, and the port it announced."""
    ours, theirs = socket.socketpair()
    proc = subprocess.Popen(cmd, stdin=theirs.fileno(), stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=env)
    theirs.close()
    while True:
        line = proc.stdout.readline().decode()
        if not line:
            sys.exit(f"{cmd[0]}: the server exited before announcing its port")
        if line.startswith("READY"):
            return proc, ours, int(line.split()[1])


def echo_rounds(conns, port, size, rounds):
    socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(conns)]
    for s in socks:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    msg = os.urandom(size)
    for _ in range(rounds):
        for s in socks:
            s.sendall(msg)
        for s in socks:
            got = b""
            while len(got) < size:
                part = s.recv(size - len(got))
                if not part:
                    sys.exit("the server closed a connection")
                got += part
            if got != msg:
                sys.exit("an echo came back wrong")
    for s in socks:
        s.close()


def http_rounds(conns, port, rounds):
    socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(conns)]
    for s in socks:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    req = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    bufs = [b""] * conns
    for _ in range(rounds):
        for s in socks:
            s.sendall(req)
        for i, s in enumerate(socks):
            buf = bufs[i]
            while True:
                end = buf.find(b"\r\n\r\n")
                if end >= 0:
                    head = buf[:end].lower()
                    length = int(head.split(b"content-length:")[1].split(b"\r\n")[0])
                    if len(buf) >= end + 4 + length:
                        buf = buf[end + 4 + length:]
                        break
                part = s.recv(65536)
                if not part:
                    sys.exit("the server closed a connection")
                buf += part
            bufs[i] = buf
    for s in socks:
        s.close()


def total(args, messages, out):
    """Runs the server for `messages` messages; returns its counts by event name (Ir, and
    with --cache-sim D1mr and D1mw too) and the messages sent."""
    cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
    if args.cache_sim:
        cmd.append("--cache-sim=yes")
    if args.kind == "c-liburing":
        binary = os.path.join(os.path.dirname(os.path.normpath(args.bin)), "echo", "echo_liburing")
        if not os.path.exists(binary):
            sys.exit(f"{binary} is missing: install liburing's headers (apt-get install "
                     "liburing-dev) and run the echo benchmark once, which builds it")
        cmd += [binary, "--port", "0", "--cpu", "0"]
    elif args.bench == "echo":
        cmd += [os.path.join(args.bin, args.bench), "--serve", args.kind, "--port", "0", "--cpu", "0"]
    else:
        cmd += [os.path.join(args.bin, args.bench), "--serve", args.kind,
                "--body", args.body, "--server-cpu", "0"]
    env = dict(os.environ)
    if args.driver:
        env["RUNTIME_DRIVER"] = args.driver
    proc, control, port = start(cmd, env)
    rounds = messages // args.conns
    if args.bench == "echo":
        echo_rounds(args.conns, port, args.size, rounds)
    else:
        http_rounds(args.conns, port, rounds)
    control.close()
    proc.wait(timeout=120)
    counts = {}
    for f in glob.glob(out + "*"):
        events = []
        with open(f) as fh:
            for line in fh:
                if line.startswith("events:"):
                    events = line.split()[1:]
                elif line.startswith("summary:") or line.startswith("totals:"):
                    found = dict(zip(events, (int(v) for v in line.split()[1:])))
                    if found.get("Ir", 0) > counts.get("Ir", 0):
                        counts = found
    return counts, rounds * args.conns


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("bench", choices=["echo", "http"])
    p.add_argument("kind", help="echo: runtime, runtime-rw, epoll-lt, tokio...; http: ours, tokio-ct")
    p.add_argument("--driver", choices=["uring", "fallback"], help="RUNTIME_DRIVER for the server")
    p.add_argument("--size", type=int, default=64, help="echo message bytes (64)")
    p.add_argument("--body", default="hello", help="http body: hello or 16k")
    p.add_argument("--conns", type=int, default=50)
    p.add_argument("--n1", type=int, default=10000)
    p.add_argument("--n2", type=int, default=30000)
    p.add_argument("--bin", default="target/release", help="directory of the echo/http binaries")
    p.add_argument("--cache-sim", action="store_true",
                   help="also count simulated first-level data-cache misses")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as d:
        a, m1 = total(args, args.n1, os.path.join(d, "a.out"))
        b, m2 = total(args, args.n2, os.path.join(d, "b.out"))
    what = "request" if args.bench == "http" else "echo"
    per = {k: (b.get(k, 0) - a.get(k, 0)) / (m2 - m1) for k in ("Ir", "D1mr", "D1mw")}
    misses = ""
    if args.cache_sim:
        misses = (f", {per['D1mr']:.1f} + {per['D1mw']:.1f} first-level data-cache misses "
                  "(read + write)")
    print(f"{args.bench} {args.kind} {args.driver or ''} {args.size if args.bench == 'echo' else args.body}: "
          f"{per['Ir']:.0f} instructions per {what}{misses} "
          f"({a['Ir']:,} for {m1:,}, {b['Ir']:,} for {m2:,})")


if __name__ == "__main__":
    main()
