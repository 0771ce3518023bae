#!/usr/bin/python3
"""Turn bench/run-all's results.jsonl into the Markdown tables of
bench/README.md: median (min-max) of the runs, maillab's ratio to each peer
and the targets of issue 7.

    summarize.py results.jsonl [machine.txt]
"""
import json
import statistics
import sys
from collections import defaultdict


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def values(rows, key):
    return [r["r"][key] for r in rows if "error" not in r["r"] and key in r["r"]]


def errors(rows):
    return [r["r"]["error"] for r in rows if "error" in r["r"]]


def cell(vals, fmt="{:.0f}"):
    if not vals:
        return "—"
    med = statistics.median(vals)
    if len(vals) == 1:
        return fmt.format(med)
    return f"{fmt.format(med)} ({fmt.format(min(vals))}–{fmt.format(max(vals))})"


def ratio(a, b, fmt="{:.2f}×"):
    if not a or not b:
        return "—"
    return fmt.format(statistics.median(a) / statistics.median(b))


def verdict(ok):
    return "met" if ok else "**missed**"


def smtp(rows, out):
    by = defaultdict(list)
    for r in rows:
        by[(r["size"], r["sessions"], r["server"])].append(r)
    servers = [s for s in ("postfix", "smtp-sink", "aiosmtpd", "maillab") if any(k[2] == s for k in by)]
    out.append("### SMTP: messages/s accepted and durably delivered (smtp-source, a new connection per message)\n")
    head = "| size | sessions | " + " | ".join(servers)
    if "maillab" in servers:
        head += " | maillab ÷ Postfix (target ≥ 5×) | maillab ÷ smtp-sink (target ≥ 0.5× at 1 KiB, 16) | maillab ÷ aiosmtpd"
    out.append(head + " |")
    out.append("|" + "---|" * (head.count("|") ))
    errs = []
    for size in (1024, 102400):
        for sessions in (1, 16, 64):
            if not any((size, sessions, s) in by for s in servers):
                continue
            line = f"| {size // 1024} KiB | {sessions} | "
            line += " | ".join(cell(values(by[(size, sessions, s)], "rate")) for s in servers)
            if "maillab" in servers:
                m = values(by[(size, sessions, "maillab")], "rate")
                for peer in ("postfix", "smtp-sink", "aiosmtpd"):
                    line += " | " + ratio(m, values(by[(size, sessions, peer)], "rate"))
            out.append(line + " |")
            for s in servers:
                for e in errors(by[(size, sessions, s)]):
                    errs.append(f"{s} {size // 1024} KiB ×{sessions}: {e}")
    if errs:
        out.append("\nFailed runs (not in the medians): " + "; ".join(errs[:12]))
    out.append("\nsmtp-sink discards: its figure is the ceiling of the SMTP dialog itself "
               "(accepted = delivered).  Postfix, aiosmtpd and maillab are timed until the last file is in the Maildir.\n")


def disk(rows, smtp_rows, out):
    """The flush one session waits for, and what it leaves of the 5x target there."""
    rate = defaultdict(list)
    for r in smtp_rows:
        if r["sessions"] == 1:
            rate[(r["size"], r["server"])].append(r)
    out.append("### The disk's floor for one session (bench/sync_floor.py: one writer, one file at a time)\n")
    out.append("| size | write + rename + syncfs (ms) | write + fdatasync + rename + directory fsync (ms) "
               "| overwrite a synced log + fdatasync (ms) "
               "| one session's ceiling, each new file synced: 1 ÷ (syncfs + smtp-sink's time per message) "
               "| the same with a write-ahead log (maillab's delivery log): 1 ÷ (log + smtp-sink's time) |")
    out.append("|---|---|---|---|---|---|")
    for r in sorted(rows, key=lambda r: r["size"]):
        d = r["r"]
        if "error" in d:
            out.append(f"| {r['size'] // 1024} KiB | {d['error']} | | | | |")
            continue
        sink = values(rate[(r["size"], "smtp-sink")], "rate")
        postfix = values(rate[(r["size"], "postfix")], "rate")

        def ceiling(way):
            if not sink or way not in d:
                return "—"
            msgs = 1000 / (d[way]["ms"] + 1000 / statistics.median(sink))
            versus = f" = {msgs / statistics.median(postfix):.2f}× Postfix" if postfix else ""
            return f"{msgs:.0f} msg/s{versus}"

        ways = " | ".join(f"{d[w]['ms']:.2f} ({d[w]['min']:.2f}–{d[w]['max']:.2f})" if w in d else "—"
                          for w in ("syncfs", "fdatasync", "log"))
        out.append(f"| {r['size'] // 1024} KiB | {ways} | {ceiling('syncfs')} | {ceiling('log')} |")
    out.append("\nAt 1 session every 250 waits for its own flush: nothing else is in flight to share it "
               "with.  A server that makes each new Maildir file durable before its 250 cannot pass the first "
               "ceiling; maillab acknowledges mail delivered at once after one fdatasync of its delivery log "
               "(the log column) and syncs the Maildir files later, so the second one is its own.\n")


