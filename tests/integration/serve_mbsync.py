#!/usr/bin/env python3
"""maillab serve with mbsync (isync 1.4): a local Maildir kept in step with
alice's INBOX over IMAP with STARTTLS and over IMAPS.  The lab certificate is
self-signed, so mbsync trusts it as a host certificate (CertificateFile with
the state dir's tls/cert.pem, SystemCertificates off): verification stays on.

Checked: messages on the server arrive in the Maildir with their bytes intact
(mbsync stores LF line ends), a message put in the Maildir arrives on the
server (read back with imaplib), flags go both ways (Maildir S/F -> \\Seen
\\Flagged, server \\Answered -> Maildir R), and a second run changes nothing.

usage: serve_mbsync.py PATH/TO/maillab
"""
import email.utils
import imaplib
import os
import re
import shutil
import smtplib
import subprocess
import sys
import tempfile
import time

from serve_harness import Runner, client_tls, running, wait_until

TOOL_TIMEOUT_S = 60
USER, PASSWORD = "alice@lab.test", "alice-secret"


def mail_bytes(sender, to, subject, body):
    return ("From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: %s\r\n\r\n%s\r\n" %
            (sender, to, subject, email.utils.formatdate(), email.utils.make_msgid(domain="lab.test"),
             body)).encode()


