#!/usr/bin/env bash
# The load benchmark: the fake upstream directly, nginx as a plain reverse proxy (when
# installed), and bedrock-gate with SigV4 and quotas on, on SQLite and on MariaDB (when
# reachable), all driven by the same SigV4-signing load generator in one run.
#
#   benches/load/run.sh [SECONDS_PER_RUN]      (default 10)
#   PRESIGNED=2000 benches/load/run.sh ...    (the light generator: 2,000 requests
#                                              signed once and replayed, as wrk with a
#                                              script; every target alike)
#
# Prints one JSON line per measurement and a Markdown summary at the end; everything
# runs on 127.0.0.1 and stops by itself.
set -euo pipefail
cd "$(dirname "$0")/../.."
DUR=${1:-10}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/bedrock-gate-target}
cargo build --release --quiet --bin bedrock-gate --example bench-upstream --example bench-loadgen --example bench-seed --example bench-floor
R=$CARGO_TARGET_DIR/release
GATE=$R/bedrock-gate; UP=$R/examples/bench-upstream; LG=$R/examples/bench-loadgen; SEED=$R/examples/bench-seed
FLOOR=$R/examples/bench-floor
WORK=$(mktemp -d)
ulimit -n 65536 2>/dev/null || true
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true; }
trap cleanup EXIT
MASTER=$(head -c 32 /dev/urandom | base64)
export AWS_ACCESS_KEY_ID=AKIABENCHUPSTREAM000 AWS_SECRET_ACCESS_KEY=benchUpstreamSecret AWS_EC2_METADATA_DISABLED=true
RESULTS=$WORK/results.jsonl

