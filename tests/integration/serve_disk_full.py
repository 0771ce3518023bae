#!/usr/bin/env python3
"""maillab serve when the disk fills (catalogue rows 17 and 57), without root.

Two real limits, each a fresh server on 127.0.0.1:
  fsize   `prlimit --fsize` (RLIMIT_FSIZE): a queue or Maildir write past the
          limit fails with EFBIG (serve ignores SIGXFSZ).  After the failure the
          server is restarted without the limit on the same state directory.
  tmpfs   a real file system that fills up: serve runs in its own mount
          namespace (`unshare -rm`, no privilege needed where user namespaces
          are allowed) on a small tmpfs mounted over its state directory; the
          test fills and empties it through /proc/PID/root.  Skipped, and said
          so, where unshare is not permitted.
fsize checks: the message that did not fit gets 452 4.3.1, no byte of it is
left in the Maildirs or the queue, IMAP and POP3 see only the acknowledged mail,
and the same message is accepted once space is back.  tmpfs checks row 17:
MAIL FROM gets 452 4.3.1 while less than 1.5 x the size limit is free; and a
disk that fills during DATA: the delivery log (room taken at start) still takes
the message (250), its Maildir write fails and leaves nothing, and it is
delivered once space is back, without being sent again.

usage: serve_disk_full.py PATH/TO/maillab
"""
import imaplib
import os
import poplib
import shutil
import signal
import smtplib
import stat
import subprocess
import sys
import tempfile
import time

from serve_harness import Runner, Server, client_tls, lab_scenario

ALICE = ("alice@lab.test", "alice-secret")
BOB = ("bob@lab.test", "bob-secret")
MIB = 1024 * 1024


def message(msgid, body_bytes):
    head = ("From: alice@lab.test\r\nTo: bob@lab.test\r\nSubject: disk %s\r\nMessage-ID: %s\r\n\r\n"
            % (msgid, msgid)).encode()
    line = b"0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz\r\n"
    return head + line * (body_bytes // len(line) + 1)


def submit(server, msgid, body_bytes):
    """(code, text) of the final reply to the message."""
    with smtplib.SMTP("127.0.0.1", server.ports["submission"], timeout=30) as smtp:
        smtp.starttls(context=client_tls())
        smtp.login(*ALICE)
        try:
            smtp.sendmail(ALICE[0], [BOB[0]], message(msgid, body_bytes))
            return 250, b""
        except smtplib.SMTPDataError as e:
            return e.smtp_code, e.smtp_error
        except smtplib.SMTPSenderRefused as e:
            return e.smtp_code, e.smtp_error


def files_holding(root, needle):
    """Every file under root whose bytes contain needle."""
    found = []
    for directory, _, names in os.walk(root):
        for name in names:
            path = os.path.join(directory, name)
            try:
                with open(path, "rb") as f:
                    if needle in f.read():
                        found.append(path)
            except OSError:
                pass
    return found


def imap_message_ids(server):
    client = imaplib.IMAP4_SSL("127.0.0.1", server.ports["imaps"], ssl_context=client_tls(), timeout=20)
    try:
        client.login(*BOB)
        typ, data = client.select("INBOX")
        assert typ == "OK", data
        count = int(data[0])
        ids = []
        if count:
            typ, data = client.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
            assert typ == "OK", data
            for item in data:
                if isinstance(item, tuple):
                    ids.append(item[1].decode().split(":", 1)[1].strip())
        assert len(ids) == count, (count, ids)
        return ids
    finally:
        client.logout()


def pop3_count(server):
    client = poplib.POP3_SSL("127.0.0.1", server.ports["pop3s"], context=client_tls(), timeout=20)
    try:
        client.user(BOB[0])
        client.pass_(BOB[1])
        return client.stat()[0]
    finally:
        client.quit()


def wait_for(predicate, what, seconds=10):
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for " + what
        time.sleep(0.1)


def check_refused_and_gone(server, root, refused_id, kept_ids):
    """After a 452 (or a Maildir write that failed): nothing of refused_id anywhere in the
    state but the delivery log, only kept_ids served."""
    assert server.process.poll() is None, "the server died:\n" + server.log()
    # The delivery log may still hold the refused message's record, voided before the 452
    # (sim/store/delivery_log.hpp): no start replays it, and the ring writes over it later.
    leftovers = [path for path in files_holding(root, refused_id.encode())
                 if os.path.basename(path) != "delivery-log"]
    assert not leftovers, "a partial copy of the refused message is on disk: %r" % leftovers
    assert imap_message_ids(server) == kept_ids
    assert pop3_count(server) == len(kept_ids)


class KeepingServer(Server):
    def stop_keeping_state(self):
        """SIGTERM and wait, keeping the state dir and ports for start()."""
        self.signal(signal.SIGTERM)
        assert self.wait() == 0, self.log()
        self.process.stdout.close()
        self.stderr.close()


def write_script(directory, name, text):
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)
    return path


def scenario_path(directory):
    return lab_scenario(directory, "disk.toml", 'message_bytes_max = "1MiB"\n', title="Disk full")


