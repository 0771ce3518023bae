#!/usr/bin/env python3
"""maillab serve's on-disk queue (STATE/queue/, sim/store/spool.hpp) under
crashes and a full disk (stdlib only, 127.0.0.1, every wait bounded).

  kill9-cycles   three rounds of: 24 SMTP sessions (MX port and submission
                 with STARTTLS + AUTH) sending as fast as they can, SIGKILL
                 mid-load, restart on the same state.  After the last restart
                 every message that got 250 is in its Maildir exactly once,
                 nothing nobody sent is there, and the queue drains to empty.
  crash-state    a state dir as a crash leaves it: a complete queue entry
                 (written here in the documented format), a half-written file
                 in .tmp/, a truncated entry.  On start the complete one is
                 delivered once, the leftover is discarded, the truncated one is
                 moved to .damaged/ and named in the log.
  made-once      kill -9 at varying points (0 to 300 ms after the 250s) while
                 the world makes new mail from a message: a DSN (alice's
                 message to a user school.test does not know) and a forwarded
                 copy (carol@school.test forwards to dave@far.test: two SMTP
                 hops and a copy made at the second MTA; erin keeps a copy and
                 forwards to dave too).  After each restart alice has exactly
                 one DSN per message, dave exactly one copy of each, erin one,
                 carol none, and the queue drains.
  delivery-log   a power cut after the 250s of mail delivered at once, before
                 its Maildir files were synced: the state holds records in
                 STATE/delivery-log (written here in the documented format,
                 sim/store/delivery_log.hpp) for a message whose Maildir copy
                 is lost and for one whose copy reached the disk, then a torn
                 record.  On start the lost one is delivered, the other is not
                 delivered twice, the torn one (never acknowledged) not at all,
                 and a second start replays nothing.
  disk-full      with a file size limit (RLIMIT_FSIZE) a message too large to
                 queue gets 452 4.3.1 and leaves nothing behind; the next small
                 message gets 250 and is delivered.

usage: serve_queue.py PATH/TO/maillab
"""
import collections
import os
import re
import resource
import signal
import smtplib
import struct
import sys
import threading
import time
import zlib

from serve_harness import Runner, Server, client_tls, inbox_message_ids, maildir_files, message

USERS = ("alice@lab.test", "bob@lab.test", "carol@school.test", "dave@school.test")
SESSIONS = 24
ROUNDS = 3
ACKS_BEFORE_KILL = 150
DRAIN_DEADLINE_S = 60


def queue_entries(server):
    folder = os.path.join(server.state, "queue")
    return sorted(n for n in os.listdir(folder) if not n.startswith(".")) if os.path.isdir(folder) else []


def wait_for(predicate, what, deadline_s=DRAIN_DEADLINE_S):
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    assert predicate(), "timed out after %d s waiting for %s" % (deadline_s, what)


