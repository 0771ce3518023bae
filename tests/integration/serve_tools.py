#!/usr/bin/env python3
"""maillab serve with command-line clients: curl (smtp/smtps/pop3/pop3s/imap/
imaps with --ssl-reqd) and swaks (STARTTLS, AUTH, pipelining, attachment).
A tool that is not installed is reported and skipped.

usage: serve_tools.py PATH/TO/maillab
"""
import email.utils
import imaplib
import os
import re
import shutil
import subprocess
import sys
import tempfile

from serve_harness import Runner, client_tls, running, wait_until

TOOL_TIMEOUT_S = 60


def run(args, stdin=None):
    done = subprocess.run(args, input=stdin, capture_output=True, timeout=TOOL_TIMEOUT_S)
    assert done.returncode == 0, (args, done.returncode, done.stdout[-2000:], done.stderr[-2000:])
    return done.stdout


def mail_bytes(sender, to, subject, body):
    return ("From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: %s\r\n\r\n%s\r\n" %
            (sender, to, subject, email.utils.formatdate(), email.utils.make_msgid(domain="lab.test"), body)).encode()


def inbox(server, user, password):
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


def test_curl_smtp_starttls_and_smtps(server):
    for scheme, port in (("smtp", server.ports["submission"]), ("smtps", server.ports["smtps"])):
        data = mail_bytes("alice@lab.test", "bob@lab.test", "curl over " + scheme, "sent by curl")
        run(["curl", "-sS", "--ssl-reqd", "-k", "--url", "%s://127.0.0.1:%d" % (scheme, port),
             "--mail-from", "alice@lab.test", "--mail-rcpt", "bob@lab.test",
             "--user", "alice@lab.test:alice-secret", "--upload-file", "-"], stdin=data)
        # Mail is asynchronous: the 250 says the message is safe in the queue; IMAP shows it
        # once its delivery round has synced the Maildir.
        wait_until(lambda: any(m.endswith(data) for m in inbox(server, "bob@lab.test", "bob-secret")),
                   what="curl's %s message in bob's INBOX" % scheme)


def test_curl_pop3_and_imap_fetch(server):
    data = mail_bytes("alice@lab.test", "dave@school.test", "for curl to fetch", "fetch me")
    run(["curl", "-sS", "--ssl-reqd", "-k", "--url", "smtp://127.0.0.1:%d" % server.ports["submission"],
         "--mail-from", "alice@lab.test", "--mail-rcpt", "dave@school.test",
         "--user", "alice@lab.test:alice-secret", "--upload-file", "-"], stdin=data)
    # lab.test -> school.test: a hop through the world in real time.
    wait_until(lambda: inbox(server, "dave@school.test", "dave-secret"), what="the delivery to dave")
    user = ["--user", "dave@school.test:dave-secret"]
    for url in ("pop3://127.0.0.1:%d/1" % server.ports["pop3"], "pop3s://127.0.0.1:%d/1" % server.ports["pop3s"],
                "imap://127.0.0.1:%d/INBOX;UID=1" % server.ports["imap"],
                "imaps://127.0.0.1:%d/INBOX;UID=1" % server.ports["imaps"]):
        out = run(["curl", "-sS", "--ssl-reqd", "-k", "--url", url] + user)
        assert out.endswith(data), (url, out)
    listing = run(["curl", "-sS", "--ssl-reqd", "-k", "--url", "imap://127.0.0.1:%d/" % server.ports["imap"]] + user)
    assert b"INBOX" in listing and b"Sent" in listing, listing


def test_curl_imap_append(server):
    data = mail_bytes("dave@school.test", "dave@school.test", "uploaded by curl", "APPEND from curl")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "draft.eml")  # curl APPENDs only a file of known size
        with open(path, "wb") as f:
            f.write(data)
        run(["curl", "-sS", "--ssl-reqd", "-k", "--url", "imap://127.0.0.1:%d/Drafts" % server.ports["imap"],
             "--user", "dave@school.test:dave-secret", "--upload-file", path])
    imap = imaplib.IMAP4_SSL("127.0.0.1", server.ports["imaps"], ssl_context=client_tls(), timeout=20)
    imap.login("dave@school.test", "dave-secret")
    typ, count = imap.select("Drafts")
    typ, parts = imap.fetch(count[0], "(BODY.PEEK[])")
    assert parts[0][1] == data, parts
    imap.logout()


