#!/usr/bin/python3
"""Memory per idle authenticated IMAP session.

    imap_idle.py --port P --user U --password W --connections 1000 --root-pid PID [--starttls]

Opens one connection, logs in and logs out (so lazily loaded code is in), reads
the server's memory, then opens N connections one after the other, each
(STARTTLS and) LOGIN, and leaves them idle; reads the memory again and prints
one JSON object: the sessions that got their OK, and RSS and PSS (kB, summed
over the server's processes) before, half way and after.  The second half's
figure per session is the one memory freed before the first session cannot
hide: a server whose start-up grew its heap and gave the space back to its
allocator serves its first sessions from that space without growing.  The server's processes are
--root-pid and all its descendants, found afresh at each reading (Dovecot
forks an imap process per session, and with TLS keeps its imap-login process
as the TLS proxy).
"""
import argparse
import json
import os
import socket
import ssl
import sys
import time


def tree(root: int):
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def memory(root: int):
    pids = tree(root)
    rss = pss = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
        except OSError:
            pass
    return {"processes": len(pids), "rss_kb": rss, "pss_kb": pss}


def read_until(sock, tag: bytes) -> bytes:
    data = b""
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError(f"closed: {data[-200:]!r}")
        data += chunk
        for line in data.split(b"\r\n"):
            if line.startswith(tag):
                return line


def login(args, ctx):
    s = socket.create_connection((args.host, args.port), timeout=30)
    read_until(s, b"* ")
    if args.starttls:
        s.sendall(b"t STARTTLS\r\n")
        if not read_until(s, b"t ").startswith(b"t OK"):
            raise RuntimeError("STARTTLS refused")
        s = ctx.wrap_socket(s, server_hostname=args.host)
    s.sendall(f"a LOGIN {args.user} {args.password}\r\n".encode())
    reply = read_until(s, b"a ")
    if not reply.startswith(b"a OK"):
        raise RuntimeError(reply.decode(errors="replace"))
    return s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--connections", type=int, default=1000)
    ap.add_argument("--root-pid", type=int, required=True)
    ap.add_argument("--starttls", action="store_true")
    ap.add_argument("--timeout", type=float, default=120)
    args = ap.parse_args()
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # self-signed certificates: the bench measures, it does not verify

    s = login(args, ctx)
    s.sendall(b"b LOGOUT\r\n")
    s.close()
    time.sleep(0.5)
    before = memory(args.root_pid)

    socks, errors = [], []
    half, half_count = None, 0
    deadline = time.monotonic() + args.timeout
    for i in range(args.connections):
        if i == args.connections // 2:
            time.sleep(1.0)
            half, half_count = memory(args.root_pid), len(socks)
        if time.monotonic() > deadline:
            errors.append("timeout")
            break
        try:
            socks.append(login(args, ctx))
        except Exception as e:  # one refused session is a figure, not a crash
            errors.append(str(e)[:120])
    time.sleep(1.0)
    after = memory(args.root_pid)
    n = max(len(socks), 1)
    half = half or before
    second = max(len(socks) - half_count, 1)
    print(json.dumps({"connections": args.connections, "logged_in": len(socks), "failed": len(errors),
                      "first_error": errors[0] if errors else None, "before": before, "half": half,
                      "after": after,
                      "rss_kb_per_session": (after["rss_kb"] - before["rss_kb"]) / n,
                      "pss_kb_per_session": (after["pss_kb"] - before["pss_kb"]) / n,
                      "pss_kb_per_session_second_half": (after["pss_kb"] - half["pss_kb"]) / second}),
          flush=True)
    for c in socks:
        c.close()
    return 0 if len(socks) == args.connections else 1


if __name__ == "__main__":
    sys.exit(main())