def load_until_killed(server, round_no, acknowledged, attempted):
    """Sessions send until the server dies; returns after SIGKILL and the exit."""
    lock = threading.Lock()
    stop = threading.Event()
    acked_here = []

    def session(n):
        submission = n % 2 == 1
        sender = USERS[n % 2] if submission else "outside%d@example.org" % n
        i = 0
        try:
            with smtplib.SMTP("127.0.0.1", server.ports["submission" if submission else "smtp"], timeout=20) as smtp:
                if submission:
                    smtp.starttls(context=client_tls())
                    smtp.login(sender, sender.split("@")[0] + "-secret")
                else:
                    smtp.ehlo("client%d.example.org" % n)
                while not stop.is_set() and i < 2000:
                    to = USERS[2 + (n + i) % 2] if submission else USERS[(n + i) % 4]
                    msgid = "<q.%d.%d.%d@test>" % (round_no, n, i)
                    i += 1
                    with lock:
                        attempted.add(msgid)
                    body = "round %d session %d" % (round_no, n)
                    smtp.sendmail(sender, [to], message("queue", sender, to, msgid, body))
                    with lock:
                        acknowledged.append((to, msgid))
                        acked_here.append(msgid)
        except (OSError, smtplib.SMTPException):
            pass  # the server died under us: what got no 250 may be missing

    threads = [threading.Thread(target=session, args=(n,), daemon=True) for n in range(SESSIONS)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with lock:
            if len(acked_here) >= ACKS_BEFORE_KILL:
                break
        time.sleep(0.02)
    server.process.send_signal(signal.SIGKILL)
    server.process.wait(timeout=15)
    stop.set()
    for thread in threads:
        thread.join(30)
    assert not any(thread.is_alive() for thread in threads)
    server.process.stdout.close()
    server.stderr.close()
    with lock:
        assert len(acked_here) >= 20, "too little load before the kill in round %d: %d" % (round_no, len(acked_here))
        return len(acked_here)


def kill9_cycles(binary):
    server = Server(binary, ["--max-connections-per-ip", "100"]).start()
    try:
        acknowledged, attempted = [], set()
        per_round = []
        skipped = 0  # resumed entries already in a mailbox when the server died
        for round_no in range(ROUNDS):
            per_round.append(load_until_killed(server, round_no, acknowledged, attempted))
            for name in queue_entries(server):  # what the world gets on resume: the client's address and port
                with open(os.path.join(server.state, "queue", name), "rb") as f:
                    head = f.read(4096).split(b"\n\n", 1)[0]
                assert re.search(rb"\nattr client-address 127\.0\.0\.1\nattr client-port [0-9]+\n", head), head
            if round_no > 0:
                skipped += server.log().count("not delivered there again")
            server.start()  # same state dir, same ports
        expected = {user: set() for user in USERS}
        for to, msgid in acknowledged:
            expected[to].add(msgid)

        def all_there():
            return all(expected[user] <= set(inbox_message_ids(server, user)) for user in USERS)

        wait_for(all_there, "every acknowledged message in its Maildir")
        wait_for(lambda: queue_entries(server) == [], "the queue to drain")
        skipped += server.log().count("not delivered there again")
        kept = 0
        for user in USERS:
            ids = inbox_message_ids(server, user)
            assert len(ids) == len(set(ids)), "a message is in %s twice" % user
            assert set(ids) <= attempted, "a message nobody sent is in %s" % user
            kept += len(set(ids) - expected[user])
        unacked = len(attempted) - len(acknowledged)
        print("     %d rounds, %s acknowledged before each SIGKILL: all %d delivered exactly once; "
              "of %d without 250, %d were delivered; %d resumed entries were already in their mailbox" %
              (ROUNDS, per_round, len(acknowledged), unacked, kept, skipped),
              flush=True)
    finally:
        server.stop()


def spool_entry(queue_id, sender, recipients, data, attributes=()):
    lines = ["maillab-spool 1", "id " + queue_id, "arrival-us 1764198071000000", "attempts 0",
             "sender " + sender, "message-id <crash.kept@lab.test>"]
    lines += ["attr %s %s" % pair for pair in attributes]
    lines += ["recipient " + r for r in recipients]
    lines += ["size %d" % len(data), ""]
    return ("\n".join(lines) + "\n").encode() + data


def crash_state(binary):
    server = Server(binary)
    queue = os.path.join(server.state, "queue")
    os.makedirs(os.path.join(queue, ".tmp"))
    data = message("queue", "alice@lab.test", "carol@school.test", "<crash.kept@lab.test>", "queued before the crash")
    whole = spool_entry("18F0000000000.1", "alice@lab.test", ["carol@school.test"], data,
                        [("helo", "pc1.lab.test"), ("client-address", "127.0.0.1")])
    with open(os.path.join(queue, "18F0000000000.1"), "wb") as f:
        f.write(whole)
    with open(os.path.join(queue, "18F0000000000.2"), "wb") as f:
        f.write(spool_entry("18F0000000000.2", "bob@lab.test", ["dave@school.test"], data)[:-10])
    with open(os.path.join(queue, ".tmp", "18F0000000000.3"), "wb") as f:
        f.write(whole[:40])
    server.start()
    try:
        wait_for(lambda: inbox_message_ids(server, "carol@school.test") == ["<crash.kept@lab.test>"],
                 "the queued message in carol's INBOX")
        wait_for(lambda: queue_entries(server) == [], "the queue to drain")
        assert inbox_message_ids(server, "dave@school.test") == [], "a truncated entry was delivered"
        assert os.listdir(os.path.join(queue, ".tmp")) == [], "a leftover in .tmp/ survived the start"
        assert os.listdir(os.path.join(queue, ".damaged")) == ["18F0000000000.2"]
        log = server.log()
        assert "18F0000000000.2 is damaged" in log and "truncated" in log, log
        # The stored copy has the queue id in its Received: field.
        local = os.path.join(server.state, "mail", "school.test", "carol", "new")
        with open(os.path.join(local, os.listdir(local)[0]), "rb") as f:
            stored = f.read()
        assert b"id 18F0000000000.1" in stored, stored[:600]
        assert stored.endswith(b"queued before the crash\n") or stored.endswith(b"queued before the crash\r\n")
    finally:
        server.stop()


LOG_HEADER = struct.Struct("<IIQIIQQ")  # magic, version, counter, epoch, 0, checkpoint offset and sequence; CRC-32
LOG_HEADER_MAGIC, LOG_RECORD_MAGIC = 0x48444C4D, 0x52444C4D  # "MLDH", "MLDR" as little-endian octets


def log_checkpoint(path):
    """(epoch, offset, sequence) of the newest valid header slot of a delivery log."""
    with open(path, "rb") as f:
        head = f.read(1024)
    best = None
    for at in (0, 512):
        fields = LOG_HEADER.unpack_from(head, at)
        (crc,) = struct.unpack_from("<I", head, at + LOG_HEADER.size)
        if fields[0] == LOG_HEADER_MAGIC and zlib.crc32(head[at:at + LOG_HEADER.size]) == crc:
            if best is None or fields[2] > best[2]:
                best = fields
    assert best is not None, "no valid header in %s" % path
    return best[3], best[5], best[6]


def log_record(epoch, sequence, payload):
    covered = struct.pack("<IQI", epoch, sequence, len(payload)) + payload
    return struct.pack("<I", LOG_RECORD_MAGIC) + covered[:16] + struct.pack("<I", zlib.crc32(covered)) + payload


def stop_keeping_state(server):
    """SIGTERM and wait, leaving the state dir for the next start (stop() removes it)."""
    server.signal(signal.SIGTERM)
    assert server.wait() == 0, server.log()
    server.process.stdout.close()
    server.stderr.close()


def delivery_log(binary):
    bob = "bob@lab.test"
    server = Server(binary).start()
    try:
        kept = message("log", "someone@outside.test", bob, "<log.kept@lab.test>", "its copy reached the disk")
        with smtplib.SMTP("127.0.0.1", server.ports["smtp"], timeout=20) as smtp:
            smtp.ehlo("mx.outside.test")
            smtp.sendmail("someone@outside.test", [bob], kept)
        wait_for(lambda: inbox_message_ids(server, bob) == ["<log.kept@lab.test>"], "the first message in bob's INBOX")
        stop_keeping_state(server)
    except BaseException:
        server.stop()
        raise
    stored = maildir_files(server, bob)[0]
    kept_id = re.search(rb"id ([0-9A-Za-z._-]+)", stored).group(1).decode()
    now_us = int(time.time() * 1e6)
    attrs = [("helo", "mx.outside.test"), ("client-address", "127.0.0.1")]

    def entry(queue_id, data):
        raw = spool_entry(queue_id, "someone@outside.test", [bob], data, attrs)
        return raw.replace(b"arrival-us 1764198071000000", b"arrival-us %d" % now_us)

    lost = message("log", "someone@outside.test", bob, "<log.lost@lab.test>", "its copy was lost")
    torn = message("log", "someone@outside.test", bob, "<log.torn@lab.test>", "never acknowledged")
    path = os.path.join(server.state, "delivery-log")
    with open(path, "rb") as f:  # a lone session's message was acknowledged through the log
        assert b"<log.kept@lab.test>" in f.read(), "the first message is not in the delivery log"
    epoch, offset, sequence = log_checkpoint(path)
    records = log_record(epoch, sequence, entry(kept_id, kept))
    records += log_record(epoch, sequence + 1, entry("18F0000000000.7", lost))
    third = bytearray(log_record(epoch, sequence + 2, entry("18F0000000000.8", torn)))
    third[-20] ^= 0xFF  # one octet of its data lost in the power cut: its CRC fails
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(records + bytes(third))

    try:
        server.start()
        wait_for(lambda: sorted(inbox_message_ids(server, bob)) == ["<log.kept@lab.test>", "<log.lost@lab.test>"],
                 "the lost message in bob's INBOX next to the kept one")
        wait_for(lambda: queue_entries(server) == [], "the queue to drain")
        log = server.log()
        assert "delivery log: 2 acknowledged message(s)" in log, log
        assert "not delivered there again" in log, log
        stop_keeping_state(server)
        server.start()  # the records were requeued and the log restarted: nothing comes back
        assert "delivery log:" not in server.log() and "queue:" not in server.log(), server.log()
        assert sorted(inbox_message_ids(server, bob)) == ["<log.kept@lab.test>", "<log.lost@lab.test>"]
    finally:
        server.stop()


MADE_SCENARIO = """title = "DSNs and forwarded copies across kill -9"
description = "mail.lab.test relays to mx.school.test, which bounces nobody and forwards carol to far.test."

[[domain]]
name = "lab.test"

[[domain]]
name = "school.test"
mx = [ { host = "mx.school.test", preference = 10 } ]

[[domain]]
name = "far.test"
mx = [ { host = "mx.far.test", preference = 10 } ]

[[user]]
address = "alice@lab.test"
password = "alice-secret"

[[user]]
address = "carol@school.test"
password = "carol-secret"
forward = "dave@far.test"
keep = false

[[user]]
address = "erin@school.test"
password = "erin-secret"
forward = "dave@far.test"
keep = true

[[user]]
address = "dave@far.test"
password = "dave-secret"
"""
KILL_DELAYS_S = (0.0, 0.002, 0.005, 0.01, 0.02, 0.04, 0.07, 0.1, 0.15, 0.3)


def dsns_for(server, msgid):
    """alice's DSNs that return the message `msgid` (its header comes back in the report)."""
    return [m for m in maildir_files(server, "alice@lab.test")
            if b"report-type=delivery-status" in m and msgid.encode() in m]


def resumed_how(log):
    """How the resumed entries of one run were settled, from its log."""
    return {what: log.count(line) for what, line in (("already stored", "not delivered there again"),
                                                      ("DSN or copy already queued", "not made again"),
                                                      ("forward made from the kept copy", "forwarding it again"))}


def made_once(binary):
    server = Server(binary)
    scenario = os.path.join(server.tmp.name, "made.toml")
    with open(scenario, "w") as f:
        f.write(MADE_SCENARIO)
    server.scenario = scenario
    server.start()
    try:
        sent = []
        in_queue_at_kill = []
        resumes = collections.Counter()
        for n, delay in enumerate(KILL_DELAYS_S):
            bounced, forwarded = "<made.dsn.%d@lab.test>" % n, "<made.fwd.%d@lab.test>" % n
            kept = "<made.kept.%d@lab.test>" % n
            with smtplib.SMTP("127.0.0.1", server.ports["submission"], timeout=20) as smtp:
                smtp.starttls(context=client_tls())
                smtp.login("alice@lab.test", "alice-secret")
                smtp.sendmail("alice@lab.test", ["nobody@school.test"],
                              message("made", "alice@lab.test", "nobody@school.test", bounced, "bounce me"))
                smtp.sendmail("alice@lab.test", ["carol@school.test"],
                              message("made", "alice@lab.test", "carol@school.test", forwarded, "forward me"))
                smtp.sendmail("alice@lab.test", ["erin@school.test"],
                              message("made", "alice@lab.test", "erin@school.test", kept, "keep and forward me"))
                time.sleep(delay)
                server.process.send_signal(signal.SIGKILL)
            server.process.wait(timeout=15)
            server.process.stdout.close()
            server.stderr.close()
            in_queue_at_kill.append(len(queue_entries(server)))
            sent.append((bounced, forwarded, kept))
            if n > 0:
                resumes.update(resumed_how(server.log()))
            server.start()  # same state dir, same ports
            wait_for(lambda: len(dsns_for(server, bounced)) >= 1 and
                     {forwarded, kept} <= set(inbox_message_ids(server, "dave@far.test")) and
                     kept in inbox_message_ids(server, "erin@school.test"), "round %d's DSN and copies" % n, 30)
            wait_for(lambda: queue_entries(server) == [], "the queue to drain after round %d" % n, 30)
        time.sleep(0.3)  # a late duplicate would be there by now
        for n, (bounced, forwarded, kept) in enumerate(sent):
            delay = KILL_DELAYS_S[n]
            assert len(dsns_for(server, bounced)) == 1, \
                "kill after %.3f s: %d DSNs for %s" % (delay, len(dsns_for(server, bounced)), bounced)
            for user, msgid in (("dave@far.test", forwarded), ("dave@far.test", kept), ("erin@school.test", kept)):
                copies = inbox_message_ids(server, user).count(msgid)
                assert copies == 1, "kill after %.3f s: %d copies of %s in %s" % (delay, copies, msgid, user)
        assert inbox_message_ids(server, "carol@school.test") == [], "carol keeps no copy (keep = false)"
        assert queue_entries(server) == []
        resumes.update(resumed_how(server.log()))
        print("     queue entries left by each kill: %s; on resume: %s" % (in_queue_at_kill, dict(resumes)), flush=True)
    finally:
        server.stop()


def disk_full(binary):
    limit = 256 * 1024
    previous_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # inherited: EFBIG instead of a signal
    saved = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, saved[1]))
    try:
        server = Server(binary).start()
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, saved)
        signal.signal(signal.SIGXFSZ, previous_handler)
    try:
        with smtplib.SMTP("127.0.0.1", server.ports["smtp"], timeout=20) as smtp:
            smtp.ehlo("full.example.org")
            filler = ("y" * 76 + "\r\n") * (2 * limit // 78)
            big = message("queue", "x@example.org", "bob@lab.test", "<too.big@test>", filler)
            try:
                smtp.sendmail("x@example.org", ["bob@lab.test"], big)
                raise AssertionError("a message larger than the file size limit got 250")
            except smtplib.SMTPDataError as e:
                assert e.smtp_code == 452 and e.smtp_error.startswith(b"4.3.1"), (e.smtp_code, e.smtp_error)
            smtp.sendmail("x@example.org", ["bob@lab.test"],
                          message("queue", "x@example.org", "bob@lab.test", "<small@test>", "fits"))
        wait_for(lambda: inbox_message_ids(server, "bob@lab.test") == ["<small@test>"], "the small message in bob's INBOX")
        wait_for(lambda: queue_entries(server) == [], "the queue to drain")
        assert os.listdir(os.path.join(server.state, "queue", ".tmp")) == []
    finally:
        server.stop()


def main():
    binary = os.path.abspath(sys.argv[1])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1024 and (hard == resource.RLIM_INFINITY or hard >= 1024):
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
    runner = Runner()
    runner.check("queue: after kill -9 mid-load, three times, every 250 is delivered exactly once and the queue drains",
                 kill9_cycles, binary)
    runner.check("queue: on start a complete entry is delivered, .tmp/ emptied, a truncated entry moved aside",
                 crash_state, binary)
    runner.check("queue: kill -9 at varying points while a DSN and a forwarded copy are made: "
                 "each is delivered exactly once after the restart", made_once, binary)
    runner.check("queue: after a power cut, the delivery log's acknowledged records are delivered once, "
                 "a torn record not at all", delivery_log, binary)
    runner.check("queue: a message the disk cannot take gets 452 4.3.1, the next one is delivered",
                 disk_full, binary)
    runner.finish()


if __name__ == "__main__":
    main()
