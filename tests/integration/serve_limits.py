#!/usr/bin/env python3
"""maillab serve's limits from the scenario's [limits] table (scenarios/README.md):
the per-user IMAP session cap (catalogue row 43) with Python's imaplib, the
connection caps (row 19) and the command line winning over the scenario, the
SMTP and IMAP limits reaching the engines, the minimum data rate inside DATA
(row 18: a DATA trickled at 1 B/s against smtp_min_data_rate = 1000 gets
421 4.4.2 once smtp_data_timeout's 3 min and its credit have run out; it runs
in a thread beside the other checks, so the script takes about 3 min, not 3
more), and a bad value refused at start with FILE:LINE:COL.

usage: serve_limits.py PATH/TO/maillab
"""
import imaplib
import os
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time

from serve_harness import (LAB_SCENARIO, RawClient, Runner, client_tls, inbox_message_ids, lab_scenario, recv_until,
                           running, wait_until)


def imaps(server):
    return imaplib.IMAP4_SSL("127.0.0.1", server.ports["imaps"], ssl_context=client_tls(), timeout=20)


def test_eleventh_imap_session_of_a_user_gets_no_limit(server):  # catalogue row 43
    sessions = []
    try:
        for _ in range(10):
            client = imaps(server)
            assert client.login("alice@lab.test", "alice-secret")[0] == "OK"
            sessions.append(client)
        eleventh = imaps(server)
        sessions.append(eleventh)
        try:
            eleventh.login("alice@lab.test", "alice-secret")
            raise AssertionError("the 11th session of alice logged in")
        except imaplib.IMAP4.error as e:
            assert "[LIMIT]" in str(e), e  # RFC 9051 §7.1: tagged NO [LIMIT]
        assert eleventh.state == "NONAUTH"
        # The connection is still usable, and another user is not affected.
        assert eleventh.login("bob@lab.test", "bob-secret")[0] == "OK"
        assert eleventh.select("INBOX")[0] == "OK"
        # A LOGOUT gives the slot back at once.
        sessions.pop(0).logout()
        again = imaps(server)
        sessions.append(again)
        assert again.login("alice@lab.test", "alice-secret")[0] == "OK"
        # So does a connection that just goes away (once the server has seen it close).
        dropped = sessions.pop(0)
        dropped.shutdown()
        deadline = time.monotonic() + 5
        while True:
            probe = imaps(server)
            try:
                probe.login("alice@lab.test", "alice-secret")
                sessions.append(probe)
                break
            except imaplib.IMAP4.error as e:
                assert "[LIMIT]" in str(e), e
                probe.shutdown()
                assert time.monotonic() < deadline, "the dropped session's slot never came back"
                time.sleep(0.1)
    finally:
        for client in sessions:
            try:
                client.shutdown()
            except OSError:
                pass


def hold_connections(server, count):
    held = []
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", server.ports["smtp"]), timeout=10)
        held.append(s)
        assert recv_until(s, b"\r\n").startswith(b"220")
    return held


def test_connection_cap_from_the_scenario_and_the_flag_wins(binary, scenario):  # catalogue row 19
    with running(binary, scenario=scenario) as server:  # connections_per_ip_max = 3
        held = hold_connections(server, 3)
        extra = socket.create_connection(("127.0.0.1", server.ports["smtp"]), timeout=10)
        refusal = recv_until(extra, b"\r\n")
        assert refusal.startswith(b"421 4.7.0"), refusal
        for s in held + [extra]:
            s.close()
    with running(binary, ["--max-connections-per-ip", "5"], scenario=scenario) as server:
        held = hold_connections(server, 5)
        extra = socket.create_connection(("127.0.0.1", server.ports["smtp"]), timeout=10)
        assert recv_until(extra, b"\r\n").startswith(b"421 4.7.0")
        for s in held + [extra]:
            s.close()


