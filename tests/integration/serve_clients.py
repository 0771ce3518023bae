#!/usr/bin/env python3
"""maillab serve with real clients: Python smtplib, imaplib, poplib (stdlib).

usage: serve_clients.py PATH/TO/maillab
"""
import email.utils
import imaplib
import poplib
import smtplib
import socket
import ssl
import subprocess
import sys
import time

from serve_harness import Runner, client_tls, running, wait_until

ALICE = ("alice@lab.test", "alice-secret")
BOB = ("bob@lab.test", "bob-secret")
CAROL = ("carol@school.test", "carol-secret")


def message(sender, to, subject, body_lines):
    head = [
        "From: " + sender,
        "To: " + to,
        "Subject: " + subject,
        "Date: " + email.utils.formatdate(),
        "Message-ID: " + email.utils.make_msgid(domain="lab.test"),
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
    ]
    return ("\r\n".join(head + [""] + body_lines) + "\r\n").encode()


def submit(server, sender, recipients, data):
    with smtplib.SMTP("127.0.0.1", server.ports["submission"], timeout=20) as smtp:
        smtp.ehlo("student-pc")
        smtp.starttls(context=client_tls())
        smtp.ehlo("student-pc")
        smtp.login(*sender)
        refused = smtp.sendmail(sender[0], recipients, data)
        assert refused == {}, refused


def imap_login(server, user, implicit=False):
    if implicit:
        imap = imaplib.IMAP4_SSL("127.0.0.1", server.ports["imaps"], ssl_context=client_tls(), timeout=20)
    else:
        imap = imaplib.IMAP4("127.0.0.1", server.ports["imap"], timeout=20)
        imap.starttls(ssl_context=client_tls())
    imap.login(*user)
    return imap


def fetch_all(imap, mailbox="INBOX"):
    typ, data = imap.select(mailbox, readonly=True)
    assert typ == "OK", data
    typ, data = imap.uid("SEARCH", None, "ALL")
    uids = data[0].split()
    out = []
    for uid in uids:
        typ, parts = imap.uid("FETCH", uid, "(BODY.PEEK[])")
        assert typ == "OK", parts
        out.append(parts[0][1])
    return out


def shown(server, user, sent, implicit=False):
    """Does IMAP show `sent` in the user's INBOX?  A 250 means durable in the queue; IMAP
    shows the message once its Maildir copy is durable too (the queue's next round)."""
    imap = imap_login(server, user, implicit)
    try:
        return any(m.endswith(sent) for m in fetch_all(imap))
    finally:
        imap.logout()


def test_submission_then_imap_and_pop3_read_back_identical(server):
    body = ["Dear Carol,", "", ".a line that starts with a dot", "..two dots", ".", "The end, no blank line after."]
    sent = message(ALICE[0], CAROL[0], "byte-identical", body)
    submit(server, ALICE, [CAROL[0]], sent)
    # lab.test -> school.test: a hop through the world (DNS MX, SMTP to mail.school.test) in real time.
    wait_until(lambda: len(server.maildir_new(CAROL[0])) == 1, what="the delivery to carol")
    wait_until(lambda: shown(server, CAROL, sent), what="carol's message over IMAP")
    imap = imap_login(server, CAROL)
    fetched = fetch_all(imap)
    imap.logout()
    assert len(fetched) == 1, fetched
    stored = fetched[0]
    assert stored.endswith(sent), (stored, sent)
    trace = stored[: len(stored) - len(sent)]
    assert trace.startswith(b"Return-Path: <alice@lab.test>\r\nDelivered-To: carol@school.test\r\n"
                            b"Received: from mail.lab.test"), trace  # the hop's, on top
    assert b"\r\nReceived: from student-pc" in trace, trace  # the submission's
    assert b"with ESMTPSA" in trace, trace

    pop = poplib.POP3("127.0.0.1", server.ports["pop3"], timeout=20)
    pop.stls(context=client_tls())
    pop.user(CAROL[0])
    pop.pass_(CAROL[1])
    count, size = pop.stat()
    assert count == 1 and size == len(stored), (count, size, len(stored))
    _, lines, _ = pop.retr(1)
    assert b"\r\n".join(lines) + b"\r\n" == stored
    pop.quit()


