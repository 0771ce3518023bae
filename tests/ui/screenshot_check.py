#!/usr/bin/env python3
"""Renders studio screenshots under Xvfb and checks each PNG: the requested
size, not blank (many distinct colours, text-like contrast) and, per panel,
the colours of what the view model says is on screen (tests/ui/model holds
the same moment: lesson 01 at 60.014 s, alice's submission open, MAIL FROM
and RCPT TO sent, message m1 in flight).

Writes OUT_DIR/<panel>-<lang>.png for every panel (one studio run per
language: `--panel all`), mx-fallback-end.png (whole studio) and checks
that a bad scenario exits 2 with FILE:LINE:COL.

usage: screenshot_check.py STUDIO SCENARIOS_DIR OUT_DIR
"""
import os
import struct
import subprocess
import sys
import zlib


def read_png(path):
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and colour == 6, "expected 8-bit RGBA"
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * 4
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if f == 0:  # the studio writes unfiltered rows: nothing to undo
            rows.append(bytes(line))
            prev = line
            continue
        for x in range(stride):
            a = line[x - 4] if x >= 4 else 0
            b = prev[x]
            c = prev[x - 4] if x >= 4 else 0
            if f == 1: line[x] = (line[x] + a) & 255
            elif f == 2: line[x] = (line[x] + b) & 255
            elif f == 3: line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, rows


SIZE = (960, 540)
AT = "60014ms"  # lesson 01: alice-pc -> mail.lab.test open, MAIL FROM and RCPT TO sent

# Exact fill colours of the panels (ui/look.cpp, ui/view_topology.cpp).
CLIENT = (90, 170, 250)      # line_colour('C')
SERVER = (110, 220, 110)     # line_colour('S')
NODE = (40, 70, 120)         # a host that is up
MESSAGE_0 = (242, 61, 61)    # message_colour(0): m1@lab.test, the envelope
PRESENTER_CLIENT = (120, 200, 255)

# What each panel must show at AT, as colours; the view model's tests pin the
# same facts (snapshot_cache_test.cpp: "lesson 01 at the screenshot moment").
EXPECT = {
    "topology": [NODE, MESSAGE_0],
    "transcript": [CLIENT, SERVER],
    "sequence": [CLIENT, SERVER],
    "message": [MESSAGE_0],
    "dns": [CLIENT, SERVER],
    "routes": [MESSAGE_0],
    "presenter": [PRESENTER_CLIENT, NODE],
}


def check_png(out, size, wanted=()):
    width, height, rows = read_png(out)
    assert (width, height) == size, "%s: size %dx%d, wanted %dx%d" % (out, width, height, *size)
    colours = {}
    bright = 0
    for row in rows[::3]:
        for x in range(0, len(row), 4 * 2):
            px = tuple(row[x:x + 3])
            colours[px] = colours.get(px, 0) + 1
            if sum(px) > 450:
                bright += 1
    assert len(colours) > 20, "%s looks blank (%d colours)" % (out, len(colours))
    assert bright > 30, "%s has no text-bright pixels" % out
    for colour in wanted:
        pattern = bytes(colour) + b"\xff"
        count = sum(row.count(pattern) for row in rows)
        assert count >= 3, "%s lacks colour %s (what the panel should show)" % (out, colour)
    print("ok  %s  %dx%d  %d colours  %s" % (out, width, height, len(colours),
                                              " ".join("%02x%02x%02x" % c for c in wanted)))


def run_studio(studio, args, size):
    cmd = ["xvfb-run", "-a", "-s", "-screen 0 1920x1080x24", studio, "--size", "%dx%d" % size] + args
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise AssertionError("%s exited %d: %s" % (" ".join(cmd), result.returncode, result.stderr))


def main():
    studio, scenarios, out_dir = sys.argv[1:4]
    os.makedirs(out_dir, exist_ok=True)
    basics = os.path.join(scenarios, "01-basics.toml")
    fallback = os.path.join(scenarios, "03-mx-fallback.toml")
    passed = 0
    for lang in ("en", "id"):
        run_studio(studio, ["--screenshot", out_dir, "--panel", "all", "--lang", lang, "--at", AT, basics], SIZE)
        for panel in ("topology", "transcript", "timeline", "sequence", "message", "dns", "queues", "mailboxes",
                      "routes", "lesson", "files", "presenter"):
            check_png(os.path.join(out_dir, "%s-%s.png" % (panel, lang)), SIZE, EXPECT.get(panel, ()))
            passed += 1
    end = os.path.join(out_dir, "mx-fallback-end.png")
    run_studio(studio, ["--screenshot", end, "--lang", "en", fallback], (1280, 720))
    check_png(end, (1280, 720), [NODE])
    passed += 1
    # A bad scenario exits 2 with FILE:LINE:COL, like `maillab check`.
    bad = os.path.join(out_dir, "bad.toml")
    open(bad, "w").write('title = "x"\nunknown_key = 1\n')
    result = subprocess.run(["xvfb-run", "-a", studio, "--screenshot", os.path.join(out_dir, "bad.png"), bad],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, "bad scenario exit %d" % result.returncode
    assert bad + ":2:1:" in result.stderr, result.stderr
    print("ok  bad scenario: " + result.stderr.strip().splitlines()[0])
    passed += 1
    print("%d passed, 0 failed" % passed)


if __name__ == "__main__":
    main()
