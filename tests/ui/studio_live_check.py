#!/usr/bin/env python3
"""maillab-studio --live under Xvfb with a real swaks submission (issue 6).

The studio runs the lab server in its own process (`--live`, serve's options)
on free 127.0.0.1 ports and a temporary state dir, for a bounded time
(`--live-for`), then writes a screenshot and a summary of what its live trace
saw.  Checks:
  1. swaks submits (STARTTLS, AUTH) one message from alice@lab.test to
     bob@lab.test and dave@school.test; IMAP reads it back from both
     mailboxes (dave's after the world's MX hop to school.test); the studio's
     summary lists both deliveries of that Message-ID, so the trace the panels
     show has them; the screenshot shows client and server lines.
  2. --live-hold: a real client's session is held from its greeting: the
     server's 220 is in the live trace, the client has received nothing.
  3. A port already in use: the studio says so on stderr and in the window
     (the screenshot shows the error's colour) and exits 1.
Every wait is bounded; the studio's process group is always killed at the end.

usage: studio_live_check.py PATH/TO/maillab-studio OUT_DIR
"""
import imaplib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, HERE)
from screenshot_check import check_png  # noqa: E402
from serve_harness import SERVICES, client_tls, free_port, read_line  # noqa: E402

SIZE = (1280, 720)
LIVE_FOR_S = 25
READY_TIMEOUT_S = 60
EXIT_TIMEOUT_S = LIVE_FOR_S + 60
CLIENT = (90, 170, 250)  # line_colour('C')
SERVER = (110, 220, 110)  # line_colour('S')
ERROR = (255, 102, 102)  # the live panel's error text


