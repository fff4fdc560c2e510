#!/usr/bin/env bash
# Compares two builds of sipauth-diag by what a run costs in instructions
# and in simulated cache misses, which do not move with the load of a
# shared machine:
#
#   scripts/cachesim.sh [-l LL_BYTES] OLD_BINARY NEW_BINARY -- ARGS...
#   e.g. scripts/cachesim.sh /tmp/old target/release/sipauth-diag -- --threads 1 --format json /tmp/20.pcap
#
# Both run under valgrind's callgrind with its cache simulation (at the
# same time: the counts do not depend on it). It prints, for each, the
# instructions, the first-level data cache misses (reads, writes) and the
# last-level misses (reads, writes), and the new build's difference in
# percent. The last level is simulated as LL_BYTES (default 1 MiB, 16
# ways, 64-byte lines: about one core's L2 on the machine of
# docs/performance.md), so "last-level misses" are the accesses that leave
# a core's private caches. It also checks that both write the same report
# (byte for byte).
#
# What it cannot see: the kernel's copies (read(), page faults), and the
# traffic between two cores: the simulation is one cache for all threads,
# so run with --threads 1 and read its numbers as the work of both
# threads. The same build twice differs by under 0.1 % (where its memory
# lands changes which cache sets it uses). Both builds together take about
# 10 s on a 20 MB capture and 80 s on 200 MB; the 20 MB numbers are
# mostly the capture's first minutes, before the state reaches its size,
# and can mislead.
#
# Needs valgrind (Debian package 'valgrind'). docs/performance.md,
# "Method".
set -euo pipefail

# shellcheck source=scripts/two-builds.sh
. "$(dirname "$0")/two-builds.sh"
two_builds cachesim.sh -l 1048576 "$@"
ll=$opt
if ! command -v valgrind >/dev/null || ! command -v callgrind_annotate >/dev/null; then
    echo "cachesim.sh: valgrind is needed (Debian package 'valgrind')" >&2
    exit 2
fi

for which in old new; do
    bin=$old
    [ "$which" = new ] && bin=$new
    valgrind --tool=callgrind --cache-sim=yes --LL="$ll,16,64" \
        --callgrind-out-file="$work/$which.cg" "$bin" "${args[@]}" \
        >"$work/$which.out" 2>"$work/$which.err" &
done
wait

same_reports "$work/old.out" "$work/new.out"

# The program totals: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw.
totals() {
    callgrind_annotate "$1" 2>/dev/null | awk '/PROGRAM TOTALS/ {
        n = 0
        for (i = 1; i <= NF; i++) if ($i ~ /^[0-9,]+$/) { gsub(",", "", $i); v[++n] = $i }
        print v[1], v[5], v[6], v[8], v[9]
    }'
}
read -r o_ir o_d1r o_d1w o_llr o_llw <<<"$(totals "$work/old.cg")"
read -r n_ir n_d1r n_d1w n_llr n_llw <<<"$(totals "$work/new.cg")"

printf '%-6s %16s %14s %14s %14s %14s\n' "" instructions "D1 miss read" "D1 miss write" "LL miss read" "LL miss write"
printf '%-6s %16s %14s %14s %14s %14s\n' old "$o_ir" "$o_d1r" "$o_d1w" "$o_llr" "$o_llw"
printf '%-6s %16s %14s %14s %14s %14s\n' new "$n_ir" "$n_d1r" "$n_d1w" "$n_llr" "$n_llw"
pct() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == 0) print "-"; else printf "%+.2f%%", 100 * (b - a) / a }'; }
printf '%-6s %16s %14s %14s %14s %14s\n' change "$(pct "$o_ir" "$n_ir")" "$(pct "$o_d1r" "$n_d1r")" \
    "$(pct "$o_d1w" "$n_d1w")" "$(pct "$o_llr" "$n_llr")" "$(pct "$o_llw" "$n_llw")"
