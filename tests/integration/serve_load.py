#!/usr/bin/env python3
"""maillab serve under load and faults (stdlib only, 127.0.0.1, every loop
bounded in count and time).  One scenario per run, named by the second argument:

  smtp-concurrency  100 concurrent SMTP sessions on the MX port, 20 messages
                    each to local users: all 2000 in the Maildirs exactly once
                    (file count and unique Message-IDs)
  imap-idle         500 idle IMAP connections held open while a new IMAPS
                    LOGIN still succeeds within a few seconds
  kill9             kill -9 during a submission load (STARTTLS + AUTH), restart
                    on the same state dir: every message that got 250 is in the
                    Maildir exactly once (the rest may or may not be there)

usage: serve_load.py PATH/TO/maillab smtp-concurrency|imap-idle|kill9
"""
import imaplib
import resource
import signal
import smtplib
import socket
import sys
import threading
import time

from serve_harness import Runner, Server, client_tls, inbox_message_ids, message, recv_until, running

USERS = ("alice@lab.test", "bob@lab.test", "carol@school.test", "dave@school.test")
SESSIONS, PER_SESSION = 100, 20
IDLE_CONNECTIONS = 500
LOGIN_BOUND_S = 5.0
LOAD_DEADLINE_S = 180
DELIVERY_DEADLINE_S = 180  # the queue behind the 250s drains through the world within this (ASan, loaded)


def raise_fd_limit(wanted):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= min(wanted, 2 * IDLE_CONNECTIONS + 64)


def wait_for_inboxes(server, expected, timeout=DELIVERY_DEADLINE_S):
    """Message-IDs per user once every expected one is there (or the deadline passed).

    A 250 means the message is durable in the queue; the queue delivers into the
    Maildirs right behind it, so a reader may have to wait a moment."""
    deadline = time.monotonic() + timeout
    while True:
        found = {user: inbox_message_ids(server, user) for user in expected}
        if all(set(wanted) <= set(found[user]) for user, wanted in expected.items()) or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def run_threads(threads):
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + LOAD_DEADLINE_S
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    assert not any(thread.is_alive() for thread in threads), "load threads still running after the deadline"


def smtp_concurrency(server):
    barrier = threading.Barrier(SESSIONS, timeout=60)
    sent = {user: [] for user in USERS}
    errors = []
    lock = threading.Lock()

    def session(n):
        try:
            barrier.wait()
            with smtplib.SMTP("127.0.0.1", server.ports["smtp"], timeout=60) as smtp:
                smtp.ehlo("load%d.example" % n)
                for i in range(PER_SESSION):
                    to = USERS[(n + i) % len(USERS)]
                    msgid = "<load.%d.%d@example.org>" % (n, i)
                    sender = "sender%d@example.org" % n
                    smtp.sendmail(sender, [to], message("load", sender, to, msgid, "session %d message %d" % (n, i)))
                    with lock:
                        sent[to].append(msgid)
        except Exception as e:  # noqa: BLE001 - every failure is counted and reported
            with lock:
                errors.append("session %d: %r" % (n, e))

    started = time.monotonic()
    run_threads([threading.Thread(target=session, args=(n,), daemon=True) for n in range(SESSIONS)])
    elapsed = time.monotonic() - started
    assert not errors, errors[:10]
    total = 0
    inboxes = wait_for_inboxes(server, sent)
    for user in USERS:
        ids = inboxes[user]
        assert len(ids) == len(set(ids)), "duplicates in %s" % user
        assert sorted(ids) == sorted(sent[user]), (user, len(ids), len(sent[user]))
        total += len(ids)
    assert total == SESSIONS * PER_SESSION, total
    print("     %d messages over %d concurrent sessions delivered once each in %.1f s (%.0f msg/s)" %
          (total, SESSIONS, elapsed, total / elapsed), flush=True)


def imap_idle(server):
    idle = []
    try:
        started = time.monotonic()
        for n in range(IDLE_CONNECTIONS):
            sock = socket.create_connection(("127.0.0.1", server.ports["imap"]), timeout=10)
            idle.append(sock)
            greeting = recv_until(sock, b"\r\n")
            assert greeting.startswith(b"* OK"), (n, greeting)
        opened = time.monotonic() - started
        # A newcomer logs in over implicit TLS while all of them are held open.
        started = time.monotonic()
        imap = imaplib.IMAP4_SSL("127.0.0.1", server.ports["imaps"], ssl_context=client_tls(), timeout=LOGIN_BOUND_S)
        imap.login("alice@lab.test", "alice-secret")
        typ, _ = imap.select("INBOX")
        login = time.monotonic() - started
        assert typ == "OK"
        imap.logout()
        assert login < LOGIN_BOUND_S, login
        # The idle ones are still served: each of a sample answers NOOP.
        for n in range(0, IDLE_CONNECTIONS, 50):
            idle[n].sendall(b"a%d NOOP\r\n" % n)
            reply = recv_until(idle[n], b"a%d " % n)
            assert b"a%d OK" % n in reply, (n, reply)
        print("     %d idle IMAP connections opened in %.1f s; a new IMAPS LOGIN+SELECT took %.3f s" %
              (IDLE_CONNECTIONS, opened, login), flush=True)
    finally:
        for sock in idle:
            sock.close()


