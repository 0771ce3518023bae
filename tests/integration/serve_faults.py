#!/usr/bin/env python3
"""maillab serve under client faults (tests/integration/CATALOGUE.md):

- catalogue row 42: a client that stops reading is disconnected once its
  pending output has made no progress for the scenario's output_timeout (IMAP
  FETCH 1:* BODY[] and POP3 RETR that are never read), while another session
  is served normally and the server's memory stays bounded;
- catalogue row 60: SMTP deliveries, POP3 DELE+QUIT and IMAP STORE \\Deleted +
  EXPUNGE running at the same moment on one Maildir lose and duplicate nothing.

Every wait is bounded; every server is stopped at the end.

usage: serve_faults.py PATH/TO/maillab
"""
import imaplib
import os
import poplib
import re
import smtplib
import sys
import tempfile
import threading
import time

from serve_harness import RawClient, Runner, client_tls, inbox_message_ids, lab_scenario, running, wait_until

ALICE = ("alice@lab.test", "alice-secret")
BOB = ("bob@lab.test", "bob-secret")
OUTPUT_TIMEOUT_S = 2
SLACK_S = 15  # a loaded CI machine, the sanitizer build
BIG_MESSAGES = 16
BIG_MESSAGE_BYTES = 2 << 20  # 16 x 2 MiB: far beyond the 1 MiB the server queues plus both socket buffers


def imap_login(server, user, rcvbuf=None):
    """IMAP on the plain port, STARTTLS, LOGIN (RFC 9051 §6.2.1)."""
    c = RawClient(server.ports["imap"], rcvbuf=rcvbuf)
    assert c.line().startswith(b"* OK")
    assert c.imap(b"T", b"STARTTLS")[-1].startswith(b"T OK")
    c.starttls()
    lines = c.imap(b"L", b"LOGIN %s %s" % (user[0].encode(), user[1].encode()))
    assert lines[-1].startswith(b"L OK"), lines
    return c


def pop3_login(server, user, rcvbuf=None):
    """POP3 on the plain port, STLS (RFC 2595 §4), USER/PASS."""
    c = RawClient(server.ports["pop3"], rcvbuf=rcvbuf)
    assert c.line().startswith(b"+OK")
    assert c.pop(b"STLS").startswith(b"+OK")
    c.starttls()
    assert c.pop(b"USER " + user[0].encode()).startswith(b"+OK")
    assert c.pop(b"PASS " + user[1].encode()).startswith(b"+OK")
    return c


