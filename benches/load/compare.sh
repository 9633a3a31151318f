#!/usr/bin/env bash
# Before/after on the load benchmark: the proxy built at BASE_REV and at the working tree,
# both running at once (each on its own database), measured at saturation in alternating
# order (ABBA: before, after, after, before, ...) so that the machine's drift and its
# neighbours weigh on both alike, with both load generators in turn: `signing` (signs
# every request, as an SDK does) and `light` (replays requests pre-signed once, as wrk
# with a script; the proxy gets the CPU signing would take). SQLite, then MariaDB when
# reachable. Each proxy keeps its local state (spill file, crash journal) in a directory
# of the run on disk.
#
#   benches/load/compare.sh BASE_REV [SECONDS_PER_RUN] [ROUNDS]     (default 10 s, 6 rounds)
#   GENERATORS="light" ENGINES="sqlite" benches/load/compare.sh ...  (one generator, engine)
#   BEFORE_STATE_DIR=0 benches/load/compare.sh 73fe0a0 ...  (a base without proxy.state_dir)
#   CONCURRENCY=256 benches/load/compare.sh ...  (calls in flight per run; default 64)
#   BEFORE_JOURNAL=off AFTER_JOURNAL=fsync benches/load/compare.sh - 10 6
#       (BASE_REV `-`: the working tree's binary on both sides; `*_JOURNAL` sets that
#       side's `proxy.journal`, for binaries that know it)
#
# Release profile settings can be given in the environment and apply to both sides, e.g.
# CARGO_PROFILE_RELEASE_LTO=off CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 for a faster build.
#
# Prints one JSON line per run and a Markdown summary per engine and generator: median
# req/s of each side, the ratio after/before of the medians and the geometric mean of
# the rounds' paired ratios (steadier: each round's two runs are back to back), and CPU
# seconds per 1,000 calls.
set -euo pipefail
cd "$(dirname "$0")/../.."
BASE=${1:?usage: compare.sh BASE_REV [SECONDS] [ROUNDS]}
DUR=${2:-10}
ROUNDS=${3:-6}
GENERATORS=${GENERATORS:-signing light}
ENGINES=${ENGINES:-sqlite mariadb}
CONCURRENCY=${CONCURRENCY:-64}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/bedrock-gate-target}
WORK=$(mktemp -d)
R=$CARGO_TARGET_DIR/release

# Build both sides; the base in a throw-away worktree sharing the target directory.
cargo build --release --quiet --bin bedrock-gate --example bench-upstream --example bench-loadgen
cp "$R/bedrock-gate" "$WORK/gate-after"
cp "$R/examples/bench-upstream" "$WORK/upstream"
cp "$R/examples/bench-loadgen" "$WORK/loadgen"
if [ "$BASE" = - ]; then
    cp "$R/bedrock-gate" "$WORK/gate-before"
else
    git worktree add --quiet --detach "$WORK/base" "$BASE"
    (cd "$WORK/base" && cargo build --release --quiet --bin bedrock-gate)
    cp "$R/bedrock-gate" "$WORK/gate-before"
    git worktree remove --force "$WORK/base"
    # Leave the target directory holding the working tree's build again.
    cargo build --release --quiet --bin bedrock-gate
fi
declare -A JOURNAL=([before]=${BEFORE_JOURNAL:-} [after]=${AFTER_JOURNAL:-})
# `proxy.state_dir`, unless BEFORE_STATE_DIR=0 (binaries older than the key refuse it).
declare -A STATE_DIR=([before]=${BEFORE_STATE_DIR:-1} [after]=1)
[ "${STATE_DIR[before]}" = 0 ] && STATE_DIR[before]=

