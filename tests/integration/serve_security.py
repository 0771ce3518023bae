#!/usr/bin/env python3
"""maillab serve against the security catalogue (docs: security-catalogue.md):
relay, sender ownership, AUTH only over TLS, STARTTLS injection on SMTP, IMAP
and POP3, cross-user access, the failed-login penalty, the connection cap,
and a clean stop on SIGTERM.

usage: serve_security.py PATH/TO/maillab
"""
import imaplib
import poplib
import signal
import smtplib
import socket
import sys
import time

from serve_harness import Runner, client_tls, expect_silence, recv_until, running

ALICE = ("alice@lab.test", "alice-secret")


def test_relay_denied_on_the_mx_port(server):  # catalogue rows 1, 2, 4
    with smtplib.SMTP("127.0.0.1", server.ports["smtp"], timeout=20) as smtp:
        smtp.ehlo("mx.outside.test")
        assert smtp.mail("someone@outside.test")[0] == 250
        for rcpt in ("b@other.test", "b%other.test@lab.test", "other.test!b@lab.test", "@lab.test:b@other.test",
                     "b@other.test@lab.test"):
            code, text = smtp.docmd("RCPT", "TO:<%s>" % rcpt)  # verbatim: smtplib would rewrite some
            assert (code == 554 and b"5.7.1" in text) or (code == 501 and rcpt.count("@") == 2), (rcpt, code, text)
        code, text = smtp.rcpt("nobody@lab.test")
        assert code == 550 and b"5.1.1" in text, (code, text)
        assert smtp.rcpt("bob@lab.test")[0] == 250


def test_auth_refused_before_starttls_on_submission(server):  # catalogue row 21
    with smtplib.SMTP("127.0.0.1", server.ports["submission"], timeout=20) as smtp:
        smtp.ehlo("student-pc")
        assert smtp.has_extn("starttls") and not smtp.has_extn("auth"), smtp.esmtp_features
        code, text = smtp.docmd("AUTH", "PLAIN AGFsaWNlQGxhYi50ZXN0AGFsaWNlLXNlY3JldA==")
        assert code == 538 and b"5.7.11" in text, (code, text)
        code, text = smtp.docmd("MAIL", "FROM:<alice@lab.test>")
        assert code == 530, (code, text)  # RFC 6409 §4.3: submission needs AUTH


def test_foreign_sender_gets_553(server):  # catalogue row 3
    with smtplib.SMTP("127.0.0.1", server.ports["submission"], timeout=20) as smtp:
        smtp.starttls(context=client_tls())
        smtp.login(*ALICE)
        code, text = smtp.mail("bob@lab.test")
        assert code == 553 and b"5.7.1" in text, (code, text)
        assert smtp.mail("alice@lab.test")[0] == 250
        code, text = smtp.rcpt("someone@gmail.example")
        assert code == 554 and b"5.7.1" in text, (code, text)  # the lab has no way out