def test_fsize_limit(binary, directory):  # catalogue row 57 (EFBIG)
    wrapper = write_script(directory, "fsize.sh", '#!/bin/sh\nexec prlimit --fsize=262144 -- "%s" "$@"\n' % binary)
    server = KeepingServer(wrapper, scenario=scenario_path(directory)).start()
    try:
        assert submit(server, "<fsize.m1@lab.test>", 20000)[0] == 250
        wait_for(lambda: imap_message_ids(server) == ["<fsize.m1@lab.test>"], "m1 in bob's INBOX")
        code, text = submit(server, "<fsize.m2@lab.test>", 400000)  # the queue file passes 256 KiB
        assert code == 452 and b"4.3.1" in text, (code, text)
        assert "File too large" in server.log(), server.log()  # EFBIG, not some other failure
        check_refused_and_gone(server, server.state, "<fsize.m2@lab.test>", ["<fsize.m1@lab.test>"])
        # Space is back: the same server state without the limit.
        server.stop_keeping_state()
        server.binary = binary
        server.start()
        assert imap_message_ids(server) == ["<fsize.m1@lab.test>"]  # acknowledged, delivered once
        assert submit(server, "<fsize.m2@lab.test>", 400000)[0] == 250
        wait_for(lambda: imap_message_ids(server) == ["<fsize.m1@lab.test>", "<fsize.m2@lab.test>"],
                 "m2 in bob's INBOX")
        assert pop3_count(server) == 2
    finally:
        server.stop()


def unshare_works(directory):
    if not shutil.which("unshare"):
        return False
    target = tempfile.mkdtemp(dir=directory)
    done = subprocess.run(["unshare", "-rm", "mount", "-t", "tmpfs", "-o", "size=1m", "maillab-probe", target],
                          capture_output=True, timeout=20)
    return done.returncode == 0


def test_tmpfs_full(binary, directory):  # catalogue rows 17 and 57 (ENOSPC)
    server = KeepingServer(binary, scenario=scenario_path(directory))
    wrapper = write_script(directory, "tmpfs.sh",
                           "#!/bin/sh\nexec unshare -rm sh -c 'mkdir -p \"$0\" && "
                           "mount -t tmpfs -o size=8m maillab-disk \"$0\" && exec \"$@\"' \"%s\" \"%s\" \"$@\"\n"
                           % (server.state, binary))
    server.binary = wrapper
    server.start()
    root = "/proc/%d/root%s" % (server.process.pid, server.state)  # the tmpfs, as serve sees it
    filler = os.path.join(root, "filler")

    def fill(leave):
        info = os.statvfs(root)
        free = info.f_bavail * info.f_frsize
        current = os.path.getsize(filler) if os.path.exists(filler) else 0
        size = max(0, current + free - leave)
        with open(filler, "wb") as f:
            chunk = b"\0" * (64 * 1024)
            while size > 0:
                f.write(chunk[:min(size, len(chunk))])
                size -= min(size, len(chunk))
            f.flush()
            os.fsync(f.fileno())

    try:
        assert os.statvfs(root).f_blocks * os.statvfs(root).f_frsize <= 8 * MIB, "not the tmpfs"
        assert submit(server, "<tmpfs.m1@lab.test>", 20000)[0] == 250
        wait_for(lambda: imap_message_ids(server) == ["<tmpfs.m1@lab.test>"], "m1 in bob's INBOX")

        # Row 17: 1 MiB free, below 1.5 x message_bytes_max: MAIL FROM is refused.
        fill(MIB)
        with smtplib.SMTP("127.0.0.1", server.ports["submission"], timeout=30) as smtp:
            smtp.starttls(context=client_tls())
            smtp.login(*ALICE)
            code, text = smtp.mail(ALICE[0])
            assert code == 452 and b"4.3.1" in text, (code, text)

        # Row 57: enough at MAIL FROM, the disk fills before the end of DATA.  The delivery log
        # (its room taken at start) still takes the message durably: 250.  The Maildir write
        # fails after it, and the message stays queued there (never bounced), nothing partial
        # on disk, hidden from IMAP and POP3 until it is written.
        fill(3 * MIB)
        with smtplib.SMTP("127.0.0.1", server.ports["submission"], timeout=30) as smtp:
            smtp.starttls(context=client_tls())
            smtp.login(*ALICE)
            assert smtp.mail(ALICE[0])[0] == 250
            assert smtp.rcpt(BOB[0])[0] == 250
            fill(32 * 1024)
            code, text = smtp.data(message("<tmpfs.m2@lab.test>", 600000))
            assert code == 250, (code, text)
        wait_for(lambda: "maildir: " in server.log(), "the failed Maildir write in the log")
        assert "No space left on device" in server.log(), server.log()  # ENOSPC, not some other failure
        check_refused_and_gone(server, root, "<tmpfs.m2@lab.test>", ["<tmpfs.m1@lab.test>"])

        # Space is back: the next round writes it, once, without the client sending it again.
        os.unlink(filler)
        wait_for(lambda: imap_message_ids(server) == ["<tmpfs.m1@lab.test>", "<tmpfs.m2@lab.test>"],
                 "m2 in bob's INBOX")
        assert pop3_count(server) == 2
        assert submit(server, "<tmpfs.m3@lab.test>", 20000)[0] == 250
        wait_for(lambda: imap_message_ids(server) == ["<tmpfs.m1@lab.test>", "<tmpfs.m2@lab.test>",
                                                      "<tmpfs.m3@lab.test>"], "m3 after it")
    finally:
        server.stop()


def main():
    binary = sys.argv[1]
    runner = Runner()
    with tempfile.TemporaryDirectory(prefix="maillab-disk-") as directory:
        runner.check("disk full (RLIMIT_FSIZE): 452 4.3.1, nothing partial left, nothing acknowledged lost, "
                     "accepted once space is back", test_fsize_limit, binary, directory)
        if unshare_works(directory):
            runner.check("disk full (tmpfs): MAIL FROM 452 4.3.1 below 1.5x the size limit; a disk that fills "
                         "during DATA: 250 from the delivery log, the Maildir write fails and keeps nothing, "
                         "delivered once space is back",
                         test_tmpfs_full, binary, directory)
        else:
            print("skip disk full (tmpfs): unshare -rm is not permitted here (no user namespaces)", flush=True)
        runner.finish()


if __name__ == "__main__":
    main()
