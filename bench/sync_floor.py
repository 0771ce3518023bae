#!/usr/bin/env python3
"""The disk's floor for one SMTP session: how long one writer waits to make one
new Maildir file durable, with nothing to share the flush with.

At concurrency 1 a server that answers 250 only after the message is on disk
cannot beat one such wait per message plus the dialog itself (smtp-sink's
figure), however fast its code is.  Two ways of making a file durable:

  syncfs     write tmp/N, rename to new/N, syncfs(2)  (what maillab's rounds do)
  fdatasync  write tmp/N, fdatasync, rename to new/N, fsync the directory
             (what aiosmtpd_maildir.py and Postfix's local(8) do)
  log        overwrite the next block of a log file written and synced
             beforehand, fdatasync (no new inode, no directory entry): what
             maillab's delivery log (sim/store/delivery_log.hpp) waits for

Prints one JSON line: milliseconds per file (median of the rounds, min-max)
for each way; `--sync none` shows what Python itself costs per file.

    bench/sync_floor.py DIR [--size 1024] [--count 300] [--rounds 3]
"""
import argparse
import ctypes
import json
import os
import statistics
import time

libc = ctypes.CDLL(None, use_errno=True)


def syncfs(fd: int) -> None:
    if libc.syncfs(fd) != 0:
        raise OSError(ctypes.get_errno(), "syncfs")


def log_round(root: str, size: int, count: int) -> float:
    """Seconds per record for `count` records written into a preallocated log one by one."""
    os.makedirs(root, exist_ok=True)
    slot = -(-size // 4096) * 4096
    fd = os.open(os.path.join(root, "log"), os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, bytes(slot * count))
        os.fsync(fd)
        body = b"x" * size
        start = time.perf_counter()
        for i in range(count):
            os.pwrite(fd, body, i * slot)
            os.fdatasync(fd)
        return (time.perf_counter() - start) / count
    finally:
        os.close(fd)


def one_round(root: str, way: str, size: int, count: int) -> float:
    """Seconds per file for `count` files written and made durable one by one."""
    if way == "log":
        return log_round(root, size, count)
    tmp, new = os.path.join(root, "tmp"), os.path.join(root, "new")
    os.makedirs(tmp, exist_ok=True)
    os.makedirs(new, exist_ok=True)
    body = b"x" * size
    dir_fd = os.open(new, os.O_RDONLY | os.O_DIRECTORY)
    try:
        start = time.perf_counter()
        for i in range(count):
            src, dst = os.path.join(tmp, str(i)), os.path.join(new, str(i))
            fd = os.open(src, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, body)
            if way == "fdatasync":
                os.fdatasync(fd)
            os.close(fd)
            os.rename(src, dst)
            if way == "fdatasync":
                os.fsync(dir_fd)
            elif way == "syncfs":
                syncfs(dir_fd)
        return (time.perf_counter() - start) / count
    finally:
        os.close(dir_fd)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir", help="an empty directory on the file system the servers write to")
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--count", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--sync", default="syncfs,fdatasync,log", help="comma list of syncfs,fdatasync,log,none")
    args = ap.parse_args()
    result = {"size": args.size, "count": args.count}
    for n, way in enumerate(args.sync.split(",")):
        # A fresh directory per round: files are left in place, since deleting them
        # slows later creates on this machine's ext4 (see empty_maildir in run-all).
        ms = [1000 * one_round(os.path.join(args.dir, f"{way}-{n}-{r}"), way, args.size, args.count)
              for r in range(args.rounds)]
        result[way] = {"ms": round(statistics.median(ms), 3), "min": round(min(ms), 3), "max": round(max(ms), 3)}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