class LiveStudio:
    def __init__(self, studio, tmp, png, ports=None, live_for=LIVE_FOR_S, extra=()):
        self.ports = ports or {name: free_port() for name in SERVICES}
        self.ports.setdefault("dns", free_port(socket.SOCK_DGRAM))
        self.state = os.path.join(tmp, "state")
        self.stderr_path = os.path.join(tmp, "studio-stderr.log")
        args = ["xvfb-run", "-a", "-s", "-screen 0 1920x1080x24", studio, "--live", "--live-for", "%ds" % live_for,
                "--screenshot", png, "--size", "%dx%d" % SIZE, "--lang", "en", "--state", self.state,
                "--bind", "127.0.0.1"]
        for name, port in self.ports.items():
            args += ["--" + name, str(port)]
        args += list(extra)
        self.stderr = open(self.stderr_path, "wb")
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.stderr, start_new_session=True)
        self.out = b""

    def read_line(self, deadline):
        line = read_line(self.process.stdout, deadline)
        self.out += line
        return line

    def finish(self):
        """Waits (bounded) for the exit; returns (status, stdout, stderr)."""
        try:
            rest, _ = self.process.communicate(timeout=EXIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("the studio did not exit within %d s" % EXIT_TIMEOUT_S)
        self.out += rest
        self.stderr.close()
        with open(self.stderr_path, "rb") as f:
            err = f.read().decode(errors="replace")
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
            assert marker not in err, "sanitizer report:\n" + err
        return self.process.returncode, self.out.decode(errors="replace"), err

    def kill(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def imap_find(port, user, password, needle, timeout_s=30):
    """The message containing `needle` in the user's INBOX, polled (bounded)."""
    deadline = time.monotonic() + timeout_s
    while True:
        imap = imaplib.IMAP4("127.0.0.1", port, timeout=20)
        imap.starttls(ssl_context=client_tls())
        imap.login(user, password)
        imap.select("INBOX", readonly=True)
        _, data = imap.uid("SEARCH", None, "HEADER", "Message-ID", needle)
        found = []
        for uid in data[0].split():
            _, parts = imap.uid("FETCH", uid, "(BODY.PEEK[])")
            found.append(parts[0][1])
        imap.logout()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def test_swaks_arrives_live(studio, out_dir):
    png = os.path.join(out_dir, "live-swaks.png")
    msgid = "live-%d@lab.test" % os.getpid()
    with tempfile.TemporaryDirectory(prefix="maillab-live-") as tmp:
        live = LiveStudio(studio, tmp, png)
        try:
            ready = live.read_line(time.monotonic() + READY_TIMEOUT_S)
            assert ready == b"maillab: ready\n", "no 'maillab: ready' (got %r)" % ready
            done = subprocess.run(
                ["swaks", "--server", "127.0.0.1", "--port", str(live.ports["submission"]), "--tls",
                 "--auth", "PLAIN", "--auth-user", "alice@lab.test", "--auth-password", "alice-secret",
                 "--from", "alice@lab.test", "--to", "bob@lab.test,dave@school.test",
                 "--header", "Subject: live in the studio", "--header", "Message-Id: <%s>" % msgid,
                 "--timeout", "20"], capture_output=True, timeout=60)
            transcript = done.stdout.decode(errors="replace")
            assert done.returncode == 0, transcript + done.stderr.decode(errors="replace")
            assert "<~  250 2.0.0" in transcript, transcript
            for user, password in (("bob@lab.test", "bob-secret"), ("dave@school.test", "dave-secret")):
                found = imap_find(live.ports["imap"], user, password, msgid)
                assert len(found) == 1 and b"live in the studio" in found[0], (user, len(found))
            status, out, err = live.finish()
        finally:
            live.kill()
    assert status == 0, "studio exit %d\n%s\n%s" % (status, out, err)
    for user in ("bob@lab.test", "dave@school.test"):
        assert "maillab-studio: live: delivered %s to %s" % (msgid, user) in out, out
    summary = [line for line in out.splitlines() if " sessions, " in line]
    assert summary, out
    print("ok  " + summary[0])
    check_png(png, SIZE, [CLIENT, SERVER])


def test_hold_keeps_the_greeting_back(studio, out_dir):
    """--live-hold: a new session is held from its greeting; the server wrote
    its 220 (the live trace has it) but the client gets nothing."""
    png = os.path.join(out_dir, "live-held.png")
    with tempfile.TemporaryDirectory(prefix="maillab-live-") as tmp:
        live = LiveStudio(studio, tmp, png, live_for=12, extra=["--live-hold"])
        try:
            ready = live.read_line(time.monotonic() + READY_TIMEOUT_S)
            assert ready == b"maillab: ready\n", "no 'maillab: ready' (got %r)" % ready
            with socket.create_connection(("127.0.0.1", live.ports["smtp"]), timeout=10) as client:
                client.settimeout(5)
                try:
                    got = client.recv(100)
                except socket.timeout:
                    got = None
                assert got is None, "the greeting was not held: %r" % got
                status, out, err = live.finish()
        finally:
            live.kill()
    assert status == 0, "studio exit %d\n%s\n%s" % (status, out, err)
    summary = [line for line in out.splitlines() if " sessions, " in line]
    assert summary and " 0 lines" not in summary[0] and " 0 sessions" not in summary[0], out
    print("ok  held greeting; " + summary[0])
    check_png(png, SIZE)


def test_port_in_use_is_a_clear_error(studio, out_dir):
    png = os.path.join(out_dir, "live-port-in-use.png")
    with socket.socket() as busy, tempfile.TemporaryDirectory(prefix="maillab-live-") as tmp:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        ports = {name: free_port() for name in SERVICES}
        ports["smtp"] = port
        live = LiveStudio(studio, tmp, png, ports, live_for=2)
        try:
            status, out, err = live.finish()
        finally:
            live.kill()
    assert status == 1, "exit %d\n%s\n%s" % (status, out, err)
    assert str(port) in err, err
    assert "maillab: ready" not in out, out
    print("ok  port in use: " + [line for line in err.splitlines() if str(port) in line][0])
    check_png(png, SIZE, [ERROR])


def main():
    studio, out_dir = sys.argv[1:3]
    os.makedirs(out_dir, exist_ok=True)
    if not shutil.which("swaks"):
        print("skip: swaks is not installed")
        return
    test_swaks_arrives_live(studio, out_dir)
    test_hold_keeps_the_greeting_back(studio, out_dir)
    test_port_in_use_is_a_clear_error(studio, out_dir)
    print("3 passed, 0 failed")


if __name__ == "__main__":
    main()
