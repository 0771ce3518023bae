#!/usr/bin/python3
"""One SMTP measurement: smtp-source against a server, then wait until every
message is a file in the Maildir (durably delivered).

    smtp_run.py --port P --sessions S --size BYTES --count N --to ADDR
                [--maildir DIR] [--timeout 120]

Prints one JSON object: seconds until smtp-source had every 250
(accepted_s), seconds until the Maildir held N files (delivered_s; equal to
accepted_s without --maildir, as for smtp-sink), and the two rates.  The
Maildir's new/ and cur/ must be empty at the start (run-all empties them).
smtp-source opens a new connection for every message (its default, as in
Postfix's own benchmark examples).
"""
import argparse
import json
import os
import subprocess
import sys
import time


def count_files(maildir: str) -> int:
    n = 0
    for sub in ("new", "cur"):
        try:
            with os.scandir(os.path.join(maildir, sub)) as it:
                n += sum(1 for _ in it)
        except FileNotFoundError:
            pass
    return n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--sessions", type=int, required=True)
    ap.add_argument("--size", type=int, required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--from", dest="sender", default="bench@source.test")
    ap.add_argument("--to", required=True)
    ap.add_argument("--maildir")
    ap.add_argument("--timeout", type=float, default=120)
    args = ap.parse_args()

    if args.maildir and count_files(args.maildir):
        print(f"smtp_run: {args.maildir} is not empty", file=sys.stderr)
        return 2
    cmd = ["smtp-source", "-s", str(args.sessions), "-l", str(args.size), "-m", str(args.count),
           "-M", "source.test", "-f", args.sender, "-t", args.to, f"{args.host}:{args.port}"]
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, timeout=args.timeout, capture_output=True, text=True)
    except subprocess.TimeoutExpired:
        print(json.dumps({"error": "smtp-source timed out", "timeout_s": args.timeout}))
        return 1
    accepted = time.perf_counter() - start
    if proc.returncode != 0:
        print(json.dumps({"error": f"smtp-source exit {proc.returncode}: {proc.stderr.strip()[-300:]}"}))
        return 1
    delivered = accepted
    have = args.count
    if args.maildir:
        deadline = start + args.timeout
        while True:
            have = count_files(args.maildir)
            if have >= args.count or time.perf_counter() > deadline:
                break
            time.sleep(0.005)
        delivered = time.perf_counter() - start
        if have < args.count:
            print(json.dumps({"error": f"only {have} of {args.count} delivered in {args.timeout}s"}))
            return 1
    print(json.dumps({"count": args.count, "sessions": args.sessions, "size": args.size,
                      "accepted_s": accepted, "delivered_s": delivered,
                      "accepted_rate": args.count / accepted, "rate": args.count / delivered}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