# CPU ticks (user + system) of every process given.
cpu_ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo "$t"; }
hwm_kb() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
wait_port() { for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 did not open" >&2; return 1; }
TICK=$(getconf CLK_TCK)

# measure NAME "PID..." URL [loadgen auth args...]   (CPU is summed over the PIDs)
measure() {
    local name=$1 pids=$2 url=$3; shift 3
    local before after out ok round
    # The light generator replays requests it signed once (`--presigned N`).
    [ -n "${PRESIGNED:-}" ] && set -- "$@" --presigned "$PRESIGNED"
    # Saturation three times (this machine's neighbours make single runs vary by
    # +-15 %); the summary reports the median run.
    for round in 1 2 3; do
        before=$(cpu_ticks $pids)
        out=$("$LG" --url "$url" --concurrency 64 --duration "$DUR" "$@")
        after=$(cpu_ticks $pids)
        ok=$(echo "$out" | sed -E 's/.*"ok":([0-9]+).*/\1/')
        echo "$out" | sed "s/^{/{\"target\":\"$name\",\"round\":$round,\"cpu_s_per_1k\":$(awk -v a="$after" -v b="$before" -v t="$TICK" -v n="$ok" 'BEGIN{printf "%.4f", (a-b)/t/(n/1000)}'),/" | tee -a "$RESULTS"
    done
    for rate in 500 1000 2000; do
        "$LG" --url "$url" --concurrency 256 --duration "$DUR" --rate "$rate" "$@" | sed "s/^{/{\"target\":\"$name\",/" | tee -a "$RESULTS"
    done
    echo "{\"target\":\"$name\",\"peak_rss_kb\":$(hwm_kb "${pids%% *}")}" | tee -a "$RESULTS"
}

"$UP" 127.0.0.1:18090 1000 > "$WORK/upstream.log" & PIDS+=($!); UP_PID=$!
wait_port 18090
measure direct "$UP_PID" http://127.0.0.1:18090 --key AKIABENCHDIRECT00000 --secret x

if command -v nginx >/dev/null; then
    cat > "$WORK/nginx.conf" <<NGINX
worker_processes auto;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    upstream bedrock { server 127.0.0.1:18090; keepalive 128; }
    server {
        listen 127.0.0.1:18091;
        client_max_body_size 25m;
        location / {
            proxy_pass http://bedrock;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }
    }
}
NGINX
    nginx -c "$WORK/nginx.conf" -p "$WORK"
    wait_port 18091
    NGINX_MASTER=$(cat "$WORK/nginx.pid")
    # nginx's work happens in its workers (one per core): CPU is summed over all of them.
    NGINX_WORKERS=$(pgrep -P "$NGINX_MASTER" | tr '\n' ' ')
    measure nginx "$NGINX_WORKERS" http://127.0.0.1:18091 --key AKIABENCHDIRECT00000 --secret x
fi

# The HTTP floor: a bare hyper proxy with bedrock-gate's thread model and no work of its own.
"$FLOOR" 127.0.0.1:18098 http://127.0.0.1:18090 > "$WORK/floor.log" & FLOOR_PID=$!; PIDS+=($FLOOR_PID)
wait_port 18098
measure hyper-floor "$FLOOR_PID" http://127.0.0.1:18098 --key AKIABENCHDIRECT00000 --secret x
kill "$FLOOR_PID"; wait "$FLOOR_PID" 2>/dev/null || true

# start_gate NAME DB_URL PORT -> sets GATE_PID, KEY_ID, SECRET
start_gate() {
    local name=$1 db=$2 port=$3
    cat > "$WORK/$name.toml" <<TOML
[proxy]
listen = "127.0.0.1:$port"
[admin]
listen = "127.0.0.1:$((port + 1))"
[upstream]
region = "eu-west-1"
endpoint = "http://127.0.0.1:18090"
[database]
url = "$db"
master_key = "$MASTER"
TOML
    local c="$GATE --config $WORK/$name.toml"
    $c migrate >/dev/null
    $c team create bench --daily-requests 1000000000 --monthly-budget-usd 1000000 >/dev/null
    $c user create bench "Bench User" bench --daily-requests 1000000000 --monthly-requests 1000000000 --daily-budget-usd 1000000 >/dev/null
    local key; key=$($c user create-key bench loadgen --output json)
    KEY_ID=$(echo "$key" | sed -E 's/.*"access_key_id":"([^"]+)".*/\1/')
    SECRET=$(echo "$key" | sed -E 's/.*"secret_access_key":"([^"]+)".*/\1/')
    RUST_LOG=warn $c serve > "$WORK/$name.log" 2>&1 & GATE_PID=$!; PIDS+=($GATE_PID)
    wait_port "$port"
}

start_gate gate-sqlite "sqlite://$WORK/gate.db?mode=rwc" 18092
measure bedrock-gate-sqlite "$GATE_PID" http://127.0.0.1:18092 --key "$KEY_ID" --secret "$SECRET"
# 1,000 concurrent open streams through the proxy.
"$LG" --url http://127.0.0.1:18092 --key "$KEY_ID" --secret "$SECRET" --hold --concurrency 1000 --duration 8 \
    --path '/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream?mode=hold' > "$WORK/hold.json" & HOLD=$!
sleep 6
echo "{\"target\":\"bedrock-gate-sqlite\",\"rss_kb_1000_streams\":$(rss_kb "$GATE_PID"),\"peak_rss_kb\":$(hwm_kb "$GATE_PID")}" | tee -a "$RESULTS"
wait $HOLD; sed "s/^{/{\"target\":\"bedrock-gate-sqlite\",/" "$WORK/hold.json" | tee -a "$RESULTS"
kill "$GATE_PID"; wait "$GATE_PID" 2>/dev/null || true

if mysqladmin --user=root --host=127.0.0.1 ping >/dev/null 2>&1; then
    mysql --user=root --host=127.0.0.1 -e "DROP DATABASE IF EXISTS bg_bench; CREATE DATABASE bg_bench"
    start_gate gate-mysql "mysql://root@127.0.0.1:3306/bg_bench" 18094
    measure bedrock-gate-mariadb "$GATE_PID" http://127.0.0.1:18094 --key "$KEY_ID" --secret "$SECRET"
    kill "$GATE_PID"; wait "$GATE_PID" 2>/dev/null || true
    mysql --user=root --host=127.0.0.1 -e "DROP DATABASE bg_bench"
fi

# Idle memory with 100,000 users and keys loaded.
cat > "$WORK/keys.toml" <<TOML
[proxy]
listen = "127.0.0.1:18096"
[admin]
listen = "127.0.0.1:18097"
[upstream]
endpoint = "http://127.0.0.1:18090"
[database]
url = "sqlite://$WORK/keys.db?mode=rwc"
master_key = "$MASTER"
TOML
"$GATE" --config "$WORK/keys.toml" migrate >/dev/null
"$SEED" "$WORK/keys.toml" 100000 >/dev/null
RUST_LOG=warn "$GATE" --config "$WORK/keys.toml" serve > "$WORK/keys.log" 2>&1 & KP=$!; PIDS+=($KP)
wait_port 18096; sleep 3
echo "{\"target\":\"bedrock-gate-100k-keys\",\"idle_rss_kb\":$(rss_kb "$KP"),\"peak_rss_kb\":$(hwm_kb "$KP")}" | tee -a "$RESULTS"
kill "$KP"

echo
echo "results: $RESULTS"
python3 - "$RESULTS" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def get(t, mode):
    found = [r for r in rows if r.get("target") == t and r.get("mode") == mode]
    if not found:
        return None
    # Repeated runs (saturation): the median by throughput, with the spread.
    found.sort(key=lambda r: r["rps"])
    median = dict(found[len(found) // 2])
    median["spread"] = f"{found[0]['rps']:.0f}-{found[-1]['rps']:.0f}"
    return median
targets = []
for r in rows:
    if r["target"] not in targets and "mode" in r and r["mode"] == "closed": targets.append(r["target"])
print("| target | rps at saturation (median of 3; range) | × nginx | CPU s / 1k req | p50/p99/p99.9 µs @500 | @1000 | @2000 | added p50/p99 µs @1000 | peak RSS MB |")
print("|---|---|---|---|---|---|---|---|---|")
direct = get("direct", "rate 1000")
nginx = get("nginx", "closed")
for t in targets:
    c = get(t, "closed")
    cells = []
    for rate in (500, 1000, 2000):
        m = get(t, f"rate {rate}")
        cells.append(f"{m['p50_us']}/{m['p99_us']}/{m['p999_us']}" if m else "-")
    rss = max((r.get("peak_rss_kb", 0) for r in rows if r["target"] == t), default=0)
    ratio = f"{c['rps'] / nginx['rps']:.2f}" if nginx else "-"
    m = get(t, "rate 1000")
    added = f"{m['p50_us'] - direct['p50_us']:+}/{m['p99_us'] - direct['p99_us']:+}" if (m and direct) else "-"
    print(f"| {t} | {c['rps']:.0f} ({c['spread']}) | {ratio} | {c['cpu_s_per_1k']} | {cells[0]} | {cells[1]} | {cells[2]} | {added} | {rss/1024:.1f} |")
for r in rows:
    if "rss_kb_1000_streams" in r: print(f"\n{r['target']}: RSS with 1,000 open streams {r['rss_kb_1000_streams']/1024:.1f} MB")
    if "open_streams" in r: print(f"{r['target']}: streams held open {r['open_streams']}")
    if "idle_rss_kb" in r: print(f"{r['target']}: idle RSS {r['idle_rss_kb']/1024:.1f} MB (peak {r['peak_rss_kb']/1024:.1f} MB)")
PY
