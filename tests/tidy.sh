#!/usr/bin/env bash
# Tidy check (after TigerBeetle's tidy test): the pure modules must not reach for
# sockets, windows, clocks, threads or randomness.  Prints every offending line.
set -u
root=${1:-.}
cd "$root" || exit 2
status=0
check() {  # check LABEL PATTERN DIRS...
  local label=$1 pattern=$2; shift 2
  local hits
  hits=$(grep -rnE --include='*.cpp' --include='*.hpp' --include='*.h' "$pattern" "$@" 2>/dev/null |
         grep -v '^net/io/' || true)
  if [ -n "$hits" ]; then
    echo "tidy: $label:"; echo "$hits"; status=1
  fi
}
pure="net sim"
check "Asio outside net/io"       '#include[[:space:]]*[<"](asio|boost/asio)' $pure ui
check "ImGui/GLFW outside ui/"    '#include[[:space:]]*[<"](imgui|GLFW|backends/imgui)' $pure
check "a wall clock in pure code" '(system_clock|steady_clock|high_resolution_clock)::now|[^_a-z]time\(nullptr\)|gettimeofday|clock_gettime' $pure
check "randomness in pure code"   'random_device|[^_a-z]rand\(\)|srand\(|getrandom|RAND_bytes' $pure
check "threads in pure code"      '#include[[:space:]]*<(thread|future)>|std::thread|pthread_create' $pure
[ $status -eq 0 ] && echo "tidy: clean"
exit $status
