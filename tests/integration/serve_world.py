#!/usr/bin/env python3
"""maillab serve runs the scenario's world in real time (stdlib only, 127.0.0.1,
every wait bounded), on serve_world_domains.toml:
  - a message a real client submits at lab.test for school.test takes its hops
    through the world - DNS MX query, SMTP from mail.lab.test to mx.school.test,
    delivery - and bob reads it back over IMAP with the client's bytes intact
    and one Received: per hop;
  - far.test's MX 10 is down: mail.lab.test's connection to it times out (30 s
    of the world's clock, which is the wall clock) and MX 20 takes the message;
  - a recipient that school.test does not know is refused by mx.school.test and
    alice gets a DSN (RFC 3464) in her INBOX;
  - the on-disk queue forgets each message once the world settled it;
  - mail on the MX port for a user of that host goes straight into the
    Maildir (no queue file is ever created: inotify on queue/ and .tmp/,
    while a message for another domain does create one) and the trace still
    shows it accepted from the real client and delivered by the MDA;
  - the --trace file streams the world's events and the real clients' own lines
    (never a password).

usage: serve_world.py PATH/TO/maillab
"""
import base64
import ctypes
import errno
import imaplib
import json
import os
import signal
import smtplib
import sys

from serve_harness import Runner, Server, client_tls, message, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
SCENARIO = os.path.join(HERE, "serve_world_domains.toml")
ALICE = ("alice@lab.test", "alice-secret")
BOB = ("bob@school.test", "bob-secret")
ERIN = ("erin@far.test", "erin-secret")
HOP_BOUND_S = 20
FALLBACK_BOUND_S = 75  # the world's 30 s connect timeout on MX 10, then MX 20
BODY = "Hi,\r\n.a line with a dot\r\n..two dots\r\nbye"


def submit(server, to, msgid):
    data = message("world", ALICE[0], to, msgid, BODY)
    with smtplib.SMTP("127.0.0.1", server.ports["submission"], timeout=20) as smtp:
        smtp.starttls(context=client_tls())
        smtp.login(*ALICE)
        smtp.sendmail(ALICE[0], [to], data)
    return data


def imap_messages(server, user):
    imap = imaplib.IMAP4("127.0.0.1", server.ports["imap"], timeout=20)
    try:
        imap.starttls(ssl_context=client_tls())
        imap.login(*user)
        typ, _ = imap.select("INBOX", readonly=True)
        assert typ == "OK"
        typ, data = imap.uid("SEARCH", None, "ALL")
        out = []
        for uid in data[0].split():
            typ, parts = imap.uid("FETCH", uid, "(BODY.PEEK[])")
            assert typ == "OK", parts
            out.append(parts[0][1])
        return out
    finally:
        imap.logout()


def header_of(stored, sent):
    """The fields the hops added in front of the client's bytes, which must be intact."""
    assert stored.endswith(sent), stored
    return stored[: len(stored) - len(sent)].decode()


def two_domain_hop(server, sent):
    fetched = wait_until(lambda: imap_messages(server, BOB), HOP_BOUND_S, "the delivery to bob@school.test", 0.25)
    assert len(fetched) == 1, fetched
    header = header_of(fetched[0], sent["bob"])
    assert header.startswith("Return-Path: <alice@lab.test>\r\nDelivered-To: bob@school.test\r\n"), header
    received = header.split("Received: ")[1:]
    assert len(received) == 2, header  # one per hop: client -> mail.lab.test -> mx.school.test
    assert received[0].startswith("from mail.lab.test") and "by mx.school.test" in received[0], received
    assert "by mail.lab.test with ESMTPSA" in received[1], received  # the submission's
    assert "for <bob@school.test>" in received[1], received


def mx_fallback(server, sent):
    fetched = wait_until(lambda: imap_messages(server, ERIN), FALLBACK_BOUND_S, "the delivery to erin@far.test", 1.0)
    assert len(fetched) == 1, fetched
    header = header_of(fetched[0], sent["erin"])
    assert "by mx2.far.test" in header.split("Received: ")[1], header
    assert "mx1.far.test" not in header, header


