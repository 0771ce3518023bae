#!/usr/bin/python3
"""Memory per idle authenticated IMAP session.

    imap_idle.py --port P --user U --password W --connections 1000 --root-pid PID

Opens one connection, logs in and logs out (so lazily loaded code is in), reads
the server's memory, then opens N connections that each LOGIN and stay idle,
reads the memory again and prints one JSON object: the connections that got
their OK, and RSS and PSS (kB, summed over the server's processes) before and
after.  The server's processes are --root-pid and all its descendants, found
afresh at each reading (Dovecot forks an imap process per session).
"""
import argparse
import json
import selectors
import socket
import os
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--connections", type=int, default=1000)
    ap.add_argument("--root-pid", type=int, required=True)
    ap.add_argument("--timeout", type=float, default=120)
    args = ap.parse_args()

    login = f"a LOGIN {args.user} {args.password}\r\n".encode()
    s = socket.create_connection((args.host, args.port), timeout=10)
    s.recv(4096)
    s.sendall(login)
    time.sleep(0.2)
    s.sendall(b"b LOGOUT\r\n")
    s.close()
    time.sleep(0.5)
    before = memory(args.root_pid)

    sel = selectors.DefaultSelector()
    socks = []
    state = {}
    deadline = time.monotonic() + args.timeout
    for _ in range(args.connections):
        c = socket.socket()
        c.setblocking(False)
        c.connect_ex((args.host, args.port))
        socks.append(c)
        state[c] = [b"", 0]  # buffer, stage 0 greeting / 1 login sent / 2 done / 3 failed
        sel.register(c, selectors.EVENT_READ)
    done = failed = 0
    while done + failed < len(socks) and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=1):
            c = key.fileobj
            try:
                data = c.recv(4096)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            st = state[c]
            if not data:
                sel.unregister(c)
                st[1] = 3
                failed += 1
                continue
            st[0] += data
            if st[1] == 0 and b"\r\n" in st[0]:
                if st[0].startswith(b"* OK"):
                    st[0] = b""
                    st[1] = 1
                    c.send(login)
                else:
                    sel.unregister(c)
                    st[1] = 3
                    failed += 1
            elif st[1] == 1 and b"\r\na " in b"\r\n" + st[0]:
                ok = b"\r\na OK" in b"\r\n" + st[0]
                st[1] = 2 if ok else 3
                sel.unregister(c)
                if ok:
                    done += 1
                else:
                    failed += 1
    time.sleep(1.0)
    after = memory(args.root_pid)
    n = max(done, 1)
    print(json.dumps({"connections": args.connections, "logged_in": done, "failed": failed,
                      "before": before, "after": after,
                      "rss_kb_per_session": (after["rss_kb"] - before["rss_kb"]) / n,
                      "pss_kb_per_session": (after["pss_kb"] - before["pss_kb"]) / n}), flush=True)
    for c in socks:
        c.close()
    return 0 if done == args.connections else 1


if __name__ == "__main__":
    sys.exit(main())
