"""aiosmtpd handler for the bench: stores every message in a Maildir and
answers 250 only after the file and the new/ directory are fsync'd, the same
durability maillab serve and Postfix's local(8) give.

    PYTHONPATH=bench /usr/bin/python3 -m aiosmtpd -n -l 127.0.0.1:PORT \
        -c aiosmtpd_maildir.MaildirHandler /path/to/Maildir
"""
import itertools
import os
import socket


class MaildirHandler:
    def __init__(self, maildir: str):
        self.maildir = maildir
        for sub in ("tmp", "new", "cur"):
            os.makedirs(os.path.join(maildir, sub), exist_ok=True)
        self.new_fd = os.open(os.path.join(maildir, "new"), os.O_RDONLY | os.O_DIRECTORY)
        self.counter = itertools.count(1)
        self.host = socket.gethostname()

    @classmethod
    def from_cli(cls, parser, *args):
        if len(args) != 1:
            parser.error("MaildirHandler takes one argument: the Maildir")
        return cls(args[0])

    async def handle_DATA(self, server, session, envelope):
        data = envelope.original_content or envelope.content
        if isinstance(data, str):
            data = data.encode()
        name = f"{os.getpid()}.{next(self.counter)}.{self.host}"
        tmp = os.path.join(self.maildir, "tmp", name)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            head = f"Return-Path: <{envelope.mail_from}>\r\n".encode()
            os.write(fd, head + data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, os.path.join(self.maildir, "new", name))
        os.fsync(self.new_fd)
        return "250 2.0.0 Ok: stored"
