#!/usr/bin/env python3
"""maillab serve against the rows of the security catalogue
(../shared/reference/security-catalogue.md) that serve_security.py,
serve_limits.py and serve_disk_full.py leave to the unit tests: every check
here sends the catalogue's input over a real socket to the real server with
its default limits (the catalogue's lab column) and asserts the reply code.
tests/integration/CATALOGUE.md maps every row to its tests.

usage: serve_catalogue.py PATH/TO/maillab
"""
import imaplib
import os
import poplib
import smtplib
import ssl
import sys
import time

from serve_harness import RawClient, Runner, client_tls, expect_silence, maildir_files, running

ALICE = ("alice@lab.test", "alice-secret")
BOB = ("bob@lab.test", "bob-secret")
WAIT_S = 60  # delivery into a Maildir goes through the on-disk queue (and, across domains, the world)


def smtp(server, service="smtp", ehlo=True):
    c = RawClient(server.ports[service], tls=service == "smtps")
    assert c.reply()[0] == 220
    if ehlo:
        assert c.cmd(b"EHLO student-pc")[0] == 250
    return c


def submission(server, user=ALICE):
    c = smtp(server, "smtps")
    import base64
    token = base64.b64encode(b"\0" + user[0].encode() + b"\0" + user[1].encode())
    code, text = c.cmd(b"AUTH PLAIN " + token)
    assert code == 235, text
    return c


def imaps(server, login=ALICE):
    c = RawClient(server.ports["imaps"], tls=True)
    assert c.line().startswith(b"* OK")
    if login:
        lines = c.imap(b"L", b"LOGIN %s %s" % (login[0].encode(), login[1].encode()))
        assert lines[-1].startswith(b"L OK"), lines
    return c


def pop3s(server, login=None):
    c = RawClient(server.ports["pop3s"], tls=True)
    assert c.line().startswith(b"+OK")
    if login:
        assert c.pop(b"USER " + login[0].encode()).startswith(b"+OK")
        assert c.pop(b"PASS " + login[1].encode()).startswith(b"+OK")
    return c


def imap_count(server, user):
    """MESSAGES of the user's INBOX over IMAP (STATUS)."""
    password = {ALICE[0]: ALICE[1], BOB[0]: BOB[1]}[user]
    imap = imaplib.IMAP4_SSL("127.0.0.1", server.ports["imaps"], ssl_context=client_tls(), timeout=20)
    try:
        imap.login(user, password)
        typ, data = imap.status("INBOX", "(MESSAGES)")
        return int(data[0].split(b"MESSAGES ")[1].split(b")")[0])
    finally:
        imap.logout()


def wait_for(server, user, needle, count=1):
    """Waits (bounded) until `count` messages of the user's INBOX contain `needle`."""
    deadline = time.monotonic() + WAIT_S
    while True:
        files = maildir_files(server, user)
        found = [m for m in files if needle in m]
        # On disk is not yet shown: IMAP shows a delivery once its Maildir copy is durable (one queue round).
        if len(found) >= count and imap_count(server, user) >= len(files):
            return found
        assert time.monotonic() < deadline, "%r never arrived for %s (%d of %d)" % (needle, user, len(found), count)
        time.sleep(0.1)


def none_contain(server, user, needle):
    found = [m[:300] for m in maildir_files(server, user) if needle in m]
    assert not found, found


def open_transaction(server, sender=b"x@outside.test", rcpt=b"bob@lab.test"):
    c = smtp(server)
    assert c.cmd(b"MAIL FROM:<" + sender + b">")[0] == 250
    assert c.cmd(b"RCPT TO:<" + rcpt + b">")[0] == 250
    assert c.cmd(b"DATA")[0] == 354
    return c


def marker_message(server, marker):
    """A clean message with `marker` in its subject, sent after the others and waited for:
    once it is in bob's INBOX everything the server accepted before it has been delivered too."""
    c = open_transaction(server)
    code, text = c.cmd(b"Subject: " + marker + b"\r\n\r\nmarker\r\n.")
    assert code == 250, text
    c.cmd(b"QUIT")
    c.close()
    wait_for(server, BOB[0], marker)


# ---- SMTP ------------------------------------------------------------------------------------------------

SMUGGLING = [b"\n.\n", b"\r.\r", b"\r.\n", b"\n.\r", b"\n.\r\n", b"\r\n.\n", b"\r.\r\n", b"\r\n.\r", b"\r\n\0.\r\n"]


def test_smuggling_variants_are_refused_and_never_queued(server):  # catalogue row 5
    for n, fake_end in enumerate(SMUGGLING):
        c = open_transaction(server)
        smuggled = (b"MAIL FROM:<admin@lab.test>\r\nRCPT TO:<bob@lab.test>\r\nDATA\r\n"
                    b"Subject: smuggled-%d\r\n\r\nSmuggled!\r\n" % n)
        c.send(b"Subject: carrier\r\n\r\nreal body" + fake_end + smuggled + b"\r\n.\r\n")
        code, text = c.reply()
        assert (code, text[:9]) in ((550, b"550 5.5.2"), (550, b"550 5.6.0")), (fake_end, text)
        expect_silence(c.sock, 0.3)  # one reply for the whole thing: nothing smuggled was answered
        assert c.cmd(b"NOOP")[0] == 250
        c.close()
    marker_message(server, b"after-smuggling")
    none_contain(server, BOB[0], b"Smuggled!")
    none_contain(server, BOB[0], b"carrier")


def test_unauthenticated_pipelining_after_end_of_data_is_refused(server):  # catalogue row 7
    c = open_transaction(server)  # port 25, EHLO (PIPELINING offered), not logged in
    c.send(b"Subject: pipelined-one\r\n\r\none\r\n.\r\nMAIL FROM:<x@outside.test>\r\nRCPT TO:<bob@lab.test>\r\n"
           b"DATA\r\nSubject: pipelined-two\r\n\r\ntwo\r\n.\r\nQUIT\r\n")
    code, text = c.reply()
    assert code == 250, text  # the message before the dot was framed correctly: stored and acknowledged
    code, text = c.reply()
    assert code == 554 and text.startswith(b"554 5.5.0") and b"synchronization" in text, text
    assert c.closed()
    one = wait_for(server, BOB[0], b"pipelined-one")
    marker_message(server, b"after-pipelining")
    none_contain(server, BOB[0], b"pipelined-two")
    assert len(one) == 1 and b"MAIL FROM" not in one[0], one


