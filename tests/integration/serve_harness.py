"""Start and stop `maillab serve` for the integration tests (stdlib only).

Every service gets a free port on 127.0.0.1 and the state lives in a fresh
temporary directory.  Waiting for `maillab: ready` and for the exit are bounded
in time; the server is always stopped (SIGTERM, then SIGKILL) when the block
ends, whatever happened inside it.
"""
import contextlib
import email.utils
import os
import select
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import traceback

SERVICES = ("smtp", "submission", "smtps", "pop3", "pop3s", "imap", "imaps")
READY_TIMEOUT_S = 30
STOP_TIMEOUT_S = 15
BIND_ATTEMPTS = 3  # see Server.start


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def client_tls():
    """The lab's certificate is self-signed: the tests look at it separately."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def read_line(pipe, deadline):
    """One line from a child's stdout, or what came before `deadline` (monotonic)."""
    line = b""
    while time.monotonic() < deadline and not line.endswith(b"\n"):
        ready, _, _ = select.select([pipe], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        chunk = os.read(pipe.fileno(), 1)
        if not chunk:
            break
        line += chunk
    return line


class Server:
    def __init__(self, binary, extra_args=(), scenario=None):
        self.binary = binary
        self.extra_args = list(extra_args)
        self.scenario = scenario
        self.ports = self.free_ports()
        self.tmp = tempfile.TemporaryDirectory(prefix="maillab-serve-")
        self.state = os.path.join(self.tmp.name, "state")
        self.process = None
        self.stderr_path = os.path.join(self.tmp.name, "stderr.log")
        self.stderr = None
        self.last_log = ""  # what log() read last: stop() removes the file with the state
        self.returncode = None

    @staticmethod
    def free_ports():
        ports = {name: free_port() for name in SERVICES}
        ports["dns"] = free_port(socket.SOCK_DGRAM)
        return ports

    def start(self):
        for attempt in range(BIND_ATTEMPTS):
            args = [self.binary, "serve", "--state", self.state, "--bind", "127.0.0.1"]
            for name, port in self.ports.items():
                args += ["--" + name, str(port)]
            args += self.extra_args
            if self.scenario:
                args.append(self.scenario)
            self.stderr = open(self.stderr_path, "wb")
            try:
                self.process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.stderr)
            except OSError as e:
                self.stop()
                raise AssertionError("cannot run %s: %s" % (self.binary, e)) from e
            line = read_line(self.process.stdout, time.monotonic() + READY_TIMEOUT_S)
            if line == b"maillab: ready\n":
                return self
            # Another test running at the same time (ctest -j) can take a port
            # between free_port() and serve's bind: new ports, another try.
            if attempt + 1 < BIND_ATTEMPTS and "Address already in use" in self.log():
                self.process.wait(timeout=STOP_TIMEOUT_S)
                self.process.stdout.close()
                self.stderr.close()
                self.ports = self.free_ports()
                continue
            self.stop()
            raise AssertionError("server did not say 'maillab: ready' (got %r); stderr:\n%s" % (line, self.log()))
        return self

    def log(self):
        """serve's stderr so far; after stop() (which removes the state) what it was then."""
        try:
            with open(self.stderr_path, "rb") as f:
                self.last_log = f.read().decode(errors="replace")
        except FileNotFoundError:
            pass
        return self.last_log

    def signal(self, signum):
        self.process.send_signal(signum)

    def wait(self, timeout=STOP_TIMEOUT_S):
        try:
            self.returncode = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=timeout)
            raise AssertionError("server did not exit within %s s" % timeout)
        return self.returncode

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.returncode = self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT_S)
        if self.process:
            self.process.stdout.close()
        if self.stderr:
            self.stderr.close()
        log = self.log()
        self.tmp.cleanup()
        # A sanitizer build reports on stderr; a report is a failure even if every client was happy.
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
            if marker in log:
                raise AssertionError("the server's stderr has a sanitizer report:\n" + log)

    def rss_kib(self):
        """serve's resident set size now, from /proc."""
        with open("/proc/%d/status" % self.process.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def sanitized(self):
        """True for an ASan build: its quarantine keeps freed buffers, so RSS says nothing there."""
        with open("/proc/%d/maps" % self.process.pid) as f:
            return "asan" in f.read()

    def maildir_new(self, user):
        local, domain = user.split("@")
        path = os.path.join(self.state, "mail", domain, local, "new")
        return sorted(os.listdir(path)) if os.path.isdir(path) else []


@contextlib.contextmanager
def running(binary, extra_args=(), scenario=None):
    server = Server(binary, extra_args, scenario).start()
    try:
        yield server
    finally:
        server.stop()


class Runner:
    """Runs named checks, prints one line each, exits 1 if any failed."""

    def __init__(self):
        self.failed = []
        self.count = 0

    def check(self, name, fn, *args):
        self.count += 1
        started = time.monotonic()
        try:
            fn(*args)
            print("ok   %-90s %.1fs" % (name, time.monotonic() - started), flush=True)
        except Exception:  # noqa: BLE001 - a test failure of any kind is reported
            self.failed.append(name)
            print("FAIL %s" % name, flush=True)
            traceback.print_exc()

    def finish(self, server=None):
        if self.failed and server is not None:
            print("--- server log ---\n" + server.log())
        print("%d checks, %d failed" % (self.count, len(self.failed)))
        sys.exit(1 if self.failed else 0)


def maildir_files(server, user):
    """The raw files of the user's INBOX (new, then cur; each sorted by name)."""
    local, domain = user.split("@")
    out = []
    for sub in ("new", "cur"):
        folder = os.path.join(server.state, "mail", domain, local, sub)
        for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
            with open(os.path.join(folder, name), "rb") as f:
                out.append(f.read())
    return out


def inbox_message_ids(server, user):
    """Message-IDs of every file in the user's INBOX (new and cur), with repeats."""
    ids = []
    for data in maildir_files(server, user):
        head = data.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]  # the store keeps LF
        found = [line.split(b":", 1)[1].strip() for line in head.split(b"\n")
                 if line.lower().startswith(b"message-id:")]
        assert len(found) == 1, head[:500]
        ids.append(found[0].decode())
    return ids