def unknown_user_bounces(server):
    def dsn():
        return [m for m in imap_messages(server, ALICE) if b"report-type=delivery-status" in m]
    found = wait_until(dsn, HOP_BOUND_S, "the DSN in alice's INBOX", 0.25)
    assert len(found) == 1, found
    report = found[0]
    assert b"Return-Path: <>" in report, report[:600]
    assert b"Final-Recipient: rfc822; nobody@school.test" in report, report
    assert b"Status: 5.1.1" in report, report
    assert b"<world.unknown@lab.test>" in report, report  # the original (its header) comes back


class QueueWatch:
    """inotify (through libc) on STATE/queue and STATE/queue/.tmp: did anything get created there?"""
    IN_NONBLOCK, IN_CREATE, IN_MOVED_TO = 0o4000, 0x100, 0x80

    def __init__(self, server):
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self.libc.inotify_init1(self.IN_NONBLOCK)
        assert self.fd >= 0, os.strerror(ctypes.get_errno())
        for folder in ("queue", os.path.join("queue", ".tmp")):
            path = os.path.join(server.state, folder).encode()
            assert self.libc.inotify_add_watch(self.fd, path, self.IN_CREATE | self.IN_MOVED_TO) >= 0, path

    def created(self):
        try:
            return len(os.read(self.fd, 65536)) > 0
        except BlockingIOError as e:
            assert e.errno == errno.EAGAIN
            return False

    def close(self):
        os.close(self.fd)


def local_mail_skips_the_queue(server):
    watch = QueueWatch(server)
    try:
        with smtplib.SMTP("127.0.0.1", server.ports["smtp"], timeout=20) as smtp:
            smtp.ehlo("outside.example.org")
            smtp.sendmail("carol@example.org", [BOB[0]],
                          message("world", "carol@example.org", BOB[0], "<world.local@example.org>", BODY))
        wait_until(lambda: any(b"<world.local@example.org>" in m for m in imap_messages(server, BOB)), HOP_BOUND_S,
                   "the local message in bob's INBOX")
        assert not watch.created(), "a queue file was written for mail a local mailbox took at once"
        submit(server, BOB[0], "<world.bob2@lab.test>")  # relayed by mail.lab.test: it goes through the queue
        assert watch.created(), "the watch saw no queue file for relayed mail either"
    finally:
        watch.close()


def queue_empties(server):
    folder = os.path.join(server.state, "queue")

    def empty():
        return not [n for n in os.listdir(folder) if not n.startswith(".")]
    wait_until(empty, 10, "the on-disk queue to empty")


def stops_cleanly(server):
    server.signal(signal.SIGTERM)
    status = server.wait()
    assert status == 0, "exit status %s" % status


