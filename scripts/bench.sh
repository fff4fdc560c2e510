#!/usr/bin/env bash
# Reproduces the numbers of docs/performance.md with one command:
#
#   scripts/bench.sh                 # 200 MB stages + whole runs, RSS at 20/200 MB
#   SIZES="20 200 2000" scripts/bench.sh   # memory versus input size up to 2 GB
#
# Generates SIP-dense captures (examples/gen-capture, no RTP, a fixed number
# of accounts so the message rate per second of capture time is the same at
# every size), times each pipeline stage in-process (benches/stages.rs), then
# whole runs of the CLI with peak RSS from /usr/bin/time. Throughput is given
# per CPU second (user+sys: what one core does, independent of other load on
# the machine) and per wall second.
#
# Environment: SIZE_MB (stage bench, default 200), SIZES (whole runs, default
# "20 200"), ACCOUNTS (default 12000), BENCH_DIR (default /tmp/sipauth-bench),
# KEEP=1 keeps the generated captures, RUNS (stage repetitions, default 3),
# FORMATS (whole-run formats, default "jsonl json text markdown html": all
# five stream when no filter or --redact is given).
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE_MB=${SIZE_MB:-200}
SIZES=${SIZES:-"20 200"}
ACCOUNTS=${ACCOUNTS:-12000}
DIR=${BENCH_DIR:-/tmp/sipauth-bench}
RUNS=${RUNS:-3}
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1}

if [ ! -x /usr/bin/time ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq && apt-get install -y -qq time >/dev/null
    else
        echo "bench.sh: /usr/bin/time is needed for peak RSS (Debian package 'time')" >&2
        exit 2
    fi
fi

cargo build --release --quiet --bin sipauth-diag --example gen-capture
BIN=target/release/sipauth-diag
GEN=target/release/examples/gen-capture
mkdir -p "$DIR"
TIMES=$(mktemp)
trap 'rm -f "$TIMES"' EXIT

capture() { # size in MB -> path
    local f="$DIR/sip-dense-$1mb.pcap"
    if [ ! -s "$f" ]; then
        "$GEN" --out "$f" --truth "$DIR/sip-dense-$1mb.truth.json" --size-mb "$1" \
            --accounts "$ACCOUNTS" --rtp-per-call 0 --seed 1 >&2
    fi
    echo "$f"
}

echo "== machine"
echo "$(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(free -g | awk '/^Mem:/{print $2}') GB RAM"
echo "$(rustc --version)"
echo

echo "== stages, ${SIZE_MB} MB, in-process, CPU seconds of all threads"
f=$(capture "$SIZE_MB")
cargo bench --quiet --bench stages -- "$f" --runs "$RUNS" 2>/dev/null | grep -v '^$'
echo

echo "== whole runs (CLI, every rule)"
printf "%-8s %-8s %9s %9s %11s %11s %13s %10s\n" size format wall_s cpu_s MB/s_cpu MB/s_wall msgs/s_cpu peak_RSS
for mb in $SIZES; do
    f=$(capture "$mb")
    bytes=$(stat -L -c %s "$f")
    msgs=$(sed -n 's/.*"sip_messages": \([0-9]*\).*/\1/p' "$DIR/sip-dense-${mb}mb.truth.json")
    for fmt in ${FORMATS:-jsonl json text markdown html}; do
        /usr/bin/time -o "$TIMES" -f "%e %U %S %M" "$BIN" --format "$fmt" --fail-on never "$f" >/dev/null
        read -r wall user sys rss < <(tail -1 "$TIMES")
        awk -v mb="$mb" -v fmt="$fmt" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" -v b="$bytes" -v m="$msgs" 'BEGIN {
            c = u + s; if (c <= 0) c = 0.001; if (w <= 0) w = 0.001;
            printf "%-8s %-8s %9.2f %9.2f %11.0f %11.0f %13.0f %7.1f MB\n", mb "MB", fmt, w, c, b/1e6/c, b/1e6/w, m/c, r/1024 }'
    done
done

if [ "${KEEP:-0}" != 1 ]; then
    rm -f "$DIR"/sip-dense-*mb.pcap "$DIR"/sip-dense-*mb.truth.json "$DIR"/sip-dense-*mb.truth.credentials
    rmdir "$DIR" 2>/dev/null || true
fi