def test_quit_behind_the_dot_and_logged_in_pipelining_still_work(server):  # catalogue row 7
    c = open_transaction(server)
    c.send(b"Subject: quit-behind-dot\r\n\r\nq\r\n.\r\nQUIT\r\n")
    assert c.reply()[0] == 250
    assert c.reply()[0] == 221
    c.close()
    s = submission(server)  # logged in: RFC 2920 pipelining across the dot is served in order
    s.send(b"MAIL FROM:<alice@lab.test>\r\nRCPT TO:<bob@lab.test>\r\nDATA\r\n")
    assert [s.reply()[0] for _ in range(3)] == [250, 250, 354]
    s.send(b"Subject: auth-one\r\n\r\none\r\n.\r\nMAIL FROM:<alice@lab.test>\r\nRCPT TO:<bob@lab.test>\r\n"
           b"DATA\r\nSubject: auth-two\r\n\r\ntwo\r\n.\r\nQUIT\r\n")
    codes = [s.reply()[0] for _ in range(6)]
    assert codes == [250, 250, 250, 354, 250, 221], codes
    one = wait_for(server, BOB[0], b"auth-one")
    two = wait_for(server, BOB[0], b"auth-two")
    assert len(one) == 1 and len(two) == 1 and b"auth-two" not in one[0], (one, two)
    wait_for(server, BOB[0], b"quit-behind-dot")
    s.close()


def test_starttls_injection_forgets_the_session(server):  # catalogue row 9
    c = RawClient(server.ports["submission"])
    assert c.reply()[0] == 220
    assert c.cmd(b"EHLO x")[0] == 250
    c.send(b"STARTTLS\r\nEHLO evil\r\nAUTH PLAIN AGFsaWNlQGxhYi50ZXN0AGFsaWNlLXNlY3JldA==\r\n")
    assert c.reply()[0] == 220
    c.starttls()
    expect_silence(c.sock, 0.5)
    code, text = c.cmd(b"MAIL FROM:<alice@lab.test>")
    assert code == 503 and b"5.5.1" in text, text  # EHLO was forgotten, the injected one never ran
    code, text = c.cmd(b"EHLO x")
    assert code == 250 and b"AUTH" in text and b"STARTTLS" not in text, text
    code, text = c.cmd(b"MAIL FROM:<alice@lab.test>")
    assert code == 530, text  # the injected AUTH never ran either
    c.close()


def test_starttls_twice_or_with_an_argument(server):  # catalogue row 10
    c = smtp(server, "submission")
    code, text = c.cmd(b"STARTTLS foo")
    assert code == 501 and b"5.5.4" in text, text
    assert c.cmd(b"STARTTLS")[0] == 220
    c.starttls()
    assert c.cmd(b"EHLO x")[0] == 250
    code, text = c.cmd(b"STARTTLS")
    assert code == 554 and b"5.5.1" in text, text
    c.close()
    implicit = smtp(server, "smtps")
    code, text = implicit.cmd(b"STARTTLS")
    assert code == 554 and b"5.5.1" in text, text
    implicit.close()


def test_long_command_lines(server):  # catalogue row 11
    c = smtp(server)
    code, text = c.cmd(b"EHLO " + b"a" * 100_000)
    assert code == 500 and b"5.5.2" in text, text[:200]
    assert c.cmd(b"NOOP")[0] == 250
    longest = b"NOOP " + b"x" * (4096 - 7)  # the lab cap: 4 KiB with the CRLF
    assert c.cmd(longest)[0] == 250
    code, text = c.cmd(longest + b"x")
    assert code == 500 and b"5.5.2" in text, text[:200]
    assert c.cmd(b"MAIL FROM:<x@outside.test>")[0] == 250
    code, text = c.cmd(b"RCPT TO:<" + b"b" * 100_000 + b"@lab.test>")
    assert code == 500 and b"5.5.2" in text, text[:200]
    assert c.cmd(b"RCPT TO:<bob@lab.test>")[0] == 250
    c.close()


def test_100_mb_without_a_line_end_is_bounded(server):  # catalogue row 12
    block = b"z" * (1 << 20)
    before = server.rss_kib()
    c = smtp(server)
    for _ in range(100):
        c.send(block)
    code, text = c.cmd(b"")
    assert code == 500 and b"5.5.2" in text, text[:200]
    assert c.cmd(b"NOOP")[0] == 250
    d = open_transaction(server)
    for _ in range(100):
        d.send(block)
    code, text = d.cmd(b"\r\n.")
    assert code in (500, 552) and text[4:9] in (b"5.5.6", b"5.3.4"), text[:200]
    assert d.cmd(b"NOOP")[0] == 250
    grown = server.rss_kib() - before
    if not server.sanitized():  # ASan's quarantine keeps freed buffers: RSS says nothing there
        assert grown < 32 * 1024, "the server grew by %d KiB reading 200 MB of endless lines" % grown
    c.close()
    d.close()


def test_text_line_over_1000_octets(server):  # catalogue row 13
    c = open_transaction(server)
    code, text = c.cmd(b"Subject: long-line\r\n\r\n" + b"b" * 5000 + b"\r\n.")
    assert code == 500 and b"5.5.6" in text, text
    assert c.cmd(b"MAIL FROM:<x@outside.test>")[0] == 250
    assert c.cmd(b"RCPT TO:<bob@lab.test>")[0] == 250
    assert c.cmd(b"DATA")[0] == 354
    code, text = c.cmd(b"Subject: longest-line\r\n\r\n" + b"a" * 998 + b"\r\n.")
    assert code == 250, text
    c.close()
    stored = wait_for(server, BOB[0], b"longest-line")[0]
    assert b"a" * 998 + b"\n" in stored.replace(b"\r\n", b"\n"), stored[-1100:]
    none_contain(server, BOB[0], b"Subject: long-line")


