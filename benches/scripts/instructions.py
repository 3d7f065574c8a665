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
    binary = os.path.join(args.bin, args.bench)
    cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", binary,
           "--serve", args.kind]
    if args.bench == "echo":
        cmd += ["--port", "0", "--cpu", "0"]
    else:
        cmd += ["--body", args.body, "--server-cpu", "0"]
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
    files = glob.glob(out + "*")
    counts = 0
    for f in files:
        with open(f) as fh:
            for line in fh:
                if line.startswith("summary:") or line.startswith("totals:"):
                    counts = max(counts, int(line.split()[1]))
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
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as d:
        a, m1 = total(args, args.n1, os.path.join(d, "a.out"))
        b, m2 = total(args, args.n2, os.path.join(d, "b.out"))
    what = "request" if args.bench == "http" else "echo"
    print(f"{args.bench} {args.kind} {args.driver or ''} {args.size if args.bench == 'echo' else args.body}: "
          f"{(b - a) / (m2 - m1):.0f} instructions per {what} "
          f"({a:,} for {m1:,}, {b:,} for {m2:,})")


if __name__ == "__main__":
    main()
