#!/usr/bin/python3
"""IMAP figures against one server: a raw-socket client, so that the client's
own parsing costs as little as possible (no imaplib).

    imap_bench.py --port P --user U --password W [--runs 3] [--warmup 1]
                  [--search quetzal] [--expect-messages N]

Each run opens a fresh connection and times, one after the other:
  login_select   LOGIN + SELECT INBOX (from sending LOGIN to SELECT's OK)
  envelope       UID FETCH 1:* (FLAGS RFC822.SIZE ENVELOPE)
  body           FETCH 1:* BODY.PEEK[]   (also bytes of message literals / s)
  search         SEARCH TEXT <word>
Warm-up runs (not reported) let each server build its index and caches, so
the figures are the warm ones.  Prints one JSON object per measured run.
"""
import argparse
import json
import socket
import sys
import time


class Imap:
    def __init__(self, host: str, port: int, timeout: float):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.pos = 0
        self.tag = 0
        self.chunk = bytearray(1 << 20)
        self.read_line_plain()  # greeting

    def fill(self) -> None:
        if self.pos > (8 << 20):
            del self.buf[:self.pos]
            self.pos = 0
        n = self.sock.recv_into(self.chunk)
        if n == 0:
            raise ConnectionError("server closed the connection")
        self.buf += memoryview(self.chunk)[:n]

    def read_line_plain(self) -> bytes:
        while True:
            i = self.buf.find(b"\r\n", self.pos)
            if i >= 0:
                line = bytes(self.buf[self.pos:i])
                self.pos = i + 2
                return line
            self.fill()

    def command(self, text: str):
        """Sends one command; returns (status line, untagged count, literal bytes, seconds)."""
        self.tag += 1
        tag = f"b{self.tag}".encode()
        start = time.perf_counter()
        self.sock.sendall(tag + b" " + text.encode() + b"\r\n")
        untagged = 0
        literal_bytes = 0
        first_lines = []
        while True:
            line = self.read_line_plain()
            # a response may carry literals: "... {123}" CRLF <123 bytes> rest-of-line
            full_first = line
            while line.endswith(b"}") and b"{" in line:
                n = int(line[line.rindex(b"{") + 1:-1])
                while len(self.buf) - self.pos < n:
                    self.fill()
                self.pos += n
                literal_bytes += n
                line = self.read_line_plain()
            if full_first.startswith(tag + b" "):
                elapsed = time.perf_counter() - start
                if not full_first.startswith(tag + b" OK"):
                    raise RuntimeError(f"{text!r}: {full_first!r}")
                return full_first, untagged, literal_bytes, elapsed, first_lines
            if full_first.startswith(b"* "):
                untagged += 1
                if len(first_lines) < 3:
                    first_lines.append(full_first)

    def close(self) -> None:
        try:
            self.command("LOGOUT")
        except Exception:
            pass
        self.sock.close()


def one_run(args):
    imap = Imap(args.host, args.port, args.timeout)
    t0 = time.perf_counter()
    imap.command(f"LOGIN {args.user} {args.password}")
    _, _, _, _, sel_lines = imap.command("SELECT INBOX")
    login_select = time.perf_counter() - t0
    _, env_n, _, env_s, _ = imap.command("UID FETCH 1:* (FLAGS RFC822.SIZE ENVELOPE)")
    _, body_n, body_bytes, body_s, _ = imap.command("FETCH 1:* BODY.PEEK[]")
    _, _, _, search_s, search_lines = imap.command(f"SEARCH TEXT {args.search}")
    found = len(search_lines[0].split()) - 2 if search_lines else 0
    imap.close()
    return {"login_select_s": login_select, "envelope_s": env_s, "envelope_msgs": env_n,
            "body_s": body_s, "body_msgs": body_n, "body_bytes": body_bytes,
            "body_mib_s": body_bytes / body_s / (1 << 20), "search_s": search_s, "search_found": found}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--search", default="quetzal")
    ap.add_argument("--expect-messages", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=120)
    args = ap.parse_args()
    for i in range(args.warmup + args.runs):
        r = one_run(args)
        if args.expect_messages and (r["envelope_msgs"] != args.expect_messages
                                     or r["body_msgs"] != args.expect_messages):
            print(f"imap_bench: expected {args.expect_messages} messages, got {r}", file=sys.stderr)
            return 1
        if i >= args.warmup:
            print(json.dumps(r), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