def test_recipient_limit_then_error_cap(server):  # catalogue rows 14, 20
    c = smtp(server)
    assert c.cmd(b"MAIL FROM:<x@outside.test>")[0] == 250
    for n in range(100):
        code, text = c.cmd(b"RCPT TO:<bob@lab.test>")
        assert code == 250, (n, text)
    code, text = c.cmd(b"RCPT TO:<bob@lab.test>")
    assert code == 452 and b"4.5.3" in text, text  # error 1
    for n in range(2, 21):  # past the limit every RCPT is an error
        code, text = c.cmd(b"RCPT TO:<bob@lab.test>")
        assert code == 452, (n, text)
    code, text = c.reply()  # right behind the 20th error's reply
    assert code == 421 and b"4.7.0" in text, text
    assert c.closed()


def test_size_parameter(server):  # catalogue row 15
    c = smtp(server)
    code, text = c.cmd(b"MAIL FROM:<x@outside.test> SIZE=999999999999")
    assert code == 552 and b"5.3.4" in text, text
    for bad in (b"abc", b"-1", b"99999999999999999999999", b""):
        code, text = c.cmd(b"MAIL FROM:<x@outside.test> SIZE=" + bad)
        assert code == 501 and b"5.5.4" in text, (bad, text)
    assert c.cmd(b"MAIL FROM:<x@outside.test> SIZE=1000")[0] == 250
    c.close()


def test_body_over_the_size_limit_without_size(server):  # catalogue row 16
    c = open_transaction(server)
    line = b"y" * 998 + b"\r\n"
    c.send(b"Subject: too-big\r\n\r\n")
    chunk = line * 1024  # ~1 MB
    for _ in range(26):  # 26 MB > the lab's 25 MB
        c.send(chunk)
    code, text = c.cmd(b".", timeout=60)
    assert code == 552 and b"5.3.4" in text, text
    assert c.cmd(b"NOOP")[0] == 250
    c.close()
    marker_message(server, b"after-too-big")
    none_contain(server, BOB[0], b"Subject: too-big")


def test_connection_cap_default_ten_per_address(binary):  # catalogue row 19
    with running(binary) as server:
        held = [smtp(server, ehlo=False) for _ in range(10)]
        extra = RawClient(server.ports["smtp"])
        code, text = extra.reply()
        assert code == 421 and b"4.7.0" in text, text
        assert extra.closed()
        for c in held + [extra]:
            c.close()


def test_garbage_commands_end_the_session_at_20_errors(server):  # catalogue row 20
    c = smtp(server)
    for n in range(19):
        code, _ = c.cmd(b"XYZZY %d" % n)
        assert code == 500, (n, code)
    code, text = c.cmd(b"XYZZY last")
    assert code == 500, text
    code, text = c.reply()
    assert code == 421 and b"4.7.0" in text, text
    assert c.closed()


def test_errors_past_ten_wait_a_second_without_stalling_others(server):  # catalogue row 20
    c = smtp(server)
    for n in range(10):
        start = time.monotonic()
        code, _ = c.cmd(b"XYZZY %d" % n)
        assert code == 500 and time.monotonic() - start < 0.8, (n, code)
    start = time.monotonic()
    c.send(b"XYZZY 11\r\n")
    other = smtp(server)  # a second session meanwhile: greeting, EHLO and NOOP answered at once
    assert other.cmd(b"NOOP")[0] == 250
    other_done = time.monotonic() - start
    code, text = c.reply(timeout=5)
    held = time.monotonic() - start
    assert code == 500, text
    assert held >= 0.9, held
    assert other_done < 0.8 and other_done < held, (other_done, held)
    start = time.monotonic()
    code, text = c.cmd(b"NOOP", timeout=5)  # past the soft limit even a good reply waits
    assert code == 250 and time.monotonic() - start >= 0.9, (code, time.monotonic() - start)
    other.cmd(b"QUIT")
    other.close()
    c.close()


def test_junk_commands_past_100_count_as_errors(server):  # catalogue row 20
    c = smtp(server)  # EHLO is the first junk command
    junk = [b"NOOP", b"RSET", b"VRFY bob@lab.test", b"HELP"]
    for n in range(99):
        code, text = c.cmd(junk[n % 4])
        assert code in (250, 252, 214), (n, text)
    start = time.monotonic()
    for n in range(10):  # junk 101-110: errors 1-10, answered at once
        assert c.cmd(b"NOOP")[0] == 250, n
    assert time.monotonic() - start < 3, time.monotonic() - start
    start = time.monotonic()
    for n in range(9):  # errors 11-19: each reply waits a second
        assert c.cmd(b"NOOP", timeout=5)[0] == 250, n
    code, text = c.cmd(b"NOOP", timeout=5)  # error 20
    assert code == 250, text
    code, text = c.reply(timeout=5)
    assert code == 421 and b"4.7.0" in text, text
    assert time.monotonic() - start >= 9, time.monotonic() - start
    assert c.closed()


def test_auth_misuse(server):  # catalogue row 22
    c = smtp(server, "smtps")
    assert c.cmd(b"AUTH LOGIN")[0] == 334
    code, text = c.cmd(b"*")
    assert code == 501, text
    code, text = c.cmd(b"AUTH PLAIN !!!!")
    assert code == 501, text
    assert c.cmd(b"AUTH PLAIN")[0] == 334
    code, text = c.cmd(b"A" * 20_000)
    assert code == 500 and b"5.5.6" in text, text
    import base64
    token = base64.b64encode(b"\0alice@lab.test\0alice-secret")
    assert c.cmd(b"AUTH PLAIN " + token)[0] == 235
    code, text = c.cmd(b"AUTH PLAIN " + token)
    assert code == 503 and b"5.5.1" in text, text
    c.close()
    d = smtp(server, "smtps")
    assert d.cmd(b"MAIL FROM:<>")[0] == 530  # submission needs AUTH first
    d.close()
    e = smtp(server)  # the MX port offers no AUTH without TLS
    code, text = e.cmd(b"AUTH PLAIN " + token)
    assert code in (503, 538), text
    e.close()


