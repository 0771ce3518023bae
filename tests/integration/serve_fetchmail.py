#!/usr/bin/env python3
"""maillab serve with fetchmail: POP3 (STLS and implicit TLS) and IMAP
(STARTTLS and implicit TLS).  fetchmail runs in the foreground (--nodetach,
no daemon, --nosyslog) with a private 0600 rc file; certificate checking is
off for the self-signed lab certificate.  Each message goes to an MDA that
writes it to a file of its own; `invisible` and `no rewrite` keep fetchmail
from adding a Received header or rewriting addresses, so the file must be the
server's message byte for byte (fetchmail hands the MDA LF line ends).  The
messages carry a line that starts with a dot, 8-bit UTF-8 and forty
base64-style lines of 76 octets.

usage: serve_fetchmail.py PATH/TO/maillab
"""
import email.utils
import imaplib
import os
import shutil
import smtplib
import subprocess
import sys
import tempfile

from serve_harness import Runner, client_tls, running, wait_until

TOOL_TIMEOUT_S = 60
USERS = {"pop3": ("bob@lab.test", "bob-secret"), "imap": ("carol@school.test", "carol-secret")}


def message(to, i):
    body = ("Hello %d,\r\n.a line that starts with a dot\r\n..two dots\r\nGr\u00fc\u00dfe, \u00e7a va\r\n\r\n"
            "%s-- \r\nend of %d" % (i, ("QUJD" * 19 + "\r\n") * 40, i))
    return ("From: alice@lab.test\r\nTo: %s\r\nSubject: fetchmail %d\r\nDate: %s\r\nMessage-ID: %s\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"
            "\r\n%s\r\n" % (to, i, email.utils.formatdate(), email.utils.make_msgid(domain="lab.test"),
                            body)).encode()


def deliver(server, user, count):
    sent = [message(user, i) for i in range(count)]
    with smtplib.SMTP("127.0.0.1", server.ports["smtp"], timeout=20) as smtp:
        for data in sent:
            smtp.sendmail("alice@lab.test", [user], data)
    return sent


def stored(server, user, password):
    """The server's copies, as IMAP hands them out (what a fetch must reproduce)."""
    imap = imaplib.IMAP4_SSL("127.0.0.1", server.ports["imaps"], ssl_context=client_tls(), timeout=20)
    imap.login(user, password)
    imap.select("INBOX", readonly=True)
    typ, data = imap.uid("SEARCH", None, "ALL")
    out = []
    for uid in data[0].split():
        typ, parts = imap.uid("FETCH", uid, "(BODY.PEEK[])")
        out.append(parts[0][1])
    imap.logout()
    return out


def fetch(server, protocol, port, tls, user, password):
    """Runs fetchmail once; returns the messages its MDA wrote, in order."""
    tmp = tempfile.mkdtemp(prefix="maillab-fetchmail-")
    try:
        out = os.path.join(tmp, "out")
        os.makedirs(out)
        mda = os.path.join(tmp, "mda.sh")
        with open(mda, "w") as f:
            f.write('#!/bin/sh\nexec cat > "$(mktemp %s/msg.XXXXXXXX)"\n' % out)
        os.chmod(mda, 0o755)
        rc = os.path.join(tmp, "fetchmailrc")
        with open(rc, "w") as f:
            f.write('set no syslog\nset invisible\n'
                    'poll 127.0.0.1 protocol %s port %d timeout 20 auth password\n'
                    '  user "%s" there with password "%s" is root here\n'
                    '  options keep fetchall no rewrite %s no sslcertck\n'
                    '  mda "%s"\n' % (protocol, port, user, password, tls, mda))
        os.chmod(rc, 0o600)
        env = dict(os.environ, HOME=tmp, FETCHMAILHOME=tmp)
        done = subprocess.run(["fetchmail", "--nodetach", "--nosyslog", "-f", rc, "--pidfile",
                               os.path.join(tmp, "fetchmail.pid"), "-v"],
                              capture_output=True, timeout=TOOL_TIMEOUT_S, env=env, cwd=tmp)
        assert done.returncode == 0, (done.returncode, done.stdout[-3000:], done.stderr[-3000:])
        files = sorted(os.listdir(out))
        got = []
        for name in files:
            with open(os.path.join(out, name), "rb") as f:
                got.append(f.read())
        return got, done.stdout + done.stderr
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def fetch_byte_intact(server, kind, protocol, port, tls):
    user, password = USERS[kind]
    sent = deliver(server, user, 4) if not stored(server, user, password) else None
    # A 250 means durable in the queue; IMAP shows a message once its Maildir copy is durable too.
    remote = wait_until(lambda: (lambda found: found if len(found) >= 4 else None)(stored(server, user, password)),
                        what="the mail in the INBOX")
    assert len(remote) >= 4
    if sent:
        for data in sent:
            assert sum(1 for m in remote if m.endswith(data)) == 1
    got, log = fetch(server, protocol, port, tls, user, password)
    assert len(got) == len(remote), (len(got), len(remote), log[-3000:])
    if tls != "ssl":  # the plain port must have been upgraded before the password went out
        assert (b"> STLS" if protocol == "POP3" else b"STARTTLS\n") in log, log[-3000:]
    expected = sorted(m.replace(b"\r\n", b"\n") for m in remote)
    assert sorted(got) == expected, (got[0][:600], expected[0][:600])
    # `keep`: the server still has every message.
    assert len(stored(server, user, password)) == len(remote)


def main():
    if shutil.which("fetchmail") is None:
        print("fetchmail is not installed; skipped")
        sys.exit(0)
    runner = Runner()
    with running(sys.argv[1]) as server:
        p = server.ports
        runner.check("fetchmail: POP3 with STLS fetches every message byte-intact",
                     fetch_byte_intact, server, "pop3", "POP3", p["pop3"], "sslproto 'TLS1.2+'")
        runner.check("fetchmail: POP3S fetches every message byte-intact",
                     fetch_byte_intact, server, "pop3", "POP3", p["pop3s"], "ssl")
        runner.check("fetchmail: IMAP with STARTTLS fetches every message byte-intact",
                     fetch_byte_intact, server, "imap", "IMAP", p["imap"], "sslproto 'TLS1.2+'")
        runner.check("fetchmail: IMAPS fetches every message byte-intact",
                     fetch_byte_intact, server, "imap", "IMAP", p["imaps"], "ssl")
        runner.finish(server)


if __name__ == "__main__":
    main()
