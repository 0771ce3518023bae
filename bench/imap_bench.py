#!/usr/bin/python3
"""IMAP figures against one server: a raw-socket client, so that the client's
own parsing costs as little as possible (no imaplib).

    imap_bench.py --port P --user U --password W [--runs 3] [--warmup 1]
                  [--search quetzal] [--expect-messages N] [--starttls]

Each run opens a fresh connection (with --starttls: STARTTLS first, for a
server that refuses LOGIN in cleartext) and times, one after the other:
  login_select   LOGIN + SELECT INBOX (from sending LOGIN to SELECT's OK)
  envelope       UID FETCH 1:* (FLAGS RFC822.SIZE ENVELOPE)
  body           FETCH 1:* BODY.PEEK[]   (also bytes of message literals / s)
  search         SEARCH TEXT <word>
With --budget, a command that has not finished in that many seconds ends the
run, which then reports "unfinished": the command and how many responses came.
Warm-up runs (not reported) let each server build its index and caches, so
the figures are the warm ones.  Prints one JSON object per measured run.
"""
import argparse
import json
import socket
import ssl
import sys
import time


def tls_context() -> ssl.SSLContext:
    # The servers' certificates are self-signed: the bench measures, it does not verify.
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class Unfinished(Exception):
    def __init__(self, command: str, responses: int, seconds: float):
        super().__init__(f"{command}: {responses} responses in {seconds:.1f} s, then the budget ran out")
        self.command, self.responses, self.seconds = command, responses, seconds


class Imap:
    def __init__(self, host: str, port: int, timeout: float, starttls: bool = False):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.pos = 0
        self.tag = 0
        self.chunk = bytearray(1 << 20)
        self.read_line_plain()  # greeting
        if starttls:
            self.command("STARTTLS")
            self.sock = tls_context().wrap_socket(self.sock, server_hostname=host)

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

    def command(self, text: str, budget: float = 0):
        """Sends one command; returns (status line, untagged count, literal bytes, seconds,
        untagged lines).  With a budget (seconds), raises Unfinished when the tagged reply
        has not come by then."""
        self.tag += 1
        tag = f"b{self.tag}".encode()
        start = time.perf_counter()
        self.sock.sendall(tag + b" " + text.encode() + b"\r\n")
        untagged = 0
        literal_bytes = 0
        first_lines = []
        while True:
            if budget:
                left = start + budget - time.perf_counter()
                if left <= 0:
                    raise Unfinished(text, untagged, time.perf_counter() - start)
                self.sock.settimeout(left)
            try:
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
            except (socket.timeout, TimeoutError):
                raise Unfinished(text, untagged, time.perf_counter() - start)
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
    imap = Imap(args.host, args.port, args.timeout, args.starttls)
    b = args.budget
    t0 = time.perf_counter()
    imap.command(f"LOGIN {args.user} {args.password}", b)
    imap.command("SELECT INBOX", b)
    out = {"login_select_s": time.perf_counter() - t0}
    try:
        _, env_n, _, env_s, _ = imap.command("UID FETCH 1:* (FLAGS RFC822.SIZE ENVELOPE)", b)
        out.update(envelope_s=env_s, envelope_msgs=env_n)
        _, body_n, body_bytes, body_s, _ = imap.command("FETCH 1:* BODY.PEEK[]", b)
        out.update(body_s=body_s, body_msgs=body_n, body_bytes=body_bytes,
                   body_mib_s=body_bytes / body_s / (1 << 20))
        _, _, _, search_s, search_lines = imap.command(f"SEARCH TEXT {args.search}", b)
        out.update(search_s=search_s, search_found=len(search_lines[0].split()) - 2 if search_lines else 0)
    except Unfinished as e:
        # A figure all the same: how far the server got within the budget.
        out["unfinished"] = {"command": e.command, "responses": e.responses, "seconds": e.seconds}
        imap.sock.close()
        return out
    imap.close()
    return out


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
    ap.add_argument("--budget", type=float, default=0,
                    help="seconds per command; past it the run stops and reports how far it got")
    ap.add_argument("--starttls", action="store_true", help="STARTTLS before LOGIN (RFC 3501 §6.2.1)")
    args = ap.parse_args()
    for i in range(args.warmup + args.runs):
        r = one_run(args)
        if args.expect_messages and "unfinished" not in r and (r["envelope_msgs"] != args.expect_messages
                                                               or r["body_msgs"] != args.expect_messages):
            print(f"imap_bench: expected {args.expect_messages} messages, got {r}", file=sys.stderr)
            return 1
        if i >= args.warmup:
            print(json.dumps(r), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