def test_addresses_are_validated(server):  # catalogue rows 23, 24
    c = smtp(server)
    for sender in (b";sleep 66;@lab.test", b"a|b`reboot`@lab.test\"", b"$(reboot)@lab.test",
                   b"x" * 65 + b"@lab.test", b"a@" + (b"d" * 60 + b".") * 5 + b"test",
                   b"a@" + b"b." * 130 + b"test"):
        code, text = c.cmd(b"MAIL FROM:<" + sender + b">")
        assert code in (501, 553), (sender[:80], text)
    assert c.cmd(b"MAIL FROM:<x@outside.test>")[0] == 250
    for rcpt in (b"x" * 65 + b"@lab.test", b"bob@" + b"l" * 256, b";sleep 66;@lab.test"):
        code, text = c.cmd(b"RCPT TO:<" + rcpt + b">")
        assert code in (501, 553), (rcpt[:80], text)
    for params in (b' NOTIFY="SUCCESS"', b" NOTIFY=" + b"X" * 300, b" ORCPT=rfc822;" + b"%" * 100, b" =", b" FOO"):
        code, text = c.cmd(b"RCPT TO:<bob@lab.test>" + params)
        assert code in (501, 553, 555), (params[:40], text)
    assert c.cmd(b"RCPT TO:<bob@lab.test>")[0] == 250
    c.close()


def test_cr_lf_nul_in_commands(server):  # catalogue rows 25, 26
    c = smtp(server, ehlo=False)
    code, text = c.cmd(b"EHLO evil\rX-Injected: 1")
    assert code == 500 and b"5.5.2" in text, text
    code, text = c.cmd(b"EHLO evil\0X-Injected: 1")
    assert code == 500 and b"5.5.2" in text, text
    code, text = c.cmd(b"EHLO good")
    assert code == 250, text
    code, text = c.cmd(b"MAIL FROM:<alice@lab.test>\0junk")
    assert code == 500 and b"5.5.2" in text, text
    code, text = c.cmd(b"MAIL FROM:<a\rb@outside.test>")
    assert code == 500 and b"5.5.2" in text, text
    code, text = c.cmd(b"RCPT TO:<bob@lab.test>")
    assert code == 503, text  # no MAIL ran
    assert c.cmd(b"MAIL FROM:<x@outside.test>")[0] == 250
    assert c.cmd(b"RCPT TO:<bob@lab.test>")[0] == 250
    assert c.cmd(b"DATA")[0] == 354
    code, text = c.cmd(b"Subject: nul-body\r\n\r\na\0b\r\n.")
    assert code == 550 and b"5.6.0" in text, text
    c.close()
    marker_message(server, b"after-nul")
    none_contain(server, BOB[0], b"nul-body")
    none_contain(server, BOB[0], b"X-Injected")


def test_eight_bit_body_without_8bitmime(server):  # catalogue row 27
    c = open_transaction(server)
    body = "Subject: eight-bit\r\n\r\nSelamat pagi, café ☕ — ünïcödé\r\n".encode()
    code, text = c.cmd(body + b".")
    assert code == 250, text
    c.close()
    stored = wait_for(server, BOB[0], b"eight-bit")[0]
    assert "café ☕ — ünïcödé".encode() in stored, stored


def test_dot_stuffing_round_trip(server):  # catalogue row 28
    body = b"Subject: dots\r\nMessage-ID: <dots@lab.test>\r\n\r\n.\r\n..\r\n...x\r\n. \r\n.hidden\r\nlast line"
    with smtplib.SMTP_SSL("127.0.0.1", server.ports["smtps"], context=client_tls(), timeout=20) as s:
        s.login(*ALICE)
        s.sendmail(ALICE[0], [BOB[0]], body)  # smtplib dot-stuffs and ends the last line with CRLF
    expected = body + b"\r\n"
    wait_for(server, BOB[0], b"<dots@lab.test>")
    imap = imaplib.IMAP4_SSL("127.0.0.1", server.ports["imaps"], ssl_context=client_tls(), timeout=20)
    imap.login(*BOB)
    imap.select("INBOX", readonly=True)
    typ, found = imap.search(None, "HEADER", "Message-ID", "<dots@lab.test>")
    assert typ == "OK" and len(found[0].split()) == 1, found
    typ, data = imap.fetch(found[0].split()[0], "(BODY.PEEK[])")
    assert data[0][1].endswith(b"\r\n" + expected), data[0][1]  # behind Return-Path:, Received: ...
    imap.logout()
    p = pop3s(server, BOB)
    count = int(p.pop(b"STAT").split()[1])
    wires = []
    for n in range(1, count + 1):
        assert p.pop(b"RETR %d" % n).startswith(b"+OK")
        lines = []
        while True:
            line = p.line()
            if line == b".":
                break
            lines.append(line)
        wires.append(lines)
    wire = [w for w in wires if b"Message-ID: <dots@lab.test>" in w]
    assert len(wire) == 1, len(wire)
    # RFC 1939 §3: byte-stuffed again on the way out.
    assert wire[0][wire[0].index(b"") + 1:] == [b"..", b"...", b"....x", b".. ", b"..hidden", b"last line"], wire[0]
    p.pop(b"QUIT")
    p.close()


def test_commands_out_of_order(server):  # catalogue row 29
    c = smtp(server)
    for line in (b"DATA", b"RCPT TO:<bob@lab.test>"):
        code, text = c.cmd(line)
        assert code == 503 and b"5.5.1" in text, (line, text)
    assert c.cmd(b"MAIL FROM:<x@outside.test>")[0] == 250
    for line in (b"DATA", b"MAIL FROM:<y@outside.test>"):
        code, text = c.cmd(line)
        assert code == 503 and b"5.5.1" in text, (line, text)
    c.close()


def test_too_many_hops(server):  # catalogue row 30
    c = open_transaction(server)
    hops = b"".join(b"Received: from hop%d.test by hop%d.test; Mon, 2 Mar 2026 08:00:00 +0000\r\n" % (n, n + 1)
                    for n in range(51))
    code, text = c.cmd(hops + b"Subject: looping\r\n\r\nloop\r\n.")
    assert code == 554 and b"5.4.6" in text, text
    assert c.cmd(b"MAIL FROM:<x@outside.test>")[0] == 250
    assert c.cmd(b"RCPT TO:<bob@lab.test>")[0] == 250
    assert c.cmd(b"DATA")[0] == 354
    code, text = c.cmd(hops[:10 * 70] + b"Subject: ten-hops\r\n\r\nfine\r\n.")
    assert code == 250, text
    c.close()
    wait_for(server, BOB[0], b"ten-hops")
    none_contain(server, BOB[0], b"Subject: looping")


