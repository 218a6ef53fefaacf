#!/usr/bin/env bash
# The load-test matrix of docs/BENCHMARKS.md (issue 12): the row-locking
# baseline against one spawned node through its gateway and through the Go
# cluster client, memory lane and durable lane, the database local and
# 0.3 ms away each way, and first joins (cold activations) through both
# transports, RUNS runs each, interleaved (one run of every
# configuration, then the next round) so a noisy spell hits all of them.
# Every run's JSON report goes to OUT; the summary (every run, the median,
# the ratio of medians against the baseline) is printed at the end.
#
#   DB=postgres://postgres@127.0.0.1:5433/bench?sslmode=disable \
#   CONSUL=127.0.0.1:8501 scripts/bench-matrix.sh
#
# Needs a PostgreSQL (DB) with durable settings and a Consul agent
# (CONSUL) already running, python3 for the summary. Environment: RUNS (3),
# DURATION (15s), SERVERS (32), PLAYERS (2000), LATENCIES ("0 300us"),
# LANES ("memory durable cold"), TARGETS ("sql-lock gateway cluster"),
# NODES (1: node processes spawned for gateway and cluster), RATE (0: as
# fast as they go; else total operations per second), OUT.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

: "${DB:?set DB to the database URL}"
: "${CONSUL:?set CONSUL to the HTTP address of a Consul agent}"
RUNS=${RUNS:-3}
DURATION=${DURATION:-15s}
SERVERS=${SERVERS:-32}
PLAYERS=${PLAYERS:-2000}
LATENCIES=${LATENCIES:-0 300us}
LANES=${LANES:-memory durable cold}
TARGETS=${TARGETS:-sql-lock gateway cluster}
NODES=${NODES:-1}
RATE=${RATE:-0}
OUT=${OUT:-$(mktemp -d /tmp/hearth-bench.XXXXXX)}
mkdir -p "$OUT"

bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/node" ./cmd/node
go build -o "$bin/loadtest" ./cmd/loadtest

only="-purchase-share 0 -gift-share 0 -hop-share 0 -leave-share 0"
for run in $(seq 1 "$RUNS"); do
	for lat in $LATENCIES; do
		for lane in $LANES; do
			players=$PLAYERS servers=$SERVERS
			case $lane in
			memory) share=0 ;;
			durable) share=1 ;;
			# First joins: ten times the players, twice the callers, so the
			# run is mostly cold activations (read cold activations/s).
			cold) share=0 players=$((PLAYERS * 10)) servers=$((SERVERS * 2)) ;;
			esac
			for target in $TARGETS; do
				if [[ $lane == cold && $target == sql-lock ]]; then
					continue # a stateless service has no activation
				fi
				case $target in
				sql-lock) how=(-baseline sql-lock) ;;
				gateway) how=(-spawn "$NODES" -node-bin "$bin/node" -consul "$CONSUL") ;;
				cluster) how=(-spawn "$NODES" -transport cluster -node-bin "$bin/node" -consul "$CONSUL") ;;
				esac
				name="$target.$lane.lat$lat.run$run"
				echo "==> $name" >&2
				"$bin/loadtest" "${how[@]}" -db "$DB" -db-latency "$lat" -duration "$DURATION" \
					-servers "$servers" -players "$players" -durable-share "$share" -rate "$RATE" $only \
					-report "$OUT/$name.json" >"$OUT/$name.txt" 2>&1 || {
					echo "run $name failed; see $OUT/$name.txt" >&2
					exit 1
				}
			done
		done
	done
done

python3 - "$OUT" <<'PY'
import glob, json, os, statistics, sys
out = sys.argv[1]
rows = {}
for f in sorted(glob.glob(os.path.join(out, "*.json"))):
    target, lane, lat, run = os.path.basename(f)[:-5].split(".", 3)
    r = json.load(open(f))
    v = r.get("verify") or {}
    bad = sum(v.get(k, 0) for k in ("lost_durable", "duplicate_applies", "stale_reads")) + \
        (0 if v.get("lost_memory_allowed", True) else v.get("lost_memory", 0))
    cpu = r.get("cpu") or {}
    rows.setdefault((lat, lane, target), []).append(dict(
        ops=r["ops_per_sec"], p50=r["latency_ms"]["p50"], p99=r["latency_ms"]["p99"],
        cold=r.get("cold_activations_per_sec") if target != "sql-lock" else None, node=cpu.get("node_us_per_op"),
        db=cpu.get("database_us_per_op"), bad=bad))
med = lambda xs: statistics.median(xs) if xs else float("nan")
print("| database | lane | target | ops/s (runs) | median | p50 / p99 ms | node µs/op | database µs/op | cold activations/s | vs sql-lock | violations |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for (lat, lane, target), rs in sorted(rows.items(), key=lambda kv: (kv[0][0], kv[0][1], ["sql-lock", "gateway", "cluster"].index(kv[0][2]))):
    m = med([r["ops"] for r in rs])
    base = rows.get((lat, lane, "sql-lock"))
    ratio = f"{m / med([r['ops'] for r in base]):.2f}x" if base and target != "sql-lock" else ""
    node = [r["node"] for r in rs if r["node"]]
    dbs = [r["db"] for r in rs if r["db"]]
    where = "local" if lat == "lat0" else lat.removeprefix("lat") + " each way"
    runs = " / ".join(format(r["ops"], ",.0f") for r in rs)
    print(f"| {where} | {lane} | {target} | {runs} | **{m:,.0f}** | "
          f"{med([r['p50'] for r in rs]):.1f} / {med([r['p99'] for r in rs]):.1f} | "
          f"{med(node):.0f} | {med(dbs):.0f} | {med([r['cold'] for r in rs if r['cold']]):,.0f} | {ratio} | {sum(r['bad'] for r in rs)} |"
          .replace("| nan |", "| |"))
PY
echo "reports: $OUT" >&2
