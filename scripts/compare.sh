#!/usr/bin/env bash
# sipauth-diag against tshark (and sngrep, when installed) on the same file:
#
#   scripts/compare.sh FILE.pcap
#   scripts/compare.sh            # generates a 200 MB SIP-dense capture first
#
# tshark runs `-q -z sip,stat` (SIP dissection and statistics, no output per
# packet), sipauth-diag the full diagnosis (`--format json`, every rule) and
# the streaming one (`--format jsonl`). Printed: wall and CPU seconds, peak
# RSS, and how many times faster sipauth-diag is (CPU time ratio first: it
# does not depend on other load on the machine).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1}
cargo build --release --quiet --bin sipauth-diag --example gen-capture
BIN=target/release/sipauth-diag

FILE=${1:-}
if [ -z "$FILE" ]; then
    FILE=/tmp/sipauth-compare-200mb.pcap
    [ -s "$FILE" ] || target/release/examples/gen-capture --out "$FILE" \
        --truth /tmp/sipauth-compare-200mb.truth.json --size-mb 200 --accounts 12000 \
        --rtp-per-call 0 --seed 1 >&2
fi
command -v tshark >/dev/null || { echo "compare.sh: tshark is not installed" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "compare.sh: /usr/bin/time is needed (Debian package 'time')" >&2; exit 2; }

TIMES=$(mktemp)
trap 'rm -f "$TIMES"' EXIT
measure() { # label, command... -> "label wall cpu rss_kb"
    local label=$1; shift
    /usr/bin/time -o "$TIMES" -f "%e %U %S %M" "$@" >/dev/null 2>&1 || true
    read -r wall user sys rss < <(tail -1 "$TIMES")
    echo "$label $wall $(awk -v u="$user" -v s="$sys" 'BEGIN{printf "%.2f", u+s}') $rss"
}

bytes=$(stat -L -c %s "$FILE")
echo "file: $FILE ($(awk -v b="$bytes" 'BEGIN{printf "%.1f", b/1e6}') MB)"
rows=()
rows+=("$(measure tshark-sip-stat tshark -q -z sip,stat -r "$FILE")")
if command -v sngrep >/dev/null; then
    rows+=("$(measure sngrep sngrep -N -q -I "$FILE")")
else
    echo "(sngrep not installed: skipped)"
fi
rows+=("$(measure sipauth-json "$BIN" --format json --fail-on never "$FILE")")
rows+=("$(measure sipauth-jsonl "$BIN" --format jsonl --fail-on never "$FILE")")
rows+=("$(measure sipauth-text "$BIN" --fail-on never "$FILE")")

printf "%-18s %8s %8s %10s %10s\n" tool wall_s cpu_s MB/s_cpu peak_RSS
for r in "${rows[@]}"; do
    read -r label wall cpu rss <<<"$r"
    awk -v l="$label" -v w="$wall" -v c="$cpu" -v r="$rss" -v b="$bytes" 'BEGIN {
        cc = (c > 0) ? c : 0.001; printf "%-18s %8.2f %8.2f %10.0f %7.1f MB\n", l, w, c, b/1e6/cc, r/1024 }'
done
read -r _ tw tc _ <<<"${rows[0]}"
for r in "${rows[@]}"; do
    read -r label wall cpu _ <<<"$r"
    case $label in sipauth-*)
        awk -v l="$label" -v tw="$tw" -v tc="$tc" -v w="$wall" -v c="$cpu" 'BEGIN {
            if (c <= 0) c = 0.01; if (w <= 0) w = 0.01;
            printf "%s is %.1fx faster than tshark -z sip,stat by CPU time, %.1fx by wall time\n", l, tc/c, tw/w }'
    esac
done