def test_mime_bomb_is_answered(server):  # catalogue row 32
    depth = 10_000
    head = b"".join(b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (n, n) for n in range(depth))
    message = b"Subject: bomb\r\nMIME-Version: 1.0\r\n" + head + b"Content-Type: text/plain\r\n\r\nboom\r\n"
    c = imaps(server, BOB)
    c.send(b"A APPEND INBOX {%d+}\r\n" % len(message) + message + b"\r\n")
    lines = c.tagged(b"A")
    assert lines[-1].startswith(b"A OK"), lines
    assert c.imap(b"S", b"SELECT INBOX")[-1].startswith(b"S OK")
    started = time.monotonic()
    lines = c.imap(b"F", b"UID FETCH 1:* (BODYSTRUCTURE)", timeout=30)
    assert lines[-1].startswith(b"F OK"), lines[-1]
    answer = b"".join(lines)
    assert answer.count(b"(") < 1000, "BODYSTRUCTURE followed the 10,000 levels"  # a cap of ~100 levels is the row
    assert time.monotonic() - started < 20
    assert c.imap(b"N", b"NOOP")[-1].startswith(b"N OK")
    c.close()


# ---- IMAP ------------------------------------------------------------------------------------------------

def test_header_section_over_100_kib_is_refused(server):  # catalogue row 32 (header size)
    field = b"X-Filler: " + b"h" * 88 + b"\r\n"  # 100 octets
    c = open_transaction(server)
    c.send(b"Subject: header-too-big\r\n" + field * 1024 + b"\r\nbody\r\n")  # 102,425 octets of header
    code, text = c.cmd(b".")
    assert code == 552 and text.startswith(b"552 5.3.4"), text
    assert c.cmd(b"NOOP")[0] == 250  # the session goes on
    c.close()
    c = open_transaction(server)
    c.send(b"Subject: header-just-fits\r\n" + field * 1000 + b"\r\nbody\r\n")  # 100,027 octets
    code, text = c.cmd(b".")
    assert code == 250, text
    c.close()
    wait_for(server, BOB[0], b"header-just-fits")
    marker_message(server, b"after-header-too-big")
    none_contain(server, BOB[0], b"Subject: header-too-big")


def test_literal_sizes_before_login(server):  # catalogue row 33
    for n, size in enumerate((b"4294967295", b"99999999999999999999", b"-1", b"1a", b"18446744073709551616")):
        c = imaps(server, login=None)  # one session each: the third BAD before login ends a session (row 44)
        tag = b"T%d" % n
        c.send(tag + b" LOGIN {" + size + b"}\r\n")
        line = c.line()
        assert line.startswith(tag + b" BAD"), (size, line)  # never "+": nothing is read or allocated
        assert c.imap(b"N", b"NOOP")[-1].startswith(b"N OK")
        c.close()


def test_append_too_big_is_refused_before_the_go_ahead(server):  # catalogue row 34
    c = imaps(server)
    for tag, size in ((b"A", b"2000000000"), (b"B", b"26214401")):  # 26214401: one past the lab's 25 MiB
        c.send(tag + b" APPEND INBOX {" + size + b"}\r\n")
        line = c.line()
        assert line.startswith(tag + b" NO [TOOBIG]"), line
    assert c.imap(b"N", b"NOOP")[-1].startswith(b"N OK")
    c.close()


def test_rejected_literal_plus_is_never_executed(server):  # catalogue row 35
    c = imaps(server)
    assert c.imap(b"C", b"CREATE Keep")[-1].startswith(b"C OK")
    c.send(b"A APPEND INBOX {2000000000+}\r\nB DELETE Keep\r\n")
    line = c.line()
    assert line.startswith(b"* BYE [TOOBIG]"), line
    assert c.closed()
    d = imaps(server)
    lines = d.imap(b"L", b'LIST "" Keep')
    assert any(b"Keep" in x for x in lines[:-1]), lines  # "B DELETE Keep" never ran
    assert d.imap(b"D", b"DELETE Keep")[-1].startswith(b"D OK")
    d.close()


def test_thousands_of_literals_in_one_command(server):  # catalogue row 36
    c = imaps(server)
    c.imap(b"S", b"SELECT INBOX")
    # 200 literals (3.4 KB, one TLS record): the server has read them all when it hangs up at the
    # 65th, so its answer is not lost to a reset.
    c.send(b"X SEARCH" + b" SUBJECT {1+}\r\nx" * 200 + b"\r\n")
    line = c.line(timeout=30)
    while line.startswith(b"* ") and not line.startswith(b"* BYE"):
        line = c.line(timeout=30)
    assert b"TOOBIG" in line and (line.startswith(b"X BAD") or line.startswith(b"* BYE")), line
    c.close()
    assert imaps(server).imap(b"N", b"NOOP")[-1].startswith(b"N OK")  # the server is fine


def test_long_imap_lines(server):  # catalogue row 37
    # The line is sent without its end, so the server has read every octet when it answers (no RST).
    c = imaps(server, login=None)
    c.send(b"A NOOP " + b"x" * (8 * 1024))
    assert c.line().startswith(b"* BYE [TOOBIG]"), "the pre-login cap is 8 KiB"
    assert c.closed()
    d = imaps(server)
    lines = d.imap(b"A", b"NOOP " + b"x" * (30 * 1024))
    assert not lines[-1].startswith(b"* BYE"), lines[-1][:100]  # 30 KiB is fine after login
    d.send(b"B NOOP " + b"x" * (64 * 1024))
    assert d.line().startswith(b"* BYE [TOOBIG]"), "the lab's cap after login is 64 KiB"
    assert d.closed()
    e = imaps(server)  # 10 MB: the server hangs up long before the end
    try:
        for _ in range(10):
            e.send(b"x" * (1 << 20))
        raise AssertionError("the server read 10 MB of one command line")
    except (ssl.SSLError, OSError):
        pass
    e.close()
    assert imaps(server).imap(b"N", b"NOOP")[-1].startswith(b"N OK")