IMAP_SERVERS = (("dovecot", "Dovecot, cleartext"), ("dovecot-tls", "Dovecot, STARTTLS"),
                ("maillab", "maillab, STARTTLS"))


def imap(rows, out):
    sizes = sorted({r["messages"] for r in rows}, reverse=True)
    for n in sizes:
        by = defaultdict(list)
        for r in rows:
            if r["messages"] == n:
                by[r["server"]].append(r)
        out.append(f"### IMAP on a {n:,}-message INBOX (warm: each server read the mailbox once before)\n")
        names = [(k, label) for k, label in IMAP_SERVERS if k in by]
        out.append("| figure | " + " | ".join(label for _, label in names)
                   + " | maillab vs Dovecot STARTTLS (vs cleartext) | target | issue 7's Dovecot |")
        out.append("|---|" + "---|" * (len(names) + 3))
        specs = [("LOGIN + SELECT (s)", "login_select_s", "{:.3f}", 1.0, "≥ 1×", "—"),
                 ("UID FETCH 1:* (FLAGS RFC822.SIZE ENVELOPE) (s)", "envelope_s", "{:.3f}", 1.0, "≥ 1×",
                  "0.05 s" if n == 10000 else "—"),
                 ("FETCH 1:* BODY.PEEK[] (MiB/s)", "body_mib_s", "{:.1f}", 1.0, "≥ 1×", "370 MiB/s"),
                 ("SEARCH TEXT (s)", "search_s", "{:.3f}", 2.0, "≥ 2×", "0.38 s" if n == 10000 else "—")]
        for name, key, fmt, target, tdesc, ref in specs:
            cells = []
            for k, _ in names:
                vals = [r["r"][key] for r in by[k] if key in r["r"]]
                unfinished = [r["r"]["unfinished"] for r in by[k] if "unfinished" in r["r"]]
                if not vals and unfinished and unfinished[0]["command"].split()[0:2] == \
                        {"envelope_s": ["UID", "FETCH"], "body_mib_s": ["FETCH", "1:*"],
                         "search_s": ["SEARCH", "TEXT"]}.get(key, []):
                    u = unfinished[0]
                    cells.append(f"unfinished: {u['responses']:,} of {n:,} in {u['seconds']:.0f} s")
                elif not vals and unfinished:
                    cells.append("not reached")
                else:
                    cells.append(cell(vals, fmt))
            rel = "—"
            m = [r["r"][key] for r in by.get("maillab", []) if key in r["r"]]
            rels = []
            for peer in ("dovecot-tls", "dovecot"):
                d = [r["r"][key] for r in by.get(peer, []) if key in r["r"]]
                if m and d:
                    sp = (statistics.median(m) / statistics.median(d)) if key.endswith("mib_s") \
                        else (statistics.median(d) / statistics.median(m))
                    rels.append(sp)
            if rels:
                rel = f"{rels[0]:.3f}×" + (f" ({rels[1]:.3f}×)" if len(rels) > 1 else "") \
                    + f" — {verdict(rels[0] >= target)}"
            elif any("unfinished" in r["r"] for r in by.get("maillab", [])):
                rel = "**missed** (did not finish within the budget)"
            out.append(f"| {name} | " + " | ".join(cells) + f" | {rel} | {tdesc} | {ref} |")
        found = {k: sorted(set(values(by[k], "search_found"))) for k, _ in names}
        out.append(f"\nSEARCH TEXT hits: {found} (the corpus has one hit per 100 messages). "
                   "Ratios above 1 mean maillab is faster.")
        for k, _ in names:
            for e in errors(by[k]):
                out.append(f"\n{k}: failed run: {e}")
        out.append("")