def starttls_injection(port, hello, starttls, injected, go_ahead, probe, probe_reply):
    """Sends the STARTTLS command and another one in one segment; after the
    handshake nothing may answer the injected command (CVE-2011-0411)."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        recv_until(raw, b"\r\n")
        if hello:
            raw.sendall(hello)
            recv_until(raw, hello_end(hello))
        raw.sendall(starttls + injected)
        reply = recv_until(raw, b"\r\n")
        assert reply.startswith(go_ahead), reply
        tls = client_tls().wrap_socket(raw, server_hostname="localhost")
        expect_silence(tls)
        tls.sendall(probe)
        answer = recv_until(tls, probe_reply)
        assert answer.startswith(probe_reply.split(b"\r\n")[0][:3]) or probe_reply in answer, answer
        tls.close()
    finally:
        raw.close()


def hello_end(hello):
    return b"250 " if hello.startswith(b"EHLO") else b"\r\n"


def test_starttls_injection_smtp(server):  # catalogue row 9
    starttls_injection(server.ports["submission"], b"EHLO x\r\n", b"STARTTLS\r\n", b"RSET\r\nMAIL FROM:<a@b>\r\n",
                       b"220", b"NOOP\r\n", b"250 ")


def test_starttls_injection_imap(server):
    starttls_injection(server.ports["imap"], None, b"a STARTTLS\r\n", b"b LOGIN alice@lab.test alice-secret\r\n",
                       b"a OK", b"c NOOP\r\n", b"c OK")


def test_starttls_injection_pop3(server):
    starttls_injection(server.ports["pop3"], None, b"STLS\r\n", b"USER alice@lab.test\r\n", b"+OK", b"CAPA\r\n",
                       b"+OK")


def test_cleartext_logins_refused_imap_pop3(server):  # catalogue rows 45, 49
    imap = imaplib.IMAP4("127.0.0.1", server.ports["imap"], timeout=20)
    assert "LOGINDISABLED" in imap.capabilities and "STARTTLS" in imap.capabilities, imap.capabilities
    try:
        imap.login(*ALICE)
        raise AssertionError("LOGIN in the clear succeeded")
    except imaplib.IMAP4.error as e:
        assert "PRIVACYREQUIRED" in str(e), e
    imap.logout()
    pop = poplib.POP3("127.0.0.1", server.ports["pop3"], timeout=20)
    capa = pop.capa()
    assert "STLS" in capa, capa
    try:
        pop.user(ALICE[0])
        pop.pass_(ALICE[1])
        raise AssertionError("USER/PASS in the clear succeeded")
    except poplib.error_proto as e:
        assert b"-ERR" in e.args[0], e
    pop.quit()


def test_cross_user_imap_access_refused(server):  # catalogue rows 39, 40, 47
    with smtplib.SMTP_SSL("127.0.0.1", server.ports["smtps"], context=client_tls(), timeout=20) as smtp:
        smtp.login("carol@school.test", "carol-secret")
        smtp.sendmail("carol@school.test", ["carol@school.test"], b"Subject: carol's secret\r\n\r\nmine\r\n")
    imap = imaplib.IMAP4_SSL("127.0.0.1", server.ports["imaps"], ssl_context=client_tls(), timeout=20)
    imap.login(*ALICE)
    for name in ("../carol", "../../school.test/carol", "~carol/INBOX", "/etc", "a/../../x", "&AC4ALg-",
                 "carol@school.test/INBOX"):
        typ, data = imap.select('"%s"' % name)
        assert typ != "OK", (name, data)
        typ, data = imap.status('"%s"' % name, "(MESSAGES)")
        assert typ != "OK", (name, data)
    for reference in ('"../"', '"/"', '"~carol/"'):
        typ, listing = imap.list(reference, "*")
        text = b"\n".join(x for x in listing if x)
        assert b"carol" not in text and b"school" not in text, (reference, listing)
    typ, data = imap.select("INBOX")
    typ, found = imap.search(None, "SUBJECT", '"secret"')
    assert found[0] == b"", found
    imap.logout()
    try:
        bad = imaplib.IMAP4_SSL("127.0.0.1", server.ports["imaps"], ssl_context=client_tls(), timeout=20)
        bad.login("../school.test/carol", "carol-secret")
        raise AssertionError("a path as a login worked")
    except imaplib.IMAP4.error:
        pass


def test_failed_logins_are_delayed_rising_per_address(server):  # catalogue rows 22, 46
    imap = imaplib.IMAP4_SSL("127.0.0.1", server.ports["imaps"], ssl_context=client_tls(), timeout=30)
    delays = []
    for _ in range(2):
        started = time.monotonic()
        try:
            imap.login(ALICE[0], "wrong")
        except imaplib.IMAP4.error:
            pass
        delays.append(time.monotonic() - started)
    assert 1.8 <= delays[0] < 3.5, delays
    assert 3.8 <= delays[1] < 6.0, delays
    # The penalty belongs to the address: a new connection starts at the current penalty (8 s)...
    with smtplib.SMTP("127.0.0.1", server.ports["submission"], timeout=30) as smtp:
        smtp.starttls(context=client_tls())
        smtp.ehlo("student-pc")
        started = time.monotonic()
        code, _ = smtp.docmd("AUTH", "PLAIN AGFsaWNlQGxhYi50ZXN0AHdyb25n")  # one attempt; smtplib.login tries two
        assert code == 535, code
        assert 7.5 <= time.monotonic() - started < 10, time.monotonic() - started
        # ...and a success clears it.
        smtp.login(*ALICE)
    started = time.monotonic()
    try:
        imap.login(ALICE[0], "wrong")
    except imaplib.IMAP4.error:
        pass
    assert 1.8 <= time.monotonic() - started < 3.5
    imap.logout()


def test_sigterm_ends_sessions_cleanly_and_exits_0(server):  # catalogue row 61
    smtp = socket.create_connection(("127.0.0.1", server.ports["smtp"]), timeout=10)
    recv_until(smtp, b"\r\n")
    smtp.sendall(b"EHLO x\r\n")  # and wait: MAIL pipelined behind EHLO gets 554 5.5.0 (catalogue row 7)
    recv_until(smtp, b"250 ")
    smtp.sendall(b"MAIL FROM:<a@outside.test>\r\n")
    recv_until(smtp, b"2.1.0")
    imap = socket.create_connection(("127.0.0.1", server.ports["imap"]), timeout=10)
    recv_until(imap, b"\r\n")
    pop = socket.create_connection(("127.0.0.1", server.ports["pop3"]), timeout=10)
    recv_until(pop, b"\r\n")
    server.signal(signal.SIGTERM)
    assert recv_until(smtp, b"\r\n").startswith(b"421 4.3.2"), "SMTP goodbye"
    assert recv_until(imap, b"\r\n").startswith(b"* BYE"), "IMAP goodbye"
    assert recv_until(pop, b"\r\n").startswith(b"-ERR"), "POP3 goodbye"
    for s in (smtp, imap, pop):
        s.settimeout(5)
        assert s.recv(100) == b"", "the server closed the connection"
        s.close()
    assert server.wait() == 0, server.returncode


def test_connection_cap_per_address(binary):  # catalogue row 19
    with running(binary, ["--max-connections-per-ip", "2"]) as server:
        held = [socket.create_connection(("127.0.0.1", server.ports["smtp"]), timeout=10) for _ in range(2)]
        for s in held:
            assert recv_until(s, b"\r\n").startswith(b"220")
        extra = socket.create_connection(("127.0.0.1", server.ports["imap"]), timeout=10)
        refusal = recv_until(extra, b"\r\n")
        assert refusal.startswith(b"* BYE"), refusal
        extra.close()
        held.pop().close()
        deadline = time.monotonic() + 5
        while True:  # the slot comes back once the server saw the close
            again = socket.create_connection(("127.0.0.1", server.ports["smtp"]), timeout=10)
            if recv_until(again, b"\r\n").startswith(b"220"):
                again.close()
                break
            again.close()
            assert time.monotonic() < deadline, "the slot never came back"
            time.sleep(0.1)
        for s in held:
            s.close()


def main():
    binary = sys.argv[1]
    runner = Runner()
    runner.check("a connection over the per-address cap gets the protocol's refusal; a closed one frees its slot",
                 test_connection_cap_per_address, binary)
    with running(binary) as server:
        runner.check("MX port: foreign recipients and relay tricks get 554 5.7.1, unknown local users 550 5.1.1",
                     test_relay_denied_on_the_mx_port, server)
        runner.check("submission: no AUTH before STARTTLS (538 5.7.11), MAIL before AUTH 530",
                     test_auth_refused_before_starttls_on_submission, server)
        runner.check("submission: MAIL FROM another user's address gets 553 5.7.1", test_foreign_sender_gets_553,
                     server)
        runner.check("SMTP: commands pipelined behind STARTTLS are never answered", test_starttls_injection_smtp,
                     server)
        runner.check("IMAP: commands pipelined behind STARTTLS are never answered", test_starttls_injection_imap,
                     server)
        runner.check("POP3: commands pipelined behind STLS are never answered", test_starttls_injection_pop3,
                     server)
        runner.check("IMAP advertises LOGINDISABLED and refuses LOGIN in clear; POP3 refuses USER/PASS in clear",
                     test_cleartext_logins_refused_imap_pop3, server)
        runner.check("IMAP: another user's mailboxes are out of reach (paths, ~user, LIST references, login names)",
                     test_cross_user_imap_access_refused, server)
        runner.check("failed logins wait 2 s, 4 s, 8 s per client address across protocols; success resets",
                     test_failed_logins_are_delayed_rising_per_address, server)
        runner.check("SIGTERM: 421 4.3.2, * BYE and -ERR to open sessions, then exit 0",
                     test_sigterm_ends_sessions_cleanly_and_exits_0, server)
        runner.finish(server)


if __name__ == "__main__":
    main()
