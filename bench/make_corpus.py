#!/usr/bin/python3
"""Fill one or more Maildirs with the same deterministic set of messages.

    make_corpus.py --count 10000 MAILDIR [MAILDIR...]

Every run writes byte-identical files with identical names into cur/ (flag S
on every other message), so Dovecot and maillab serve read the very same
mailbox.  Sizes: mostly 1-12 KiB of text, every 20th message a
multipart/mixed with a 40 KiB base64 attachment.  The word "quetzal" occurs
in the body of every 100th message only: SEARCH TEXT quetzal must find
count/100 of them on every server.
"""
import argparse
import base64
import os
import random

WORDS = ("mail server client relay queue mailbox folder message header body "
         "envelope sender recipient domain lesson teacher student network "
         "packet socket timeout retry bounce delivery storage index cache "
         "protocol command reply status greeting capability").split()


def message(i: int, rng: random.Random) -> bytes:
    sender = f"user{i % 97}@sender{i % 13}.test"
    subject = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 8)))
    day = 1 + i % 28
    hdr = (f"Return-Path: <{sender}>\n"
           f"Received: from client{i % 50}.sender{i % 13}.test (client [192.0.2.{i % 250}])\n"
           f"\tby mail.bench.test with ESMTP id B{i:08d}; "
           f"{day:02d} Mar 2026 08:{i % 60:02d}:00 +0000\n"
           f"Date: {['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'][i % 7]}, "
           f"{day:02d} Mar 2026 08:{i % 60:02d}:00 +0000\n"
           f"From: User {i % 97} <{sender}>\n"
           f"To: Bench <imap@bench.test>\n"
           + (f"Cc: other{i % 7}@bench.test\n" if i % 3 == 0 else "")
           + f"Subject: {subject} #{i}\n"
           f"Message-ID: <{i}.bench@sender{i % 13}.test>\n"
           f"MIME-Version: 1.0\n")
    lines = []
    target = rng.randint(1024, 12 * 1024)
    size = 0
    while size < target:
        line = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 12)))
        lines.append(line)
        size += len(line) + 1
    if i % 100 == 0:
        lines.insert(len(lines) // 2, "the quetzal flew over the relay")
    text = "\n".join(lines) + "\n"
    if i % 20 == 0:
        blob = base64.encodebytes(bytes(rng.getrandbits(8) for _ in range(30 * 1024))).decode()
        body = ("Content-Type: multipart/mixed; boundary=\"b{0}\"\n\n"
                "--b{0}\nContent-Type: text/plain; charset=us-ascii\n\n{1}"
                "--b{0}\nContent-Type: application/octet-stream; name=\"data{0}.bin\"\n"
                "Content-Transfer-Encoding: base64\n\n{2}--b{0}--\n").format(i, text, blob)
    else:
        body = "Content-Type: text/plain; charset=us-ascii\n\n" + text
    return (hdr + body).encode()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--owner", help="uid:gid to chown the files to")
    ap.add_argument("maildirs", nargs="+")
    args = ap.parse_args()
    rng = random.Random(20261126)
    for d in args.maildirs:
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
    total = 0
    for i in range(1, args.count + 1):
        data = message(i, rng)
        total += len(data)
        name = f"{1772438400 + i}.M{i:06d}P1.bench:2,{'S' if i % 2 else ''}"
        mtime = 1772438400 + i
        for d in args.maildirs:
            path = os.path.join(d, "cur", name)
            with open(path, "wb") as f:
                f.write(data)
            os.utime(path, (mtime, mtime))
    if args.owner:
        uid, gid = (int(x) for x in args.owner.split(":"))
        for d in args.maildirs:
            for root, dirs, files in os.walk(d):
                os.chown(root, uid, gid)
                for name in files:
                    os.chown(os.path.join(root, name), uid, gid)
    print(f"{args.count} messages, {total} bytes, into {len(args.maildirs)} Maildir(s)")


if __name__ == "__main__":
    main()