ulimit -n 65536 2>/dev/null || true
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
MASTER=$(head -c 32 /dev/urandom | base64)
export AWS_ACCESS_KEY_ID=AKIABENCHUPSTREAM000 AWS_SECRET_ACCESS_KEY=benchUpstreamSecret AWS_EC2_METADATA_DISABLED=true
RESULTS=$WORK/results.jsonl
TICK=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
wait_port() { for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 did not open" >&2; return 1; }

"$WORK/upstream" 127.0.0.1:18190 1000 > "$WORK/upstream.log" & PIDS+=($!)
wait_port 18190

declare -A PID KEY SECRET
# start SIDE ENGINE DB_URL PORT
start() {
    local side=$1 engine=$2 db=$3 port=$4 c
    cat > "$WORK/$side-$engine.toml" <<TOML
[proxy]
listen = "127.0.0.1:$port"
${STATE_DIR[$side]:+state_dir = \"$WORK/state-$side-$engine\"}
${JOURNAL[$side]:+journal = \"${JOURNAL[$side]}\"}
[admin]
listen = "127.0.0.1:$((port + 1))"
[upstream]
region = "eu-west-1"
endpoint = "http://127.0.0.1:18190"
[database]
url = "$db"
master_key = "$MASTER"
TOML
    c="$WORK/gate-$side --config $WORK/$side-$engine.toml"
    $c migrate >/dev/null
    $c team create bench --daily-requests 1000000000 --monthly-budget-usd 1000000 >/dev/null
    $c user create bench "Bench User" bench --daily-requests 1000000000 --monthly-requests 1000000000 --daily-budget-usd 1000000 >/dev/null
    local key; key=$($c user create-key bench loadgen --output json)
    KEY[$side]=$(echo "$key" | sed -E 's/.*"access_key_id":"([^"]+)".*/\1/')
    SECRET[$side]=$(echo "$key" | sed -E 's/.*"secret_access_key":"([^"]+)".*/\1/')
    RUST_LOG=warn $c serve > "$WORK/$side-$engine.log" 2>&1 & PID[$side]=$!; PIDS+=($!)
    wait_port "$port"
}

# run SIDE ENGINE PORT ROUND GENERATOR
run() {
    local side=$1 engine=$2 port=$3 round=$4 gen=$5 before after out ok extra=()
    [ "$gen" = light ] && extra=(--presigned 256)
    before=$(cpu_ticks "${PID[$side]}")
    out=$("$WORK/loadgen" --url "http://127.0.0.1:$port" --concurrency "$CONCURRENCY" --duration "$DUR" --key "${KEY[$side]}" --secret "${SECRET[$side]}" "${extra[@]}")
    after=$(cpu_ticks "${PID[$side]}")
    ok=$(echo "$out" | sed -E 's/.*"ok":([0-9]+).*/\1/')
    echo "$out" | sed "s/^{/{\"side\":\"$side\",\"engine\":\"$engine\",\"round\":$round,\"cpu_s_per_1k\":$(awk -v a="$after" -v b="$before" -v t="$TICK" -v n="$ok" 'BEGIN{printf "%.4f", (a-b)/t/(n/1000)}'),/" | tee -a "$RESULTS"
}

# compare ENGINE URL_BEFORE URL_AFTER
compare() {
    local engine=$1
    start before "$engine" "$2" 18192
    start after "$engine" "$3" 18194
    for round in $(seq 1 "$ROUNDS"); do
        for gen in $GENERATORS; do
            if [ $((round % 2)) -eq 1 ]; then
                run before "$engine" 18192 "$round" "$gen"; run after "$engine" 18194 "$round" "$gen"
            else
                run after "$engine" 18194 "$round" "$gen"; run before "$engine" 18192 "$round" "$gen"
            fi
        done
    done
    kill "${PID[before]}" "${PID[after]}"; wait "${PID[before]}" "${PID[after]}" 2>/dev/null || true
}

[[ " $ENGINES " == *" sqlite "* ]] && compare sqlite "sqlite://$WORK/before.db?mode=rwc" "sqlite://$WORK/after.db?mode=rwc"
if [[ " $ENGINES " == *" mariadb "* ]] && mysqladmin --user=root --host=127.0.0.1 ping >/dev/null 2>&1; then
    mysql --user=root --host=127.0.0.1 -e "DROP DATABASE IF EXISTS bg_cmp_before; DROP DATABASE IF EXISTS bg_cmp_after; CREATE DATABASE bg_cmp_before; CREATE DATABASE bg_cmp_after"
    compare mariadb "mysql://root@127.0.0.1:3306/bg_cmp_before" "mysql://root@127.0.0.1:3306/bg_cmp_after"
    mysql --user=root --host=127.0.0.1 -e "DROP DATABASE bg_cmp_before; DROP DATABASE bg_cmp_after"
fi

echo
echo "results: $RESULTS (base $([ "$BASE" = - ] && echo "working tree, journal=${BEFORE_JOURNAL:-default}" || git rev-parse --short "$BASE"), journal=${AFTER_JOURNAL:-default}; concurrency $CONCURRENCY; after $(git rev-parse --short HEAD)$(git diff --quiet || echo '+dirty'))"
python3 - "$RESULTS" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
# "paired": the geometric mean of after/before over the rounds, each round's two runs
# taken back to back (the machine's drift between rounds cancels out of each ratio).
print("| engine | generator | before req/s (median; range) | after req/s (median; range) | after / before | paired after / before (geo. mean) | CPU s per 1k before / after |")
print("|---|---|---|---|---|---|---|")
for engine in dict.fromkeys(r["engine"] for r in rows):
    for gen in dict.fromkeys(r.get("generator", "signing") for r in rows):
        side = {s: [r for r in rows if r["engine"] == engine and r["side"] == s
                    and r.get("generator", "signing") == gen] for s in ("before", "after")}
        if not side["before"] or not side["after"]:
            continue
        med = {s: statistics.median(r["rps"] for r in side[s]) for s in side}
        rng = {s: f"{min(r['rps'] for r in side[s]):.0f}-{max(r['rps'] for r in side[s]):.0f}" for s in side}
        cpu = {s: statistics.median(r["cpu_s_per_1k"] for r in side[s]) for s in side}
        by_round = {s: {r["round"]: r["rps"] for r in side[s]} for s in side}
        pairs = [by_round["after"][n] / by_round["before"][n]
                 for n in by_round["before"] if n in by_round["after"] and by_round["before"][n] > 0]
        paired = f"{statistics.geometric_mean(pairs):.3f} ({len(pairs)} rounds)" if pairs else "-"
        print(f"| {engine} | {gen} | {med['before']:.0f} ({rng['before']}) | {med['after']:.0f} ({rng['after']}) | "
              f"{med['after'] / med['before']:.3f} | {paired} | {cpu['before']:.4f} / {cpu['after']:.4f} |")
PY