def pop3(rows, out):
    by = defaultdict(list)
    for r in rows:
        by[r["server"]].append(r)
    names = [(k, label) for k, label in IMAP_SERVERS if k in by]
    out.append("### POP3 on a 1,000-message maildrop (one command at a time)\n")
    out.append("| figure | " + " | ".join(label for _, label in names) + " | maillab vs Dovecot STARTTLS |")
    out.append("|---|" + "---|" * (len(names) + 1))
    for name, key, fmt in (("STAT (ms)", "stat_s", "{:.2f}"), ("LIST (ms)", "list_s", "{:.2f}"),
                           ("RETR × 1,000 (s)", "retr_s", "{:.3f}")):
        scale = 1000 if "ms" in name else 1
        cols = {k: [v * scale for v in values(by[k], key)] for k, _ in names}
        d, m = cols.get("dovecot-tls"), cols.get("maillab")
        rel = f"{statistics.median(d) / statistics.median(m):.3f}×" if d and m else "—"
        out.append(f"| {name} | " + " | ".join(cell(cols[k], fmt) for k, _ in names) + f" | {rel} |")
    for k, _ in names:
        for e in errors(by[k]):
            out.append(f"\n{k}: failed run: {e}")
    out.append("")


def memory(rows, out):
    out.append("### Memory per idle authenticated IMAP session (LOGIN, then nothing)\n")
    out.append("| server | sessions logged in | PSS per session | the second half's PSS per session | "
               "RSS per session | target (the larger PSS figure) |")
    out.append("|---|---|---|---|---|---|")
    for r in rows:
        x = r["r"]
        if "error" in x or x.get("logged_in", 0) == 0:
            out.append(f"| {r['server']} | failed: {x.get('error') or x.get('first_error')} | | | | |")
            continue
        second = x.get("pss_kb_per_session_second_half")  # older results lack it
        worst = max(x["pss_kb_per_session"], second if second is not None else 0)
        target = "≤ 32 KiB — " + verdict(worst <= 32) if r["server"] == "maillab" \
            else "issue 7 measured ~470 KiB"
        label = dict(IMAP_SERVERS).get(r["server"], r["server"])
        second_text = f"{second:.0f} KiB" if second is not None else "—"
        out.append(f"| {label} | {x['logged_in']} of {x['connections']} | "
                   f"{x['pss_kb_per_session']:.0f} KiB | {second_text} | "
                   f"{x['rss_kb_per_session']:.0f} KiB | {target} |")
    out.append("\nPSS divides shared pages among the processes that map them: Dovecot forks one imap "
               "process per session, so its RSS sum counts the shared libraries once per session; "
               "maillab is one process, where PSS ≈ RSS. The second half's figure (sessions 501-1,000 against "
               "the memory at 500) cannot be hidden by space the server's start-up freed.\n")


def sim(rows, out):
    by = defaultdict(list)
    for r in rows:
        by[r["tls"]].append(r)
    n = rows[0]["messages"]
    out.append(f"### Simulator: `maillab run --quiet`, {n:,} messages across {rows[0]['domains']} domains\n")
    out.append("| TLS | wall (s) | user CPU (s) | peak RSS (MiB) | transcript lines | lines/s | exit | target |")
    out.append("|---|---|---|---|---|---|---|---|")
    for tls in ("no", "yes"):
        rs = by.get(tls)
        if not rs:
            continue
        wall = values(rs, "wall_s")
        lines = rs[0]["r"].get("transcript_lines", 0)
        lps = [lines / w for w in wall if w > 0]
        status = sorted({r["r"].get("status") for r in rs})
        target = ("< 1 s — " + verdict(statistics.median(wall) < 1.0)) if tls == "no" and wall else "(reported)"
        out.append(f"| {'STARTTLS on every hop' if tls == 'yes' else 'none'} | {cell(wall, '{:.2f}')} | "
                   f"{cell(values(rs, 'user_s'), '{:.2f}')} | "
                   f"{cell([v / 1024 for v in values(rs, 'peak_rss_kb')], '{:.0f}')} | {lines:,} | "
                   f"{cell(lps, '{:.0f}')} | {status} | {target} |")
    out.append("")


def main():
    rows = load(sys.argv[1])
    out = []
    if len(sys.argv) > 2:
        with open(sys.argv[2]) as f:
            out.append("```\n" + f.read().rstrip() + "\n```\n")
    groups = defaultdict(list)
    for r in rows:
        groups[r["bench"]].append(r)
    for name, fn in (("smtp", smtp), ("imap", imap), ("pop3", pop3), ("memory", memory), ("sim", sim)):
        if groups.get(name):
            fn(groups[name], out)
        if name == "smtp" and groups.get("disk"):
            disk(groups["disk"], groups.get("smtp", []), out)
    missing = []
    if not any(r.get("server") == "maillab" for r in rows):
        missing.append("every maillab serve figure (the binary has no `serve` yet)")
    if not groups.get("sim"):
        missing.append("the simulator figures")
    if missing:
        out.append("Missing from this run: " + "; ".join(missing) + ".")
    print("\n".join(out))


if __name__ == "__main__":
    main()