def trace_has_hops_and_client_lines(raw):
    events = [json.loads(line) for line in raw.decode().splitlines()]
    assert events, "empty trace"
    times = [e["t"] for e in events]
    assert times == sorted(times), "t goes backwards"
    assert 0 <= times[0] and times[-1] < 600, (times[0], times[-1])
    for e in events:
        assert {"t", "kind", "src", "dst", "proto"} <= set(e), e

    def find(**want):
        return [e for e in events if all(e.get(k) == v for k, v in want.items())]

    client = [e for e in find(kind="line", proto="submission", dir="C")
              if e["text"].upper().startswith("MAIL FROM:<ALICE@LAB.TEST>")]
    assert client, "the real client's MAIL FROM is not in the trace"
    label = client[0]["src"]
    assert label.startswith("127.0.0.1:") and label.split(":")[1].isdigit(), label
    assert client[0]["dst"] == "mail.lab.test" and client[0]["tls"] is True, client[0]
    assert find(kind="line", proto="submission", dir="S", src="mail.lab.test", dst=label), "no server lines"
    assert [e for e in find(kind="line", proto="submission", dir="C", src=label) if e["text"] == "AUTH PLAIN (hidden)"]
    assert find(kind="dns", src="mail.lab.test", dir="C", text="query MX school.test"), "no MX query"
    assert find(kind="dns", src="dns.lab", dst="mail.lab.test", dir="S"), "no DNS answer"
    hop = [e for e in find(kind="line", proto="smtp", src="mail.lab.test", dst="mx.school.test", dir="C")
           if e["text"] == "RCPT TO:<bob@school.test>"]
    assert hop, "no SMTP hop from mail.lab.test to mx.school.test"
    assert find(kind="line", proto="smtp", src="mx.school.test", dst="mail.lab.test", dir="S"), "no hop replies"
    assert find(kind="deliver", src="mx.school.test", msg="world.bob@lab.test", user="bob@school.test")
    local = [e for e in find(kind="queue", src="mx.school.test", msg="world.local@example.org")
             if "from the real client 127.0.0.1:" in e["text"]]
    assert local, "the local message's acceptance from the real client is not in the trace"
    assert find(kind="deliver", src="mx.school.test", msg="world.local@example.org", user="bob@school.test"), \
        "the local message's MDA step is not in the trace"
    assert find(kind="connect", src="mail.lab.test", dst="mx1.far.test"), "no attempt at MX 10"
    assert [e for e in find(kind="line", proto="smtp", src="mail.lab.test", dst="mx2.far.test", dir="C")
            if e["text"] == "RCPT TO:<erin@far.test>"], "no SMTP hop to MX 20"
    assert find(kind="bounce"), "no bounce event"
    # Real IMAP sessions talk to the lab's one IMAP service, mail.lab.test (the first domain's host).
    logins = [e for e in find(kind="line", proto="imap", dst="mail.lab.test", dir="C")
              if e["text"].endswith(' LOGIN bob@school.test (hidden)')]
    assert logins and logins[0]["src"].startswith("127.0.0.1:"), "bob's IMAP session is not traced"
    for secret in (b"alice-secret", b"bob-secret", b"erin-secret",
                   base64.b64encode(b"\0alice@lab.test\0alice-secret")):
        assert secret not in raw, "a password is in the trace: %r" % secret


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        sys.exit(2)
    runner = Runner()
    server = Server(sys.argv[1], scenario=SCENARIO)
    trace_path = os.path.join(server.tmp.name, "trace.jsonl")
    server.extra_args = ["--trace", trace_path]
    server.start()
    trace = b""
    try:
        sent = {"erin": submit(server, ERIN[0], "<world.erin@lab.test>"),
                "bob": submit(server, BOB[0], "<world.bob@lab.test>")}
        submit(server, "nobody@school.test", "<world.unknown@lab.test>")
        runner.check("submission at lab.test reaches bob@school.test through the world: bytes intact, "
                     "a Received: per hop", two_domain_hop, server, sent)
        runner.check("an unknown user at school.test: mx.school.test refuses it, alice gets a DSN",
                     unknown_user_bounces, server)
        runner.check("far.test's MX 10 is down: MX 20 takes the message for erin", mx_fallback, server, sent)
        runner.check("local mail on the MX port goes into bob's Maildir without a queue file", local_mail_skips_the_queue,
                     server)
        runner.check("the on-disk queue forgets each message once the world settled it", queue_empties, server)
        runner.check("serve exits 0 on SIGTERM with the world running", stops_cleanly, server)
        with open(trace_path, "rb") as f:
            trace = f.read()
        runner.check("--trace streams DNS and SMTP hops between world hosts, the bounce and the real clients' "
                     "lines, no password", trace_has_hops_and_client_lines, trace)
    finally:
        log = server.log()
        server.stop()
    if runner.failed:
        print("--- server log ---\n" + log)
    runner.finish()


if __name__ == "__main__":
    main()
