#!/usr/bin/python3
"""POP3 figures against one server (raw socket, one command at a time as
poplib and most clients do).

    pop3_bench.py --port P --user U --password W [--runs 3] [--warmup 1] [--starttls]

Each run: USER/PASS, then times STAT, LIST (the whole listing) and RETR of
every message in turn, then QUIT without DELE (the maildrop is unchanged).
Prints one JSON object per measured run.
"""
import argparse
import json
import socket
import ssl
import sys
import time


class Pop3:
    def __init__(self, host, port, timeout, starttls=False):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.pos = 0
        self.line()
        if starttls:
            self.simple("STLS")
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE  # self-signed: the bench measures, it does not verify
            self.sock = ctx.wrap_socket(self.sock, server_hostname=host)

    def fill(self):
        data = self.sock.recv(1 << 20)
        if not data:
            raise ConnectionError("server closed the connection")
        self.buf += data

    def compact(self):
        if self.pos > (4 << 20):
            del self.buf[:self.pos]
            self.pos = 0

    def line(self) -> bytes:
        while True:
            i = self.buf.find(b"\r\n", self.pos)
            if i >= 0:
                out = bytes(self.buf[self.pos:i])
                self.pos = i + 2
                return out
            self.fill()

    def simple(self, cmd: str) -> bytes:
        self.sock.sendall(cmd.encode() + b"\r\n")
        reply = self.line()
        if not reply.startswith(b"+OK"):
            raise RuntimeError(f"{cmd!r}: {reply!r}")
        return reply

    def multi(self, cmd: str) -> int:
        """A multi-line reply; returns the bytes between the status line and the final "."."""
        self.compact()
        self.simple(cmd)
        start = self.pos - 2  # the status line's CRLF: the terminator is CRLF "." CRLF
        scan = start
        while True:
            i = self.buf.find(b"\r\n.\r\n", scan)
            if i >= 0:
                self.pos = i + 5
                return max(0, i + 2 - (start + 2))
            scan = max(start, len(self.buf) - 4)
            self.fill()


def one_run(args):
    p = Pop3(args.host, args.port, args.timeout, args.starttls)
    p.simple(f"USER {args.user}")
    p.simple(f"PASS {args.password}")
    t = time.perf_counter()
    stat = p.simple("STAT")
    stat_s = time.perf_counter() - t
    count = int(stat.split()[1])
    t = time.perf_counter()
    p.multi("LIST")
    list_s = time.perf_counter() - t
    n = min(count, args.retr)
    total = 0
    t = time.perf_counter()
    for i in range(1, n + 1):
        total += p.multi(f"RETR {i}")
    retr_s = time.perf_counter() - t
    p.simple("QUIT")
    p.sock.close()
    return {"messages": count, "stat_s": stat_s, "list_s": list_s, "retr_n": n, "retr_s": retr_s,
            "retr_bytes": total, "retr_msgs_s": n / retr_s}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--retr", type=int, default=1000)
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--starttls", action="store_true", help="STLS before USER (RFC 2595 §4)")
    args = ap.parse_args()
    for i in range(args.warmup + args.runs):
        r = one_run(args)
        if i >= args.warmup:
            print(json.dumps(r), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
