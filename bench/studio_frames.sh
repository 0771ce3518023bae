#!/bin/bash
# Studio frame time (issue 6, "Speed"): maillab-studio renders N frames off-screen
# under Xvfb (Mesa llvmpipe: CPU build + CPU render) with ~1,000 envelopes in
# flight and a ~100,000-line trace, and prints median / p95 / max frame ms.
#
#   bench/studio_frames.sh [--studio PATH] [--frames N] [--size WxH] [--maillab PATH]
#
# Workloads:
#   synthetic  bench/studio_trace.py: 100,000 lines, 1,000 connections open at the
#              peak; played from the peak at 1x (envelopes moving) and at 100x
#              (the playhead sweeps ~100 s of trace per wall second).
#   simulated  (with --maillab) bench/gen_scenario.py --messages 2500 --domains 50
#              --spread 4 run by `maillab run --trace`: ~130,000 lines from the real
#              simulator, at most ~200 sessions open at once; played at 1x from t=2s.
#   lesson 01  scenarios/01-basics.toml at 1x from t=60 s (alice's submission).
# Target: 60 fps, i.e. p95 under 16.7 ms.  Each row also gives the CPU time
# per frame of every thread of the studio (llvmpipe's included): on a loaded
# machine the wall time is mostly waiting for a core, the CPU time is not.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
studio=$here/../build/bin/maillab-studio
maillab=
frames=600
size=1600x900
while [ $# -gt 0 ]; do
  case $1 in
    --studio) studio=$2; shift 2 ;;
    --maillab) maillab=$2; shift 2 ;;
    --frames) frames=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

run() {  # name trace at speed
  local out
  out=$(xvfb-run -a -s "-screen 0 1920x1080x24" "$studio" --bench-frames "$frames" --bench-speed "$4" \
        --at "$3" --size "$size" "$2" | tail -1)
  printf '%-28s %s\n' "$1" "$out"
}

python3 "$here/studio_trace.py" --lines 100000 --in-flight 1000 > "$work/synthetic.jsonl" 2> "$work/peak.txt"
peak=$(awk '{printf "%d", $2 * 1000}' "$work/peak.txt")
echo "synthetic trace: $(cat "$work/peak.txt")"
echo "studio: $studio  size $size  frames $frames  ($(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg))"
run "synthetic 1x from peak" "$work/synthetic.jsonl" "${peak}ms" 1
run "synthetic 100x from peak" "$work/synthetic.jsonl" "${peak}ms" 100
run "lesson 01 1x from 60 s" "$here/../scenarios/01-basics.toml" 60s 1

if [ -n "$maillab" ]; then
  python3 "$here/gen_scenario.py" --messages 2500 --domains 50 --spread 4 > "$work/sim.toml"
  "$maillab" run --quiet --trace "$work/sim.jsonl" "$work/sim.toml" > /dev/null
  run "simulated 1x from 2s" "$work/sim.jsonl" 2s 1
fi