def test_deep_search_nesting(server):  # catalogue row 38
    c = imaps(server)
    c.imap(b"S", b"SELECT INBOX")
    for tag, query in ((b"A", b"(" * 25_000 + b"ALL" + b")" * 25_000), (b"B", b"NOT " * 10_000 + b"ALL"),
                       (b"C", b"OR ALL " * 5_000 + b"ALL"), (b"D", b"(" * 9 + b"ALL" + b")" * 9)):
        lines = c.imap(tag, b"SEARCH " + query, timeout=30)
        assert lines[-1].startswith(tag + b" BAD"), (tag, lines[-1][:200])
    assert c.imap(b"E", b"SEARCH " + b"(" * 8 + b"ALL" + b")" * 8)[-1].startswith(b"E OK")  # the lab's depth 8
    c.close()


BAD_NAMES = [b'"../bob"', b'".."', b'"a/../../x"', b'"/etc"', b'"~root"', b'"a//b"', b'"cur"', b'"new"',
             b'"tmp"', b'"&AC4ALg-"', b'"&AGEAYgBj-"', b'"&Jjo!"', b'"a\x01b"', b'"' + b"n" * 2000 + b'"']


def test_mailbox_names_everywhere(server):  # catalogue row 39
    mail_root = os.path.join(server.state, "mail")
    before = sorted(os.walk(os.path.join(mail_root, "lab.test", "bob")))
    c = imaps(server)
    assert c.imap(b"S", b"SELECT INBOX")[-1].startswith(b"S OK")
    c.imap(b"P", b"APPEND INBOX {5+}\r\nhello")
    for n, name in enumerate(BAD_NAMES):
        for verb, args in ((b"CREATE", name), (b"DELETE", name), (b"RENAME", b"INBOX " + name),
                           (b"RENAME", name + b" x"), (b"SELECT", name), (b"EXAMINE", name),
                           (b"STATUS", name + b" (MESSAGES)"), (b"APPEND", name + b" {1+}\r\nx"),
                           (b"COPY", b"1 " + name), (b"MOVE", b"1 " + name), (b"SUBSCRIBE", name)):
            tag = b"T%d" % n
            lines = c.imap(tag, verb + b" " + args)
            assert lines[-1].startswith(tag + b" NO") or lines[-1].startswith(tag + b" BAD"), (verb, name, lines)
            if verb in (b"SELECT", b"EXAMINE"):  # a failed SELECT leaves no mailbox selected
                assert c.imap(b"R", b"SELECT INBOX")[-1].startswith(b"R OK")
    lines = c.imap(b"L", b'LIST "" "*"')
    names = b"\n".join(lines)
    for bad in (b"..", b"etc", b"root", b"&AC4ALg-", b"nnnnnnnn"):
        assert bad not in names, (bad, lines)
    c.close()
    assert sorted(os.walk(os.path.join(mail_root, "lab.test", "bob"))) == before  # bob's Maildir untouched
    assert sorted(os.listdir(mail_root)) == ["lab.test", "school.test"], os.listdir(mail_root)


def deliver(server, to, subject, count=1):
    with smtplib.SMTP("127.0.0.1", server.ports["smtp"], timeout=20) as s:
        for n in range(count):
            s.sendmail("x@outside.test", [to], b"Subject: %s-%d\r\n\r\nbody %d\r\n" % (subject, n, n))
    return wait_for(server, to, subject + b"-", count)


def test_sequence_sets(server):  # catalogue row 41
    deliver(server, ALICE[0], b"seqset")
    c = imaps(server)
    lines = c.imap(b"S", b"SELECT INBOX")
    exists = [int(x.split()[1]) for x in lines if x.endswith(b" EXISTS")][0]
    for tag, command in ((b"A", b"FETCH 0 FLAGS"), (b"B", b"FETCH 4294967296 FLAGS"), (b"C", b"FETCH 1:4294967296 FLAGS"),
                         (b"D", b"FETCH %d FLAGS" % (exists + 1)), (b"E", b"FETCH *:0 FLAGS")):
        lines = c.imap(tag, command)
        assert lines[-1].startswith(tag + b" BAD"), (command, lines)
    started = time.monotonic()
    for tag, command in ((b"F", b"UID FETCH 1:4294967295 (UID)"), (b"G", b"FETCH 1:* (UID)"),
                         (b"H", b"FETCH *:1 (UID)"), (b"I", b"UID FETCH 4294967295 (UID)"),
                         (b"J", b"FETCH " + b",".join([b"1"] * 5000) + b" (UID)")):
        lines = c.imap(tag, command)
        assert lines[-1].startswith(tag + b" OK"), (command[:40], lines[-1])
        fetches = [x for x in lines if b" FETCH (" in x]
        assert len(fetches) <= exists, (command[:40], len(fetches))  # one answer per message, not per number
    assert time.monotonic() - started < 10
    c.close()


def test_partial_fetch_and_top_overflow(server):  # catalogue row 42
    deliver(server, ALICE[0], b"partial")
    c = imaps(server)
    c.imap(b"S", b"SELECT INBOX")
    lines = c.imap(b"A", b"FETCH 1 (BODY.PEEK[]<0.4294967295>)")
    assert lines[-1].startswith(b"A OK"), lines
    lines = c.imap(b"B", b"FETCH 1 (BODY.PEEK[]<4294967295.10>)")
    assert lines[-1].startswith(b"B OK") and any(b'<4294967295> ""' in x or b"{0}" in x for x in lines), lines
    lines = c.imap(b"C", b"FETCH 1 (BODY.PEEK[]<18446744073709551615.18446744073709551615>)")
    assert lines[-1].startswith(b"C OK") or lines[-1].startswith(b"C BAD"), lines
    lines = c.imap(b"D", b"FETCH 1:* (" + b" ".join([b"BODY.PEEK[]"] * 50) + b")", timeout=30)
    assert lines[-1].startswith(b"D OK"), lines[-1]
    c.close()
    p = pop3s(server, ALICE)
    assert p.pop(b"TOP 1 4294967295").startswith(b"+OK")
    while p.line() != b".":
        pass
    for bad in (b"TOP 1 -1", b"TOP 1 99999999999999999999", b"TOP 0 1", b"TOP 1"):
        assert p.pop(bad).startswith(b"-ERR"), bad
    p.pop(b"QUIT")
    p.close()