def wait_until(predicate, timeout=20.0, what="the condition", interval=0.05):
    """Polls `predicate` until it returns a true value (returned); bounded in time.
    Mail between the scenario's domains takes its hops through the world in real
    time, and a 250 means durable in the queue: a test that reads mail back waits."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.0f s waiting for %s" % (timeout, what))
        time.sleep(interval)


def message(topic, sender, to, msgid, body):
    """A small RFC 5322 message (CRLF) with the given Message-ID, subject "TOPIC MSGID"."""
    return ("From: %s\r\nTo: %s\r\nSubject: %s %s\r\nDate: %s\r\nMessage-ID: %s\r\n\r\n%s\r\n" %
            (sender, to, topic, msgid, email.utils.formatdate(), msgid, body)).encode()


LAB_SCENARIO = """title = "%s"
description = "The classroom's lab.test alone: alice and bob."

[[domain]]
name = "lab.test"

[[user]]
address = "alice@lab.test"
password = "alice-secret"

[[user]]
address = "bob@lab.test"
password = "bob-secret"

[limits]
"""


def lab_scenario(directory, name, limits="", title="Lab"):
    """Writes DIRECTORY/NAME: one domain (lab.test, alice and bob) with the given
    [limits] lines; returns its path."""
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write(LAB_SCENARIO % title + limits)
    return path


class RawClient:
    """A raw client connection with its own input buffer; every read is bounded in time and size."""

    def __init__(self, port, tls=False, rcvbuf=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:  # before connect: the window the client offers stays small
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(20)
        self.sock.connect(("127.0.0.1", port))
        if tls:
            self.sock = client_tls().wrap_socket(self.sock, server_hostname="localhost")
        self.buf = b""

    def starttls(self):
        assert self.buf == b"", self.buf
        self.sock = client_tls().wrap_socket(self.sock, server_hostname="localhost")

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0 or len(self.buf) > (8 << 20):
            raise AssertionError("timed out; have %r" % self.buf[-2000:])
        self.sock.settimeout(remaining)
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise AssertionError("connection closed; have %r" % self.buf[-2000:])
        self.buf += chunk

    def line(self, timeout=20.0):
        deadline = time.monotonic() + timeout
        while b"\r\n" not in self.buf:
            self._fill(deadline)
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def reply(self, timeout=20.0):
        """One SMTP reply: (code, all its lines)."""
        lines = []
        while True:
            line = self.line(timeout)
            lines.append(line)
            if len(line) < 4 or line[3:4] != b"-":
                return int(line[:3]), b"\n".join(lines)

    def cmd(self, line, timeout=20.0):
        self.send(line + b"\r\n")
        return self.reply(timeout)

    def tagged(self, tag, timeout=20.0):
        """IMAP: every line up to and including the one tagged `tag`, or an untagged BYE
        (except for a LOGOUT tagged O, whose BYE comes before its tagged OK)."""
        lines = []
        while True:
            line = self.line(timeout)
            lines.append(line)
            if line.startswith(tag + b" ") or (line.startswith(b"* BYE") and tag != b"O"):
                return lines

    def imap(self, tag, command, timeout=20.0):
        self.send(tag + b" " + command + b"\r\n")
        return self.tagged(tag, timeout)

    def pop(self, command, timeout=20.0):
        """POP3: one command, its first reply line."""
        self.send(command + b"\r\n")
        return self.line(timeout)

    def closed(self, timeout=10.0):
        """True once the server closes (what it sends first is read and dropped)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(1 << 16)
            except (socket.timeout, TimeoutError):
                return False
            except (ConnectionResetError, OSError):
                return True
            if not chunk:
                return True
        return False

    def drain_to_close(self, timeout=30.0, limit=64 << 20):
        """Reads and drops everything until the server's close; the octets read."""
        total = len(self.buf)
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, "the connection was not closed (%d octets read)" % total
            assert total <= limit, "more than %d octets arrived" % limit
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(1 << 16)
            except (socket.timeout, TimeoutError):
                continue
            except OSError:  # a reset, or TLS cut without close_notify
                return total
            if not chunk:
                return total
            total += len(chunk)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def recv_until(sock, marker, timeout=10.0, limit=1 << 20):
    """Reads until `marker` is in the data; bounded in time and size."""
    data = b""
    deadline = time.monotonic() + timeout
    while marker not in data:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or len(data) > limit:
            raise AssertionError("timed out waiting for %r; got %r" % (marker, data))
        sock.settimeout(remaining)
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError("connection closed waiting for %r; got %r" % (marker, data))
        data += chunk
    return data


def expect_silence(sock, seconds=0.7):
    """Nothing may arrive for `seconds` (an injected command got no reply)."""
    sock.settimeout(seconds)
    try:
        data = sock.recv(65536)
    except (socket.timeout, TimeoutError):
        return
    raise AssertionError("expected nothing, got %r" % data)