def test_smtp_limits_reach_the_engine(server):  # catalogue rows 11, 14, 15
    with smtplib.SMTP("127.0.0.1", server.ports["smtp"], timeout=20) as smtp:
        smtp.ehlo("student-pc")
        assert smtp.esmtp_features.get("size") == "65536", smtp.esmtp_features  # message_bytes_max = "64KiB"
        code, text = smtp.docmd("MAIL", "FROM:<x@outside.test> SIZE=65537")
        assert code == 552 and b"5.3.4" in text, (code, text)
        code, text = smtp.docmd("MAIL", "FROM:<x@outside.test> " + "X" * 600)  # smtp_line_bytes_max = 600
        assert code == 500 and b"5.5.2" in text, (code, text)
        assert smtp.docmd("MAIL", "FROM:<x@outside.test>")[0] == 250
        for n in range(120):  # recipients_max = 120: the 121st gets 452 4.5.3
            code, text = smtp.docmd("RCPT", "TO:<alice@lab.test>")
            assert code == 250, (n, code, text)
        code, text = smtp.docmd("RCPT", "TO:<alice@lab.test>")
        assert code == 452 and b"4.5.3" in text, (code, text)


def test_imap_limits_reach_the_engine(server):  # catalogue rows 34, 38
    client = imaps(server)
    try:
        assert client.login("alice@lab.test", "alice-secret")[0] == "OK"
        client.select("INBOX")
        try:
            client.search(None, "((((((ALL))))))")  # imap_depth_max = 4
            raise AssertionError("a search nested 6 deep was accepted")
        except imaplib.IMAP4.error as e:
            assert "nested" in str(e), e
        typ, data = client.append("INBOX", None, None, b"Subject: big\r\n\r\n" + b"x" * 70000)
        assert typ == "NO" and b"[TOOBIG]" in data[-1], (typ, data)  # RFC 4469 §5, decided before "+"
        assert client.append("INBOX", None, None, b"Subject: small\r\n\r\nfits\r\n")[0] == "OK"
    finally:
        client.shutdown()


TRICKLE_DEADLINE_S = 180.0  # smtp_data_timeout (3 min, its RFC 5321 minimum); 1 B/s earns 1 ms a second


def trickle_data(server, outcome):
    """Opens a DATA, then sends one octet a second until the server answers or 240 s pass.
    Stores the reply, the seconds from the 354 to it and whether the server then closed."""
    c = RawClient(server.ports["smtp"])
    try:
        assert c.reply()[0] == 220
        for command, code in ((b"EHLO trickler", 250), (b"MAIL FROM:<x@outside.test>", 250),
                              (b"RCPT TO:<bob@lab.test>", 250), (b"DATA", 354)):
            got = c.cmd(command)
            assert got[0] == code, (command, got)
        started = time.monotonic()
        c.send(b"Message-ID: <trickle@outside.test>\r\nSubject: trickle\r\n\r\n")
        while time.monotonic() - started < 240:
            c.sock.settimeout(1.0)
            try:
                chunk = c.sock.recv(4096)
            except (socket.timeout, TimeoutError):
                c.send(b"x")
                continue
            except OSError:
                chunk = b""
            c.buf += chunk
            if b"\r\n" in c.buf or not chunk:
                break
        outcome["seconds"] = time.monotonic() - started
        outcome["reply"] = c.buf
        outcome["closed"] = c.closed()
    except Exception as e:  # noqa: BLE001 - reported by the check that reads the outcome
        outcome["error"] = repr(e)
    finally:
        c.close()