def test_commands_before_login(server):  # catalogue row 44
    for n, command in enumerate((b"SELECT INBOX", b"FETCH 1 BODY[]", b'LIST "" "*"', b"APPEND INBOX {5}",
                                 b"STATUS INBOX (MESSAGES)", b"UID SEARCH ALL")):
        if n % 2 == 0:
            c = imaps(server, login=None)  # two per session: the third BAD before login ends it
        tag = b"T%d" % n
        lines = c.imap(tag, command)
        assert len(lines) == 1 and (lines[0].startswith(tag + b" BAD") or lines[0].startswith(tag + b" NO")), lines
        if n % 2 == 1:
            c.close()


def test_third_bad_imap_command_before_login_closes(server):  # catalogue row 44 (Dovecot imap-login)
    c = imaps(server, login=None)
    assert c.imap(b"A", b"SELECT INBOX") == [b"A BAD Log in first"]
    assert c.imap(b"B", b"FROB") == [b"B BAD Unknown command"]
    assert c.imap(b"C", b"FETCH 1 BODY[]") == [b"C BAD Log in first"]
    assert c.line() == b"* BYE Too many invalid IMAP commands."  # RFC 9051 §7.1.5, then the close
    assert c.closed()
    d = imaps(server, login=None)  # two BADs, then a login: the logged-in session counts afresh
    assert d.imap(b"A", b"FROB")[-1].startswith(b"A BAD")
    assert d.imap(b"B", b"FROB")[-1].startswith(b"B BAD")
    d.send(b"L LOGIN " + ALICE[0].encode() + b" " + ALICE[1].encode() + b"\r\n")
    assert d.tagged(b"L")[-1].startswith(b"L OK")
    for n in range(5):
        assert d.imap(b"X%d" % n, b"FROB") == [b"X%d BAD Unknown command" % n]
    assert d.imap(b"N", b"NOOP")[-1].startswith(b"N OK")
    d.close()


def test_login_names_are_not_paths(server):  # catalogue row 47
    for n, name in enumerate((b'"bob/../alice@lab.test"', b'"../lab.test/alice"', b'"alice@lab.test/../bob"',
                              b'"alice\\"@lab.test"', b'"~alice@lab.test"')):
        c = imaps(server, login=None)
        lines = c.imap(b"L%d" % n, b"LOGIN " + name + b" alice-secret", timeout=30)
        assert lines[-1].startswith(b"L%d NO" % n) or lines[-1].startswith(b"L%d BAD" % n), (name, lines)
        c.close()


def test_two_sessions_see_an_expunge(server):  # catalogue row 48
    deliver(server, BOB[0], b"shared", 3)
    a = imaps(server, BOB)
    b = imaps(server, BOB)
    va = [x for x in a.imap(b"S", b"SELECT INBOX") if b"UIDVALIDITY" in x]
    b.imap(b"S", b"SELECT INBOX")
    uids_before = b"".join(b.imap(b"U", b"UID SEARCH ALL"))
    first_uid = int(uids_before.split(b"* SEARCH ")[1].split()[0])
    assert a.imap(b"D", b"STORE 1 +FLAGS (\\Deleted)")[-1].startswith(b"D OK")
    lines = a.imap(b"E", b"EXPUNGE")
    assert b"* 1 EXPUNGE" in lines and lines[-1].startswith(b"E OK"), lines
    lines = b.imap(b"N", b"NOOP")
    assert b"* 1 EXPUNGE" in lines, lines
    lines = b.imap(b"F", b"UID FETCH %d (FLAGS)" % first_uid)
    assert lines[-1].startswith(b"F OK") and not any(x.startswith(b"* ") for x in lines), lines  # gone, no crash
    assert a.imap(b"T", b"STORE 1 +FLAGS (\\Seen)")[-1].startswith(b"T OK")
    lines = b.imap(b"G", b"FETCH 1 (UID FLAGS)")
    assert any(b"\\Seen" in x for x in lines) and lines[-1].startswith(b"G OK"), lines
    vb = [x for x in b.imap(b"R", b"SELECT INBOX") if b"UIDVALIDITY" in x]
    assert va == vb, (va, vb)
    a.close()
    b.close()


# ---- POP3 ------------------------------------------------------------------------------------------------

def test_pop3_transaction_commands_before_login(server):  # catalogue row 49
    for command in (b"STAT", b"LIST", b"RETR 1", b"DELE 1", b"UIDL", b"TOP 1 0"):
        p = pop3s(server)
        assert p.pop(command).startswith(b"-ERR"), command
        p.close()
    p = pop3s(server)  # the third bad command before login ends the session (Dovecot pop3-login)
    assert p.pop(b"STAT").startswith(b"-ERR")
    assert p.pop(b"RETR 1").startswith(b"-ERR")
    assert p.pop(b"DELE 1").startswith(b"-ERR")
    assert p.closed()


def pop3_stat(p):
    reply = p.pop(b"STAT")
    assert reply.startswith(b"+OK"), reply
    return int(reply.split()[1])


def test_pop3_deletion_rules(server):  # catalogue rows 50, 51, 52
    deliver(server, ALICE[0], b"pop", 2)
    p = pop3s(server, ALICE)
    count = pop3_stat(p)
    assert count >= 2
    second = pop3s(server)  # row 52: a second session for the same maildrop
    assert second.pop(b"USER " + ALICE[0].encode()).startswith(b"+OK")
    reply = second.pop(b"PASS " + ALICE[1].encode())
    assert reply.startswith(b"-ERR [IN-USE]"), reply
    second.close()
    assert p.pop(b"DELE 2").startswith(b"+OK")
    for command in (b"DELE 2", b"RETR 2", b"TOP 2 0", b"LIST 2", b"DELE 0", b"DELE %d" % (count + 1), b"DELE 1a"):
        assert p.pop(command).startswith(b"-ERR"), command
    assert pop3_stat(p) == count - 1
    assert p.pop(b"RSET").startswith(b"+OK")
    assert pop3_stat(p) == count
    assert p.pop(b"DELE 1").startswith(b"+OK")
    p.close()  # row 51: gone without QUIT: nothing is deleted
    deadline = time.monotonic() + 10
    while True:  # the lock goes once the server has seen the close
        again = pop3s(server)
        again.pop(b"USER " + ALICE[0].encode())
        reply = again.pop(b"PASS " + ALICE[1].encode())
        if reply.startswith(b"+OK"):
            break
        again.close()
        assert reply.startswith(b"-ERR [IN-USE]") and time.monotonic() < deadline, reply
        time.sleep(0.2)
    assert pop3_stat(again) == count
    again.pop(b"QUIT")
    again.close()


