#!/bin/bash
# The simulator's determinism check for speed work: two maillab binaries (say
# main's and a branch's) run the same scenarios with the same seeds, each
# writing its transcript (stdout) and its --trace JSON Lines file, and every
# pair of files is compared with cmp.  Any difference is a bug unless it is a
# deliberate, documented change.
#
#   bench/sim_same_output.sh BEFORE_MAILLAB AFTER_MAILLAB [OUTDIR]
#
# Scenarios: every scenarios/*.toml lesson with its own seed and with --seed 7,
# and bench/gen_scenario.py's 1,000- and 10,000-message scenarios over 50
# domains plus a 300-message --tls one over 10 domains (STARTTLS on every hop).
# Prints one line per differing file and a count; exits 1 when any differs.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
before=$1
after=$2
out=${3:-$(mktemp -d /tmp/sim-same-output.XXXXXX)}
mkdir -p "$out/scenarios" "$out/before" "$out/after"

python3 "$here/gen_scenario.py" --messages 1000 --domains 50 >"$out/scenarios/gen-1000.toml"
python3 "$here/gen_scenario.py" --messages 10000 --domains 50 >"$out/scenarios/gen-10000.toml"
python3 "$here/gen_scenario.py" --messages 300 --domains 10 --tls >"$out/scenarios/gen-300-tls.toml"

runs=()
for lesson in "$here"/../scenarios/*.toml; do
  runs+=("$lesson|")
  runs+=("$lesson|7")
done
for generated in "$out"/scenarios/gen-*.toml; do runs+=("$generated|"); done

files=0
differ=0
for run in "${runs[@]}"; do
  scenario=${run%|*}
  seed=${run#*|}
  name=$(basename "$scenario" .toml)${seed:+-seed$seed}
  for side in before after; do
    binary=$before
    [ "$side" = after ] && binary=$after
    "$binary" run ${seed:+--seed "$seed"} --trace "$out/$side/$name.trace.jsonl" "$scenario" \
      >"$out/$side/$name.transcript" || true  # a lesson may end with unmet expectations: the output still counts
  done
  for file in "$name.transcript" "$name.trace.jsonl"; do
    files=$((files + 1))
    if ! cmp -s "$out/before/$file" "$out/after/$file"; then
      echo "DIFFERS: $file"
      differ=$((differ + 1))
    fi
  done
done
echo "$files files compared, $differ differ (outputs in $out)"
[ "$differ" -eq 0 ]