class Sync:
    """One mbsync configuration (its own HOME, rc file and Maildir)."""

    def __init__(self, server, ssl_type, port):
        self.tmp = tempfile.mkdtemp(prefix="maillab-mbsync-")
        self.maildir = os.path.join(self.tmp, "Mail")
        self.inbox = os.path.join(self.maildir, "INBOX")
        self.rc = os.path.join(self.tmp, "mbsyncrc")
        os.makedirs(self.maildir)
        cert = os.path.join(server.state, "tls", "cert.pem")
        with open(self.rc, "w") as f:
            f.write("IMAPAccount lab\nHost 127.0.0.1\nPort %d\nUser %s\nPass %s\nSSLType %s\n"
                    "CertificateFile %s\nSystemCertificates no\nTimeout 20\n\n"
                    "IMAPStore lab-far\nAccount lab\n\n"
                    "MaildirStore lab-near\nPath %s/\nInbox %s\n\n"
                    "Channel lab\nFar :lab-far:\nNear :lab-near:\nPatterns INBOX\nCreate Near\n"
                    "Sync All\nExpunge None\nSyncState *\n" %
                    (port, USER, PASSWORD, ssl_type, cert, self.maildir, self.inbox))
        os.chmod(self.rc, 0o600)

    def run(self):
        env = dict(os.environ, HOME=self.tmp)
        done = subprocess.run(["mbsync", "-c", self.rc, "-a"], capture_output=True, timeout=TOOL_TIMEOUT_S,
                              env=env, cwd=self.tmp)
        assert done.returncode == 0, (done.returncode, done.stdout[-3000:], done.stderr[-3000:])
        return done.stdout + done.stderr

    def files(self):
        """{path: bytes} of every message in the local INBOX (new and cur)."""
        out = {}
        for sub in ("new", "cur"):
            folder = os.path.join(self.inbox, sub)
            for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
                with open(os.path.join(folder, name), "rb") as f:
                    out[os.path.join(folder, name)] = f.read()
        return out

    def cleanup(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


def imap(server):
    connection = imaplib.IMAP4_SSL("127.0.0.1", server.ports["imaps"], ssl_context=client_tls(), timeout=20)
    connection.login(USER, PASSWORD)
    connection.select("INBOX")
    return connection


def server_messages(server):
    """[(uid, flags, bytes)] of alice's INBOX."""
    connection = imap(server)
    typ, data = connection.uid("SEARCH", None, "ALL")
    out = []
    for uid in data[0].split():
        typ, parts = connection.uid("FETCH", uid, "(FLAGS BODY.PEEK[])")
        flags = re.search(rb"FLAGS \(([^)]*)\)", parts[0][0]).group(1).split()
        out.append((uid, set(flags), parts[0][1]))
    connection.logout()
    return out


def lf(data):
    return data.replace(b"\r\n", b"\n")


def untagged(data):
    """The message without the X-TUID header mbsync adds to every copy it makes
    (isync 1.4 finds its own uploads by it); the rest must be the same bytes."""
    lines = data.splitlines(keepends=True)
    end = next((i for i, line in enumerate(lines) if line in (b"\n", b"\r\n")), len(lines))
    return b"".join(line for line in lines[:end] if not line.startswith(b"X-TUID: ")) + b"".join(lines[end:])


def sync_both_ways(server, ssl_type, port):
    sent = []
    before = len(server_messages(server))
    with smtplib.SMTP("127.0.0.1", server.ports["smtp"], timeout=20) as smtp:
        for i in range(3):
            data = mail_bytes("bob@lab.test", USER, "%s to mbsync %d" % (ssl_type, i),
                              "line one\r\n.a line with a leading dot\r\n\r\nlast line of %d" % i)
            smtp.sendmail("bob@lab.test", [USER], data)
            sent.append(data)
    # A 250 means durable in the queue; IMAP shows a message once its Maildir copy is durable too.
    wait_until(lambda: len(server_messages(server)) >= before + len(sent), what="the mail in the INBOX")
    sync = Sync(server, ssl_type, port)
    try:
        # Server to Maildir: every message on the server, byte for byte (LF line ends locally).
        sync.run()
        local = sync.files()
        remote = server_messages(server)
        assert len(local) == len(remote) >= 3, (len(local), len(remote))
        assert sorted(untagged(lf(m)) for _, _, m in remote) == sorted(untagged(m) for m in local.values())
        for data in sent:
            assert any(untagged(m).endswith(lf(data)) for m in local.values()), data

        # Maildir to server: a message dropped into new/ is APPENDed, byte for byte.
        made = mail_bytes(USER, USER, "%s written locally" % ssl_type, "drafted in the Maildir\r\nsecond line")
        name = "%d.%d_0.mbsync-test" % (int(time.time()), os.getpid())
        with open(os.path.join(sync.inbox, "new", name), "wb") as f:
            f.write(lf(made))
        sync.run()
        remote = server_messages(server)
        assert sum(1 for _, _, m in remote if untagged(m) == made) == 1, [m[:200] for _, _, m in remote]
        assert len(remote) == len(sync.files())

        # Flags, near to far: the first synced message marked seen and flagged in the Maildir.
        target = next(p for p, m in sync.files().items() if untagged(m).endswith(lf(sent[0])))
        base = os.path.basename(target).split(":2,")[0]
        os.rename(target, os.path.join(sync.inbox, "cur", base + ":2,FS"))
        # Flags, far to near: the second message answered on the server.
        second_uid = next(uid for uid, _, m in server_messages(server) if m.endswith(sent[1]))
        connection = imap(server)
        typ, _ = connection.uid("STORE", second_uid, "+FLAGS", "(\\Answered)")
        assert typ == "OK"
        connection.logout()
        sync.run()
        flags = {m: f for _, f, m in server_messages(server)}
        first = next(f for m, f in flags.items() if m.endswith(sent[0]))
        assert {b"\\Seen", b"\\Flagged"} <= first, first
        second = next(p for p, m in sync.files().items() if untagged(m).endswith(lf(sent[1])))
        assert re.search(r":2,[A-Z]*R", second), second

        # A second run with nothing changed leaves both sides as they are.
        before_local, before_remote = sync.files(), server_messages(server)
        sync.run()
        assert sync.files() == before_local
        assert server_messages(server) == before_remote
    finally:
        sync.cleanup()


def main():
    if shutil.which("mbsync") is None:
        print("mbsync is not installed; skipped")
        sys.exit(0)
    runner = Runner()
    with running(sys.argv[1]) as server:
        runner.check("mbsync: INBOX syncs both ways with flags over IMAP STARTTLS",
                     sync_both_ways, server, "STARTTLS", server.ports["imap"])
        runner.check("mbsync: INBOX syncs both ways with flags over IMAPS",
                     sync_both_ways, server, "IMAPS", server.ports["imaps"])
        runner.finish(server)


if __name__ == "__main__":
    main()