def main():
    binary = sys.argv[1]
    runner = Runner()
    runner.check("row 19: with the default cap the 11th connection from one address gets 421 4.7.0",
                 test_connection_cap_default_ten_per_address, binary)
    with running(binary) as server:
        checks = [
            ("row 5: every bare CR/LF end-of-data gets 550 and the smuggled MAIL is never queued",
             test_smuggling_variants_are_refused_and_never_queued),
            ("row 7: MAIL pipelined after <CRLF>.<CRLF> on port 25 gets 554 5.5.0 and a close; the first message is kept",
             test_unauthenticated_pipelining_after_end_of_data_is_refused),
            ("row 7: a QUIT behind the dot gets 221; logged in, a second transaction behind the dot is served",
             test_quit_behind_the_dot_and_logged_in_pipelining_still_work),
            ("row 9: after STARTTLS the EHLO and AUTH pipelined before it are forgotten (503, 530)",
             test_starttls_injection_forgets_the_session),
            ("row 10: STARTTLS foo gets 501 5.5.4, STARTTLS inside TLS 554 5.5.1",
             test_starttls_twice_or_with_an_argument),
            ("row 11: command lines over 4 KiB get 500 5.5.2 and the session goes on",
             test_long_command_lines),
            ("row 12: 100 MB without LF in command and DATA state: 500, bounded memory",
             test_100_mb_without_a_line_end_is_bounded),
            ("row 13: a text line over 1000 octets gets 500 5.5.6, 998 octets pass unchanged",
             test_text_line_over_1000_octets),
            ("rows 14, 20: the 101st recipient gets 452 4.5.3, the 20th error 421 4.7.0 and a close",
             test_recipient_limit_then_error_cap),
            ("row 15: SIZE over 25 MB gets 552 5.3.4, bad SIZE 501 5.5.4", test_size_parameter),
            ("row 16: a 26 MB body without SIZE is read to the end, 552 5.3.4, nothing stored",
             test_body_over_the_size_limit_without_size),
            ("row 20: 20 unknown commands end the session with 421 4.7.0",
             test_garbage_commands_end_the_session_at_20_errors),
            ("row 20: past 10 errors each reply waits 1 s while a second session is answered at once",
             test_errors_past_ten_wait_a_second_without_stalling_others),
            ("row 20: NOOP/RSET/VRFY/HELP past 100 count as errors: 421 4.7.0 at the 120th",
             test_junk_commands_past_100_count_as_errors),
            ("row 22: AUTH '*' 501, bad base64 501, a 20 kB SASL line 500 5.5.6, AUTH twice 503",
             test_auth_misuse),
            ("rows 23, 24: shell characters and over-long addresses get 501/553, odd parameters 555",
             test_addresses_are_validated),
            ("rows 25, 26: CR or NUL in a command gets 500 5.5.2 unexecuted, NUL in DATA 550 5.6.0",
             test_cr_lf_nul_in_commands),
            ("row 27: an 8-bit body without BODY=8BITMIME is accepted and stored as sent",
             test_eight_bit_body_without_8bitmime),
            ("row 28: dot-stuffed lines come back identical over IMAP and byte-stuffed over POP3",
             test_dot_stuffing_round_trip),
            ("row 29: DATA or RCPT out of order and a nested MAIL get 503 5.5.1", test_commands_out_of_order),
            ("row 30: 51 Received: fields get 554 5.4.6, 10 pass", test_too_many_hops),
            ("row 32: a 10,000-deep multipart is stored and its BODYSTRUCTURE answered, bounded",
             test_mime_bomb_is_answered),
            ("row 32: a header section over 100 KiB gets 552 5.3.4 and is not stored; 100,027 octets pass",
             test_header_section_over_100_kib_is_refused),
            ("row 33: huge, negative and malformed literal sizes get BAD without '+'",
             test_literal_sizes_before_login),
            ("row 34: APPEND over 25 MiB gets NO [TOOBIG] before any '+'",
             test_append_too_big_is_refused_before_the_go_ahead),
            ("row 35: a refused LITERAL+ gets BYE [TOOBIG] and the command behind it never runs",
             test_rejected_literal_plus_is_never_executed),
            ("row 36: 200 literals in one SEARCH get TOOBIG at the 65th", test_thousands_of_literals_in_one_command),
            ("row 37: IMAP lines over 8 KiB before login and 64 KiB after get BYE",
             test_long_imap_lines),
            ("row 38: SEARCH nested 25,000 deep, NOT x10,000, OR x5,000 get BAD; depth 8 works",
             test_deep_search_nesting),
            ("row 39: traversal and non-canonical names fail in every command, nothing on disk",
             test_mailbox_names_everywhere),
            ("row 41: sequence number 0, past EXISTS or past 2^32 get BAD; UID 1:4294967295 is clamped",
             test_sequence_sets),
            ("row 42: partial offsets up to 2^64 and TOP 1 4294967295 are safe; TOP -1 -ERR",
             test_partial_fetch_and_top_overflow),
            ("row 44: SELECT, FETCH, LIST, APPEND, STATUS and SEARCH before login reveal nothing",
             test_commands_before_login),
            ("row 44: the third bad IMAP command before login gets * BYE and the close; after login it is 20",
             test_third_bad_imap_command_before_login_closes),
            ("row 47: login names with paths never log in", test_login_names_are_not_paths),
            ("row 48: an EXPUNGE in one session reaches the other; UIDVALIDITY stays",
             test_two_sessions_see_an_expunge),
            ("row 49: STAT, LIST, RETR, DELE, UIDL and TOP before login get -ERR",
             test_pop3_transaction_commands_before_login),
            ("rows 50-52: DELE/RETR rules, RSET, a drop before QUIT deletes nothing, a second session [IN-USE]",
             test_pop3_deletion_rules),
        ]
        only = sys.argv[2:]
        for name, fn in checks:
            if not only or any(o in fn.__name__ for o in only):
                runner.check(name, fn, server)
        runner.finish(server)


if __name__ == "__main__":
    main()