def kill9(binary):
    server = Server(binary, ["--max-connections-per-ip", "50"]).start()
    try:
        acknowledged = []
        attempted = []
        lock = threading.Lock()
        stop = threading.Event()

        def submitter(n):
            sender = USERS[n % 2]  # alice and bob submit, to carol and dave
            to = USERS[2 + n % 2]
            i = 0
            try:
                with smtplib.SMTP("127.0.0.1", server.ports["submission"], timeout=20) as smtp:
                    smtp.starttls(context=client_tls())
                    smtp.login(sender, sender.split("@")[0] + "-secret")
                    while not stop.is_set() and i < 5000:
                        msgid = "<kill9.%d.%d@lab.test>" % (n, i)
                        i += 1
                        with lock:
                            attempted.append(msgid)
                        smtp.sendmail(sender, [to], message("load", sender, to, msgid, "submission %d/%d" % (n, i)))
                        with lock:
                            acknowledged.append((to, msgid))  # sendmail returned: DATA got 250
            except (OSError, smtplib.SMTPException):
                pass  # the server died under us; anything not acknowledged is allowed to be missing

        threads = [threading.Thread(target=submitter, args=(n,), daemon=True) for n in range(8)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with lock:
                if len(acknowledged) >= 200:
                    break
            time.sleep(0.05)
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(timeout=15)
        stop.set()
        for thread in threads:
            thread.join(30)
        assert not any(thread.is_alive() for thread in threads)
        with lock:
            acked = list(acknowledged)
            tried = set(attempted)
        assert len(acked) >= 50, "too little load before the kill: %d" % len(acked)

        # Restart on the same state dir (same ports).
        server.process.stdout.close()
        server.stderr.close()
        server.start()
        present = set()
        wanted = {user: [msgid for to, msgid in acked if to == user] for user in USERS[2:]}
        inboxes = wait_for_inboxes(server, wanted)  # the restart resumes the queue
        for user in USERS[2:]:
            ids = inboxes[user]
            present.update(ids)
            assert len(ids) == len(set(ids)), "a message is in %s twice" % user
            assert set(ids) <= tried, "a message nobody sent in %s" % user
            for to, msgid in acked:
                if to == user:
                    assert msgid in ids, "%s got 250 but is not in %s" % (msgid, user)
        unacked = tried - {msgid for _, msgid in acked}
        unacked_kept = len(unacked & present)
        # The restarted server works: it takes and serves a new message.
        with smtplib.SMTP("127.0.0.1", server.ports["submission"], timeout=20) as smtp:
            smtp.starttls(context=client_tls())
            smtp.login("alice@lab.test", "alice-secret")
            smtp.sendmail("alice@lab.test", ["carol@school.test"],
                          message("load", "alice@lab.test", "carol@school.test", "<after.restart@lab.test>", "after"))
        assert "<after.restart@lab.test>" in wait_for_inboxes(
            server, {"carol@school.test": ["<after.restart@lab.test>"]})["carol@school.test"]
        print("     killed after %d acknowledged submissions; after restart each is there exactly once; "
              "of %d in flight without 250, %d were kept" % (len(acked), len(unacked), unacked_kept), flush=True)
    finally:
        server.stop()


def main():
    binary, scenario = sys.argv[1], sys.argv[2]
    raise_fd_limit(8192)
    runner = Runner()
    if scenario == "smtp-concurrency":
        with running(binary, ["--max-connections-per-ip", "200"]) as server:
            runner.check("load: 100 concurrent SMTP sessions x 20 messages are all delivered exactly once",
                         smtp_concurrency, server)
            runner.finish(server)
    elif scenario == "imap-idle":
        with running(binary, ["--max-connections-per-ip", "1000", "--max-connections", "2000"]) as server:
            runner.check("load: with 500 idle IMAP connections a new LOGIN succeeds within 5 s",
                         imap_idle, server)
            runner.finish(server)
    elif scenario == "kill9":
        runner.check("faults: after kill -9 during submissions and a restart, every 250 is delivered once",
                     kill9, binary)
        runner.finish()
    else:
        sys.exit("unknown scenario %r" % scenario)


if __name__ == "__main__":
    main()