def test_implicit_tls_submission_and_imaps_and_pop3s(server):
    sent = message(BOB[0], ALICE[0], "over implicit TLS", ["sent on smtps"])
    with smtplib.SMTP_SSL("127.0.0.1", server.ports["smtps"], context=client_tls(), timeout=20) as smtp:
        smtp.login(*BOB)
        smtp.sendmail(BOB[0], [ALICE[0]], sent)
    wait_until(lambda: shown(server, ALICE, sent, implicit=True), what="the delivery to alice")
    pop = poplib.POP3_SSL("127.0.0.1", server.ports["pop3s"], context=client_tls(), timeout=20)
    pop.user(ALICE[0])
    pop.pass_(ALICE[1])
    count, _ = pop.stat()
    assert count >= 1
    pop.quit()


def test_mx_port_accepts_mail_for_lab_domains_without_auth(server):
    sent = message("someone@outside.test", BOB[0], "from outside", ["through the MX"])
    with smtplib.SMTP("127.0.0.1", server.ports["smtp"], timeout=20) as smtp:
        smtp.ehlo("mx.outside.test")
        assert not smtp.has_extn("auth"), "the MX port offers no AUTH"
        assert smtp.sendmail("someone@outside.test", [BOB[0]], sent) == {}
    wait_until(lambda: shown(server, BOB, sent), what="the delivery to bob")


def test_imap_folders_flags_append_copy_move_expunge(server):
    imap = imap_login(server, BOB)
    assert imap.create("Projects/2026")[0] == "OK"
    typ, listing = imap.list()
    names = b"\n".join(listing)
    for name in (b"INBOX", b"Sent", b"Trash", b"Projects/2026"):
        assert name in names, listing
    appended = message(BOB[0], BOB[0], "appended", ["kept in a folder"])
    typ, data = imap.append("Projects/2026", "(\\Flagged)", imaplib.Time2Internaldate(time.time()), appended)
    assert typ == "OK" and b"APPENDUID" in data[0], data
    typ, data = imap.select("Projects/2026")
    assert typ == "OK" and data[0] == b"1", data
    typ, data = imap.fetch("1", "(FLAGS BODY.PEEK[])")
    assert b"\\Flagged" in data[0][0] and data[0][1] == appended, data
    assert imap.store("1", "+FLAGS", "(\\Seen $Important)")[0] == "OK"
    typ, data = imap.fetch("1", "(FLAGS)")
    assert b"\\Seen" in data[0] and b"$Important" in data[0], data
    typ, data = imap.copy("1", "Trash")
    assert typ == "OK" and b"COPYUID" in data[0], data
    typ, data = imap._simple_command("MOVE", "1", "Sent")
    assert typ == "OK", data
    typ, data = imap.select("Projects/2026")
    assert data[0] == b"0", data
    assert len(fetch_all(imap, "Sent")) == 1
    typ, data = imap.select("Trash")
    imap.store("1", "+FLAGS", "(\\Deleted)")
    imap.expunge()
    typ, data = imap.select("Trash")
    assert data[0] == b"0", data
    typ, data = imap.rename("Projects/2026", "Projects/Done")
    assert typ == "OK", data
    assert imap.delete("Projects/Done")[0] == "OK"
    imap.logout()


def test_long_fetch_arrives_whole_over_tls(server):
    """One FETCH 1:* of 1.5 MB: the server writes it in 256 KiB slices through TLS,
    and a reader gets every message byte for byte, in order, over STARTTLS and IMAPS."""
    imap = imap_login(server, CAROL)
    assert imap.create("Bulk")[0] == "OK"
    appended = []
    for i in range(40):
        lines = [f"message {i} line {j}: " + "0123456789abcdef"[(i + j) % 16] * (40 + (i * 7 + j) % 50)
                 for j in range(480)]
        data = message(CAROL[0], CAROL[0], f"bulk {i}", lines)
        typ, reply = imap.append("Bulk", None, imaplib.Time2Internaldate(time.time()), data)
        assert typ == "OK", reply
        appended.append(data)
    assert sum(map(len, appended)) > 1_400_000
    imap.logout()
    for implicit in (False, True):
        imap = imap_login(server, CAROL, implicit)
        typ, data = imap.select("Bulk", readonly=True)
        assert typ == "OK" and data[0] == b"40", data
        typ, parts = imap.fetch("1:*", "(BODY.PEEK[])")
        assert typ == "OK", parts[:1]
        fetched = [part[1] for part in parts if isinstance(part, tuple)]
        assert len(fetched) == len(appended), len(fetched)
        for i, (got, want) in enumerate(zip(fetched, appended)):
            assert got == want, f"message {i + 1} differs (implicit TLS: {implicit})"
        imap.logout()
    imap = imap_login(server, CAROL)
    assert imap.delete("Bulk")[0] == "OK"
    imap.logout()


