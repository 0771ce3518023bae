#!/usr/bin/env python3
"""Renders studio screenshots under Xvfb and checks each PNG: the requested
size, and not blank (many distinct colours, text-like contrast).

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


def check(studio, scenario, out, args, size=(1280, 720)):
    cmd = ["xvfb-run", "-a", "-s", "-screen 0 1920x1080x24", studio, "--screenshot", out,
           "--size", "%dx%d" % size] + args + [scenario]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise AssertionError("%s exited %d: %s" % (" ".join(cmd), result.returncode, result.stderr))
    width, height, rows = read_png(out)
    assert (width, height) == size, "size %dx%d, wanted %dx%d" % (width, height, *size)
    colours = set()
    bright = 0
    for row in rows[::7]:
        for x in range(0, len(row), 4 * 5):
            px = row[x:x + 3]
            colours.add(px)
            if sum(px) > 600:
                bright += 1
    assert len(colours) > 50, "%s looks blank (%d colours)" % (out, len(colours))
    assert bright > 100, "%s has no text-bright pixels" % out
    print("ok  %s  %dx%d  %d colours" % (out, width, height, len(colours)))


def main():
    studio, scenarios, out_dir = sys.argv[1:4]
    os.makedirs(out_dir, exist_ok=True)
    basics = os.path.join(scenarios, "01-basics.toml")
    fallback = os.path.join(scenarios, "03-mx-fallback.toml")
    check(studio, basics, os.path.join(out_dir, "basics-en.png"), ["--lang", "en", "--at", "10s"])
    check(studio, basics, os.path.join(out_dir, "basics-id.png"), ["--lang", "id", "--at", "10s"])
    check(studio, fallback, os.path.join(out_dir, "mx-fallback-end.png"), ["--lang", "en"])
    # A bad scenario exits 2 with FILE:LINE:COL, like `maillab check`.
    bad = os.path.join(out_dir, "bad.toml")
    open(bad, "w").write('title = "x"\nunknown_key = 1\n')
    result = subprocess.run(["xvfb-run", "-a", studio, "--screenshot", os.path.join(out_dir, "bad.png"), bad],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, "bad scenario exit %d" % result.returncode
    assert bad + ":2:1:" in result.stderr, result.stderr
    print("ok  bad scenario: " + result.stderr.strip().splitlines()[0])
    print("4 passed, 0 failed")


if __name__ == "__main__":
    main()
