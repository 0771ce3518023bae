#!/usr/bin/python3
"""Generate the studio's frame-time workload (issue 6, "Speed"): a JSON Lines
trace in the shape `maillab run --trace` writes, with --in-flight envelopes on
open connections at one moment and --lines protocol lines in total.

    studio_trace.py --lines 100000 --in-flight 1000 > heavy.jsonl   # peak time on stderr

Why a generated trace and not a generated scenario: the simulator's worlds
pace their MUAs, so even 2,500 messages sent within 4 s keep at most ~200
sessions open at once, and 1,000 MUAs starting together take minutes to
simulate.  This trace has the simulator's events (queue, dns, connect,
line, deliver with the stored message) for --messages messages, each
submitted by a PC to its domain's MTA and relayed to the recipient's MX,
one SMTP dialog of ~24 lines per hop.  Sessions last --session seconds and
start evenly over a window sized so that --in-flight of them overlap at the
peak, which the script prints on stderr as "peak T S in flight".
"""
import argparse
import heapq
import json
import sys

EHLO_REPLY = ["250-{host} Hello {peer}", "250-PIPELINING", "250-SIZE 10485760", "250-STARTTLS",
              "250-ENHANCEDSTATUSCODES", "250-8BITMIME", "250-SMTPUTF8", "250 CHUNKING"]


def dialog(client, server, sender, rcpt, msg, subject):
    """The lines of one SMTP hop: (dir, text, carries msg)."""
    lines = [("S", f"220 {server} ESMTP maillab", False), ("C", f"EHLO {client}", True)]
    lines += [("S", t.format(host=server, peer=client), False) for t in EHLO_REPLY]
    lines += [("C", f"MAIL FROM:<{sender}> SIZE=300", True), ("S", "250 2.1.0 Ok", False),
              ("C", f"RCPT TO:<{rcpt}>", True), ("S", "250 2.1.5 Ok", False),
              ("C", "DATA", True), ("S", "354 End data with <CR><LF>.<CR><LF>", False),
              ("C", f"Subject: {subject}", True), ("C", "", True), ("C", f"{subject}.", True), ("C", ".", True),
              ("S", f"250 2.0.0 Ok: queued as {msg}", False), ("C", "QUIT", True),
              ("S", "221 2.0.0 Bye", False)]
    return lines


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=100000, help="protocol lines in the whole trace (about)")
    ap.add_argument("--in-flight", type=int, default=1000, help="connections open at the peak")
    ap.add_argument("--domains", type=int, default=50)
    ap.add_argument("--users", type=int, default=4)
    ap.add_argument("--session", type=float, default=2.0, help="seconds one SMTP hop takes")
    args = ap.parse_args()

    per_hop = len(dialog("a", "b", "c", "d", "e", "f"))
    hops = max(1, args.lines // per_hop)
    messages = (hops + 1) // 2
    # Sessions start evenly over `window`: in flight = hops * session / window.
    window = max(args.session, hops * args.session / max(args.in_flight, 1))
    D, U = args.domains, args.users

    heap = []  # (t, seq, event)
    seq = 0

    def push(t, event):
        nonlocal seq
        event = {"t": round(t, 6), **event}
        heapq.heappush(heap, (event["t"], seq, event))
        seq += 1

    for i in range(messages):
        d_from, u_from = i % D, (i // D) % U
        d_to = (d_from + 1 + (i * 7) % (D - 1)) % D if D > 1 else 0
        u_to = (i // D + 1) % U
        pc, mta, mx = f"pc-u{u_from}-d{d_from}", f"mail.d{d_from}.test", f"mail.d{d_to}.test"
        sender, rcpt, msg = f"u{u_from}@d{d_from}.test", f"u{u_to}@d{d_to}.test", f"m{i + 1}@d{d_from}.test"
        subject = f"bench message {i}"
        for hop, (client, server, proto) in enumerate([(pc, mta, "smtp"), (mta, mx, "smtp")]):
            start = 1.0 + window * (2 * i + hop) / max(hops, 1)
            if hop == 0:
                push(start - 0.002, {"kind": "queue", "src": pc, "dst": "", "proto": "submission",
                                     "text": f'composed <{msg}> "{subject}" (300 octets)', "msg": msg,
                                     "action": "enqueue", "next_retry": round(start, 6)})
            push(start - 0.001, {"kind": "dns", "src": client, "dst": "dns.lab", "proto": "dns", "dir": "C",
                                 "text": f"query {'A' if hop == 0 else 'MX'} {server if hop == 0 else f'd{d_to}.test'}",
                                 "msg": msg})
            push(start - 0.0005, {"kind": "dns", "src": "dns.lab", "dst": client, "proto": "dns", "dir": "S",
                                  "text": f"A 192.0.2.{10 + (d_from if hop == 0 else d_to) % 200}"})
            push(start, {"kind": "connect", "src": client, "dst": server, "proto": proto,
                         "text": "connecting", "msg": msg})
            lines = dialog(client, server, sender, rcpt, msg, subject)
            for k, (direction, text, carries) in enumerate(lines):
                t = start + args.session * (k + 1) / len(lines)
                src, dst = (client, server) if direction == "C" else (server, client)
                event = {"kind": "line", "src": src, "dst": dst, "proto": proto, "dir": direction, "text": text}
                if carries:
                    event["msg"] = msg
                push(t, event)
                if text.startswith("250 2.0.0"):
                    if hop == 0:
                        push(t, {"kind": "queue", "src": server, "dst": "", "proto": "smtp", "text": "queued",
                                 "msg": msg, "action": "enqueue", "next_retry": round(t, 6)})
                    else:
                        push(t, {"kind": "queue", "src": client, "dst": "", "proto": "smtp", "text": "relayed",
                                 "msg": msg, "action": "dequeue"})
                        data = (f"Received: from {client} by {server}\r\nReceived: from {pc} by {client}\r\n"
                                f"From: <{sender}>\r\nTo: <{rcpt}>\r\nSubject: {subject}\r\nMessage-ID: <{msg}>\r\n"
                                f"\r\n{subject}.\r\n")
                        push(t, {"kind": "deliver", "src": server, "dst": rcpt, "proto": "local",
                                 "text": "delivered to INBOX", "msg": msg, "user": rcpt, "data": data})

    out = sys.stdout
    open_now, peak, peak_t, line_count = 0, 0, 0.0, 0
    while heap:
        _, _, event = heapq.heappop(heap)
        if event["kind"] == "connect":
            open_now += 1
        elif event["kind"] == "line" and event["text"].startswith("221 "):
            open_now -= 1
        if event["kind"] in ("line", "dns"):
            line_count += 1
        if open_now > peak:
            peak, peak_t = open_now, event["t"]
        out.write(json.dumps(event, separators=(",", ":")) + "\n")
    print(f"peak {peak_t:.3f} {peak} in flight, {line_count} lines, {messages} messages", file=sys.stderr)


if __name__ == "__main__":
    main()