def big_message(n):
    line = b"%-76s\r\n" % (b"line of big message %d" % n)
    body = line * (BIG_MESSAGE_BYTES // len(line))
    return (b"From: alice@lab.test\r\nTo: alice@lab.test\r\nSubject: big %d\r\n"
            b"Message-ID: <big-%d@lab.test>\r\n\r\n" % (n, n)) + body


def append_big_messages(server, user):
    c = imap_login(server, user)
    for n in range(BIG_MESSAGES):
        data = big_message(n)
        c.send(b"A%d APPEND INBOX {%d+}\r\n" % (n, len(data)) + data + b"\r\n")
        lines = c.tagged(b"A%d" % n, timeout=60)
        assert lines[-1].startswith(b"A%d OK" % n), lines
    c.imap(b"O", b"LOGOUT")
    c.close()


def output_timeouts_logged(server):
    return server.log().count("output timeout: no output taken")


def a_second_session_is_served(server):
    """While the stalled client waits for its timeout, another client logs in, reads and leaves."""
    started = time.monotonic()
    other = imap_login(server, BOB)
    assert other.imap(b"S", b"SELECT INBOX")[-1].startswith(b"S OK")
    assert other.imap(b"N", b"NOOP")[-1].startswith(b"N OK")
    assert other.imap(b"O", b"LOGOUT")[-1].startswith(b"O OK")
    other.close()
    assert time.monotonic() - started < 10, "the second session took %.1f s" % (time.monotonic() - started)


def stall_and_expect_close(server, stalled, request, before_timeouts):
    """Sends `request` on a connection that never reads; the server must close it
    after the output timeout (not before) and within the slack, serving others meanwhile."""
    baseline = server.rss_kib()
    stalled.send(request)
    sent = time.monotonic()
    peak = baseline
    a_second_session_is_served(server)
    deadline = sent + OUTPUT_TIMEOUT_S + SLACK_S
    while output_timeouts_logged(server) == before_timeouts:
        peak = max(peak, server.rss_kib())
        assert time.monotonic() < deadline, "no output timeout after %.1f s" % (time.monotonic() - sent)
        time.sleep(0.05)
    elapsed = time.monotonic() - sent
    # What the server still held for the client when it gave up: the driver's 1 MiB, one
    # message being answered and the TLS record around it, never the mailbox.
    last = [line for line in server.log().splitlines() if "output timeout: no output taken" in line][-1]
    pending = int(last.split(" octets pending")[0].rsplit(" ", 1)[1])
    assert pending < (1 << 20) + 2 * BIG_MESSAGE_BYTES, "%d octets were queued for the client" % pending
    assert elapsed >= OUTPUT_TIMEOUT_S - 0.2, "closed after %.2f s, before the %d s timeout" % (elapsed,
                                                                                                OUTPUT_TIMEOUT_S)
    total = BIG_MESSAGES * BIG_MESSAGE_BYTES
    got = stalled.drain_to_close()
    assert got < total // 2, "the client got %d of %d octets: it was never stalled" % (got, total)
    stalled.close()
    grown = peak - baseline
    if not server.sanitized():  # ASan's quarantine keeps freed buffers: RSS says nothing there
        # Less than the mailbox it was asked for (glibc keeps some freed memory: no tighter figure).
        assert grown < total // 1024, "serve grew by %d KiB for a stalled %d MiB answer" % (grown, total >> 20)
    return elapsed, grown, pending


def test_imap_fetch_never_read_is_timed_out(server):  # catalogue row 42
    append_big_messages(server, ALICE)
    before = output_timeouts_logged(server)
    stalled = imap_login(server, ALICE, rcvbuf=4096)
    lines = stalled.imap(b"S", b"SELECT INBOX")
    assert lines[-1].startswith(b"S OK") and b"* %d EXISTS" % BIG_MESSAGES in lines, lines
    elapsed, grown, pending = stall_and_expect_close(server, stalled, b"F FETCH 1:* BODY[]\r\n", before)
    print("     IMAP: closed %.1f s after the FETCH with %d octets pending; RSS grew %d KiB" % (elapsed, pending, grown))
    # The server is still fine, and alice can log in again.
    again = imap_login(server, ALICE)
    assert again.imap(b"S", b"SELECT INBOX")[-1].startswith(b"S OK")
    assert again.imap(b"O", b"LOGOUT")[-1].startswith(b"O OK")
    again.close()


def test_pop3_retr_never_read_is_timed_out(server):  # catalogue row 42
    append_big_messages(server, BOB)
    before = output_timeouts_logged(server)
    stalled = pop3_login(server, BOB, rcvbuf=4096)
    assert stalled.pop(b"STAT").startswith(b"+OK %d " % BIG_MESSAGES)
    retrs = b"".join(b"RETR %d\r\n" % n for n in range(1, BIG_MESSAGES + 1))  # RFC 2449 PIPELINING
    elapsed, grown, pending = stall_and_expect_close(server, stalled, retrs, before)
    print("     POP3: closed %.1f s after the RETRs with %d octets pending; RSS grew %d KiB" % (elapsed, pending, grown))
    # Closed without UPDATE: the maildrop is whole and unlocked.
    again = pop3_login(server, BOB)
    assert again.pop(b"STAT").startswith(b"+OK %d " % BIG_MESSAGES)
    assert again.pop(b"QUIT").startswith(b"+OK")
    again.close()


# ---- row 60: delivery, POP3 DELE and IMAP EXPUNGE at the same moment on one Maildir ----------------------

CONCURRENT_MESSAGES = 150
CONCURRENT_RUN_S = 90  # every loop below ends by then, whatever happens


def owner(message_id):
    """Who deletes a message: a third is kept, the rest split between POP3 and IMAP."""
    n = int(re.search(rb"r60-(\d+)@", message_id.encode()).group(1))
    return "keep" if n % 3 == 0 else ("pop3" if n % 2 == 0 else "imap")


class Shared:
    def __init__(self):
        self.lock = threading.Lock()
        self.delivered = []                      # Message-IDs that got 250
        self.deleted = {"pop3": [], "imap": []}  # Message-IDs whose deletion the server confirmed
        self.errors = []
        self.deliveries_done = threading.Event()
        self.stop = threading.Event()
        self.rounds = {"pop3": 0, "imap": 0}

    def all_owned_deleted(self):
        with self.lock:
            owned = [m for m in self.delivered if owner(m) != "keep"]
            gone = set(self.deleted["pop3"]) | set(self.deleted["imap"])
        return self.deliveries_done.is_set() and all(m in gone for m in owned)


def guarded(shared, fn):
    def run():
        try:
            fn(shared)
        except Exception as e:  # noqa: BLE001 - reported by the test's main thread
            with shared.lock:
                shared.errors.append("%s: %r" % (fn.__name__, e))
            shared.stop.set()
    return run


def make_deliverer(server):
    def deliver_loop(shared):
        with smtplib.SMTP("127.0.0.1", server.ports["smtp"], timeout=30) as s:
            for n in range(CONCURRENT_MESSAGES):
                if shared.stop.is_set():
                    break
                mid = "<r60-%d@outside.test>" % n
                body = ("From: x@outside.test\r\nTo: alice@lab.test\r\nSubject: row 60 %d\r\n"
                        "Message-ID: %s\r\n\r\n%s\r\n" % (n, mid, ("line %d\r\n" % n) * 40)).encode()
                s.sendmail("x@outside.test", ["alice@lab.test"], body)  # raises unless 250
                with shared.lock:
                    shared.delivered.append(mid)
        shared.deliveries_done.set()
    return deliver_loop


def message_id_of(header_bytes):
    found = re.findall(rb"(?im)^message-id:\s*(\S+)", header_bytes)
    assert len(found) == 1, header_bytes
    return found[0].decode()


def make_pop3_loop(server):
    def pop3_loop(shared):
        while not shared.stop.is_set() and not shared.all_owned_deleted():
            p = poplib.POP3_SSL("127.0.0.1", server.ports["pop3s"], context=client_tls(), timeout=30)
            p.user(ALICE[0])
            p.pass_(ALICE[1])  # one POP3 client: the maildrop lock is never in use here
            count = p.stat()[0]
            mine = []
            for n in range(1, count + 1):
                try:
                    mid = message_id_of(b"\r\n".join(p.top(n, 0)[1]))
                except poplib.error_proto as e:
                    # IMAP expunged it after this session opened: RFC 3206 §5 [SYS/TEMP].
                    assert b"[SYS/TEMP]" in e.args[0], e
                    continue
                if owner(mid) == "pop3":
                    assert p.dele(n).startswith(b"+OK")
                    mine.append(mid)
            reply = p.quit()  # RFC 1939 §6: UPDATE; -ERR if any of them could not be removed
            assert reply.startswith(b"+OK"), reply
            with shared.lock:
                shared.deleted["pop3"] += mine
                shared.rounds["pop3"] += 1
            time.sleep(0.02)
    return pop3_loop


FETCHED = re.compile(rb"UID (\d+) BODY\[HEADER\.FIELDS \(MESSAGE-ID\)\]")


def make_imap_loop(server):
    def imap_loop(shared):
        c = imaplib.IMAP4_SSL("127.0.0.1", server.ports["imaps"], ssl_context=client_tls(), timeout=30)
        c.login(*ALICE)
        while not shared.stop.is_set() and not shared.all_owned_deleted():
            typ, data = c.select("INBOX")
            assert typ == "OK", data
            typ, data = c.uid("FETCH", "1:*", "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
            assert typ == "OK", data
            mine = {}
            for item in data:
                if not isinstance(item, tuple):
                    continue
                uid = FETCHED.search(item[0])
                assert uid, item[0]
                mid = message_id_of(item[1])
                if owner(mid) == "imap":
                    mine[uid.group(1).decode()] = mid
            if mine:
                typ, data = c.uid("STORE", ",".join(mine), "+FLAGS.SILENT", r"(\Deleted)")
                assert typ == "OK", data
                typ, data = c.expunge()
                assert typ == "OK", data
                # A UID whose message another session removed first would not be listed:
                # nobody else deletes IMAP's share, so each one must be gone now.
                typ, data = c.uid("SEARCH", "UID", ",".join(mine))
                assert typ == "OK" and data == [b""], data
                with shared.lock:
                    shared.deleted["imap"] += list(mine.values())
            with shared.lock:
                shared.rounds["imap"] += 1
            time.sleep(0.02)
        c.logout()
    return imap_loop


def test_delivery_dele_and_expunge_on_one_maildir(server):  # catalogue row 60
    shared = Shared()
    threads = [threading.Thread(target=guarded(shared, make(server)), daemon=True)
               for make in (make_deliverer, make_pop3_loop, make_imap_loop)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.1, started + CONCURRENT_RUN_S - time.monotonic()))
    shared.stop.set()
    assert not any(t.is_alive() for t in threads), "a client loop is still running after %d s" % CONCURRENT_RUN_S
    assert not shared.errors, shared.errors
    delivered = shared.delivered
    assert len(delivered) == CONCURRENT_MESSAGES and len(set(delivered)) == CONCURRENT_MESSAGES
    assert shared.rounds["pop3"] >= 2 and shared.rounds["imap"] >= 2, shared.rounds
    deleted = shared.deleted["pop3"] + shared.deleted["imap"]
    # Deleted by exactly one client, and only by its owner.
    assert len(deleted) == len(set(deleted)), sorted(m for m in deleted if deleted.count(m) > 1)
    for who in ("pop3", "imap"):
        assert all(owner(m) == who for m in shared.deleted[who]), shared.deleted[who]
    # Every other delivered message is in the Maildir exactly once.
    present = inbox_message_ids(server, ALICE[0])
    assert len(present) == len(set(present)), sorted(m for m in set(present) if present.count(m) > 1)
    assert set(present) & set(deleted) == set(), sorted(set(present) & set(deleted))
    lost = set(delivered) - set(present) - set(deleted)
    assert not lost, "lost: %s" % sorted(lost)
    assert set(present) <= set(delivered), sorted(set(present) - set(delivered))
    assert sorted(present) == sorted(m for m in delivered if owner(m) == "keep")
    print("     %d delivered, %d DELE'd by POP3 in %d sessions, %d expunged by IMAP in %d rounds, %d kept; %.1f s" %
          (len(delivered), len(shared.deleted["pop3"]), shared.rounds["pop3"], len(shared.deleted["imap"]),
           shared.rounds["imap"], len(present), time.monotonic() - started))


def main():
    binary = sys.argv[1]
    runner = Runner()
    with tempfile.TemporaryDirectory(prefix="maillab-faults-") as tmp:
        scenario = lab_scenario(tmp, "faults.toml", 'output_timeout = "%ds"\n' % OUTPUT_TIMEOUT_S, "Faults")
        with running(binary, scenario=scenario) as server:
            checks = [
                ("row 42: an IMAP client that never reads FETCH 1:* BODY[] is closed after output_timeout",
                 test_imap_fetch_never_read_is_timed_out),
                ("row 42: a POP3 client that never reads its pipelined RETRs is closed after output_timeout",
                 test_pop3_retr_never_read_is_timed_out),
            ]
            for name, fn in checks:
                runner.check(name, fn, server)
        with running(binary) as server:
            runner.check("row 60: SMTP deliveries, POP3 DELE+QUIT and IMAP STORE \\Deleted+EXPUNGE at once on one"
                         " Maildir: nothing lost, nothing twice", test_delivery_dele_and_expunge_on_one_maildir, server)
            runner.finish(server)


if __name__ == "__main__":
    main()