def test_curl_without_tls_on_the_mx_port_cannot_relay(server):
    data = mail_bytes("x@outside.test", "y@elsewhere.test", "relay?", "no")
    done = subprocess.run(["curl", "-sS", "--url", "smtp://127.0.0.1:%d" % server.ports["smtp"],
                           "--mail-from", "x@outside.test", "--mail-rcpt", "y@elsewhere.test", "--upload-file", "-"],
                          input=data, capture_output=True, timeout=TOOL_TIMEOUT_S)
    assert done.returncode != 0, done
    assert b"554" in done.stderr, done.stderr


def test_swaks_pipelining_starttls_auth_attachment(server):
    with tempfile.TemporaryDirectory() as tmp:
        attachment = os.path.join(tmp, "notes.bin")
        payload = bytes(range(256)) * 64
        with open(attachment, "wb") as f:
            f.write(payload)
        out = run(["swaks", "--server", "127.0.0.1", "--port", str(server.ports["submission"]), "--tls",
                   "--auth", "PLAIN", "--auth-user", "carol@school.test", "--auth-password", "carol-secret",
                   "--from", "carol@school.test", "--to", "alice@lab.test,bob@lab.test", "--pipeline",
                   "--header", "Subject: swaks with an attachment", "--attach-type", "application/octet-stream",
                   "--attach", attachment, "--timeout", "20"]).decode(errors="replace")
    # Pipelined (RFC 2920): MAIL, both RCPTs and DATA leave before the first reply comes back.
    assert re.search(r" ~> MAIL FROM:<carol@school.test>\n ~> RCPT TO:<alice@lab.test>\n ~> RCPT TO:<bob@lab.test>\n"
                     r" ~> DATA\n<~  250 2\.1\.0", out), out
    assert re.search(r"<~\s+235 ", out), out          # AUTH inside TLS ("~" marks TLS in swaks' transcript)
    assert re.search(r"<~\s+250 2\.0\.0", out), out    # the message was accepted
    for user, password in (("alice@lab.test", "alice-secret"), ("bob@lab.test", "bob-secret")):
        def delivered():
            return [m for m in inbox(server, user, password) if b"swaks with an attachment" in m]
        wait_until(delivered, what="swaks' message in %s's INBOX" % user)
        found = delivered()
        assert len(found) == 1, (user, len(found))
        message = email.message_from_bytes(found[0])
        parts = [p for p in message.walk() if p.get_content_type() == "application/octet-stream"]
        assert parts and parts[0].get_payload(decode=True) == payload


def main():
    binary = sys.argv[1]
    runner = Runner()
    with running(binary) as server:
        if shutil.which("curl"):
            runner.check("curl smtp:// with --ssl-reqd (STARTTLS) and smtps:// submit with AUTH",
                         test_curl_smtp_starttls_and_smtps, server)
            runner.check("curl pop3://, pop3s://, imap://, imaps:// with --ssl-reqd fetch the message byte for byte",
                         test_curl_pop3_and_imap_fetch, server)
            runner.check("curl imap:// upload APPENDs to Drafts", test_curl_imap_append, server)
            runner.check("curl to the MX port for a foreign domain gets 554 relay denied",
                         test_curl_without_tls_on_the_mx_port_cannot_relay, server)
        else:
            print("skip curl: not installed")
        if shutil.which("swaks"):
            runner.check("swaks: STARTTLS, AUTH PLAIN, pipelining, a binary attachment to two recipients",
                         test_swaks_pipelining_starttls_auth_attachment, server)
        else:
            print("skip swaks: not installed")
        runner.finish(server)


if __name__ == "__main__":
    main()