def test_trickled_data_gets_421_at_the_minimum_rate(server, thread, outcome):  # catalogue row 18
    # A normal client meanwhile is not affected by the minimum rate.
    with smtplib.SMTP("127.0.0.1", server.ports["smtp"], timeout=20) as smtp:
        smtp.sendmail("x@outside.test", ["bob@lab.test"],
                      b"Message-ID: <fast@outside.test>\r\nSubject: fast\r\n\r\n" + b"line of text\r\n" * 4000)
    wait_until(lambda: "<fast@outside.test>" in inbox_message_ids(server, "bob@lab.test"), what="the fast message")
    thread.join(timeout=260)
    assert not thread.is_alive() and "error" not in outcome, outcome
    reply = outcome["reply"]
    assert reply.startswith(b"421 4.4.2 ") and reply.endswith(b"\r\n"), outcome  # RFC 5321 §4.5.3.2, §3.8
    assert TRICKLE_DEADLINE_S - 1 <= outcome["seconds"] <= TRICKLE_DEADLINE_S + 10, outcome
    assert outcome["closed"], outcome
    assert "<trickle@outside.test>" not in inbox_message_ids(server, "bob@lab.test")  # nothing stored


def test_bad_limit_refused_at_start(binary, directory):
    path = lab_scenario(directory, "bad.toml", 'imap_autologout = "10m"\n')
    line = LAB_SCENARIO.count("\n") + 1
    expected = "%s:%d:19: 'imap_autologout' = 10m is below the RFC 9051 §5.4 minimum of 30m" % (path, line)
    for args in (["serve", "--state", os.path.join(directory, "state"), "--smtp", "0", "--submission", "0",
                  "--smtps", "0", "--pop3", "0", "--pop3s", "0", "--imap", "0", "--imaps", "0", "--dns", "0", path],
                 ["check", path]):
        done = subprocess.run([binary] + args, capture_output=True, timeout=30)
        assert done.returncode == 2, (args[0], done.returncode, done.stdout, done.stderr)
        assert expected in done.stderr.decode() + done.stdout.decode(), (done.stdout, done.stderr)
        assert b"maillab: ready" not in done.stdout


def main():
    binary = sys.argv[1]
    runner = Runner()
    with tempfile.TemporaryDirectory(prefix="maillab-limits-") as directory:
        runner.check("a [limits] value below its RFC minimum stops serve and check with exit 2 and FILE:LINE:COL",
                     test_bad_limit_refused_at_start, binary, directory)
        caps = lab_scenario(directory, "caps.toml", "connections_per_ip_max = 3\n")
        runner.check("the scenario's connections_per_ip_max caps connections (421 4.7.0); --max-connections-per-ip "
                     "wins", test_connection_cap_from_the_scenario_and_the_flag_wins, binary, caps)
        users = lab_scenario(directory, "users.toml", "connections_per_ip_max = 50\n")
        with running(binary, scenario=users) as server:
            runner.check("IMAP: the 11th concurrent session of one user gets NO [LIMIT]; LOGOUT or a drop frees it",
                         test_eleventh_imap_session_of_a_user_gets_no_limit, server)
        engines = lab_scenario(directory, "engines.toml",
                                'message_bytes_max = "64KiB"\nsmtp_line_bytes_max = 600\nrecipients_max = 120\n'
                                'imap_depth_max = 4\nimap_literal_bytes_max = "64KiB"\nsmtp_min_data_rate = 1000\n')
        with running(binary, scenario=engines) as server:
            trickled = {}
            trickler = threading.Thread(target=trickle_data, args=(server, trickled), daemon=True)
            trickler.start()
            runner.check("SMTP: [limits] sets SIZE (552 5.3.4), the line cap (500 5.5.2) and recipients (452 4.5.3)",
                         test_smtp_limits_reach_the_engine, server)
            runner.check("IMAP: [limits] sets the nesting depth (BAD) and the APPEND literal cap (NO [TOOBIG])",
                         test_imap_limits_reach_the_engine, server)
            runner.check("SMTP: a DATA trickled at 1 B/s against smtp_min_data_rate = 1000 gets 421 4.4.2 after "
                         "3 min, nothing stored; a normal message meanwhile is delivered",
                         test_trickled_data_gets_421_at_the_minimum_rate, server, trickler, trickled)
            runner.finish(server)


if __name__ == "__main__":
    main()