def test_imap_idle_reports_a_new_delivery(server):
    imap = imap_login(server, CAROL)
    typ, data = imap.select("INBOX")
    before = int(data[0])
    tag = imap._new_tag().decode()
    imap.send(("%s IDLE\r\n" % tag).encode())
    line = imap.readline()
    assert line.startswith(b"+"), line
    started = time.monotonic()
    submit(server, ALICE, [CAROL[0]], message(ALICE[0], CAROL[0], "pushed", ["IDLE should say EXISTS"]))
    imap.sock.settimeout(10)
    pushed = imap.readline()
    assert pushed == b"* %d EXISTS\r\n" % (before + 1), pushed
    assert time.monotonic() - started < 8
    imap.send(b"DONE\r\n")
    done = imap.readline()
    while done.startswith(b"*"):
        done = imap.readline()
    assert done.startswith(tag.encode() + b" OK"), done
    imap.logout()


def test_certificate_names_localhost_and_the_lab_hosts(server):
    pem = open(server.state + "/tls/cert.pem").read()
    with socket.create_connection(("127.0.0.1", server.ports["imaps"]), timeout=10) as raw:
        context = ssl.create_default_context(cadata=pem)
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
            assert tls.recv(100).startswith(b"* OK")
    text = subprocess.run(["openssl", "x509", "-noout", "-ext", "subjectAltName"], input=pem.encode(),
                          capture_output=True, timeout=10).stdout.decode()
    for name in ("DNS:localhost", "IP Address:127.0.0.1", "DNS:mail.lab.test", "DNS:mail.school.test"):
        assert name in text, text


def test_dns_answers_mx_and_a_from_the_scenario(server):
    query = bytes.fromhex("abcd01000001000000000000") + b"\x06school\x04test\x00" + b"\x00\x0f\x00\x01"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.settimeout(5)
        udp.sendto(query, ("127.0.0.1", server.ports["dns"]))
        reply, _ = udp.recvfrom(4096)
    assert reply[:2] == b"\xab\xcd" and reply[2] & 0x80 and reply[2] & 0x04, reply  # id, QR, AA
    assert int.from_bytes(reply[6:8], "big") == 1, reply  # one answer
    assert b"\x04mail" in reply, reply
    try:
        out = subprocess.run(["dig", "+short", "@127.0.0.1", "-p", str(server.ports["dns"]), "MX", "school.test"],
                             capture_output=True, timeout=15).stdout.decode()
    except FileNotFoundError:
        return
    assert out.strip() == "10 mail.school.test.", out


def main():
    binary = sys.argv[1]
    runner = Runner()
    with running(binary) as server:
        runner.check("smtplib STARTTLS+AUTH on submission, read back byte-identical with imaplib STARTTLS and poplib STLS",
                     test_submission_then_imap_and_pop3_read_back_identical, server)
        runner.check("implicit TLS: smtplib SMTP_SSL, imaplib IMAP4_SSL, poplib POP3_SSL",
                     test_implicit_tls_submission_and_imaps_and_pop3s, server)
        runner.check("MX port accepts mail for the lab's domains without AUTH and offers no AUTH",
                     test_mx_port_accepts_mail_for_lab_domains_without_auth, server)
        runner.check("imaplib: folders, APPEND with flags, STORE, COPY, MOVE, EXPUNGE, RENAME, DELETE",
                     test_imap_folders_flags_append_copy_move_expunge, server)
        runner.check("imaplib: FETCH 1:* of 40 messages (1.5 MB) arrives byte for byte over STARTTLS and IMAPS",
                     test_long_fetch_arrives_whole_over_tls, server)
        runner.check("imaplib: IDLE pushes EXISTS when a message is delivered", test_imap_idle_reports_a_new_delivery,
                     server)
        runner.check("the self-signed certificate verifies for localhost and names the lab's hosts",
                     test_certificate_names_localhost_and_the_lab_hosts, server)
        runner.check("DNS on UDP answers MX school.test from the scenario (raw query and dig)",
                     test_dns_answers_mx_and_a_from_the_scenario, server)
        runner.finish(server)


if __name__ == "__main__":
    main()
