#!/usr/bin/env bash
# Instructions Redis executes per call task for the store's scripts, counted by valgrind (callgrind): the
# same figure on every run, whatever else the machine is doing, unlike CPU time. Runs the store bench
# twice against a redis-server under callgrind (20 and 80 rounds of 64 tasks after the same warm-up) and
# prints the difference per task as one JSON line. Takes about a minute.
#
#   apps/coordinator/bench/redis-instructions.sh            # submit + lease + finish with a waiter
#   BENCH_STEPS=s apps/coordinator/bench/redis-instructions.sh   # the submit alone (see store.bench.ts)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 2; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

total() {
  local rounds=$1 port
  port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
  valgrind --tool=callgrind --callgrind-out-file="$work/out.$rounds" \
    redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" --logfile "" \
    >"$work/valgrind.$rounds.log" 2>&1 &
  local server=$!
  for _ in $(seq 1 150); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.2; done
  (cd "$here" && BENCH_CLEANUP=0 BENCH_REDIS_URL="redis://127.0.0.1:$port" BENCH_BATCHES=64 \
    BENCH_ROUNDS="$rounds" npx tsx --conditions=source bench/store.bench.ts >"$work/bench.$rounds.log")
  redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
  wait "$server" || true
  grep -o 'summary: [0-9]*' "$work/out.$rounds" | awk '{print $2}'
}

low=$(total 20)
high=$(total 80)
echo "{\"bench\":\"redis_instructions\",\"steps\":\"${BENCH_STEPS:-slf}\",\"waiter\":\"${BENCH_WAITER:-1}\",\"direct\":\"${BENCH_DIRECT:-0}\",\"instructions_per_task\":$(( (high - low) / (60 * 64) ))}"
