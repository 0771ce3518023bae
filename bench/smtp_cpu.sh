#!/bin/bash
# The lab server's CPU per SMTP message: starts `maillab serve` on the bench
# scenario, runs bench/smtp_run.py (smtp-source, a new connection per message)
# against it, and prints the run's JSON line and the server's user and system
# CPU (utime, stime from /proc) spent during it.  A figure the machine's load
# moves less than the rate does; compare binaries interleaved.
#
#   bench/smtp_cpu.sh MAILLAB PORT [SESSIONS=16] [COUNT=1000] [SIZE=1024]
#
# The run's state is moved into $TRASH (default /tmp/maillab-smtp-cpu-trash),
# not deleted: on ext4 without a journal every create skips, one by one, the
# inodes freed in its block group in the last minute, so deleting a run's
# files would slow the next run's (bench/README.md, "SMTP, ninth round
# (lead)").  Remove $TRASH when the measurements are done.
set -u
maillab=$1 port=$2 sessions=${3:-16} count=${4:-1000} size=${5:-1024}
here=$(cd "$(dirname "$0")" && pwd)
trash=${TRASH:-/tmp/maillab-smtp-cpu-trash}
mkdir -p "$trash"
state=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; mv "$state" "$trash/"; rm -f "$state.log"' EXIT
"$maillab" serve "$here/bench-scenario.toml" --state "$state" --smtp "$port" --imap 0 --pop3 0 \
  --submission 0 --smtps 0 --imaps 0 --pop3s 0 --dns 0 \
  --max-connections 2000 --max-connections-per-ip 2000 >"$state.log" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q '^maillab: ready' "$state.log" && break; sleep 0.1; done
ticks=$(getconf CLK_TCK)
read -r u0 s0 < <(awk '{print $14, $15}' "/proc/$pid/stat")
timeout 300 python3 "$here/smtp_run.py" --port "$port" --sessions "$sessions" --size "$size" \
  --count "$count" --to bench@bench.test --maildir "$state/mail/bench.test/bench" | tail -1
read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$pid/stat")
echo "server CPU: user $(( (u1 - u0) * 1000 / ticks )) ms, system $(( (s1 - s0) * 1000 / ticks )) ms for $count messages"
