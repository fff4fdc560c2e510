#!/usr/bin/env bash
# Compares two builds of sipauth-diag on the same capture, run after run:
#
#   scripts/ab.sh [-n RUNS] OLD_BINARY NEW_BINARY -- ARGS...
#   e.g. scripts/ab.sh -n 12 /tmp/old target/release/sipauth-diag -- --format json /tmp/200.pcap
#
# The two binaries alternate (old, new, old, new, ...) so that load from
# other work on a shared machine falls on both alike; each prints the
# quartiles of wall time, CPU time (user + sys), minor page faults and peak
# RSS over its runs. Differences smaller than the spread between the first
# and third quartiles are noise. It also checks that both write the same
# report (standard output of the first run of each, byte for byte), since a
# change made for speed must not change what is reported.
#
# Needs /usr/bin/time (Debian package 'time'). docs/performance.md, "Method".
set -euo pipefail

# shellcheck source=scripts/two-builds.sh
. "$(dirname "$0")/two-builds.sh"
two_builds ab.sh -n 10 "$@"
runs=$opt
if [ ! -x /usr/bin/time ]; then
    echo "ab.sh: /usr/bin/time is needed (Debian package 'time')" >&2
    exit 2
fi

# Same report from both?
"$old" "${args[@]}" >"$work/old.out" 2>/dev/null || true
"$new" "${args[@]}" >"$work/new.out" 2>/dev/null || true
same_reports "$work/old.out" "$work/new.out"

for _ in $(seq "$runs"); do
    for which in old new; do
        bin=$old
        [ "$which" = new ] && bin=$new
        /usr/bin/time -o "$work/t" -f "%e %U %S %R %M" "$bin" "${args[@]}" >/dev/null 2>&1 || true
        echo "$which $(tail -1 "$work/t")" >>"$work/runs"
    done
done

# Quartiles (q1 median q3) of one column for one binary.
quartiles() {
    awk -v w="$1" -v c="$2" '$1 == w { print $c }' "$work/runs" | sort -g |
        awk '{ v[NR] = $1 } END {
            printf "%s %s %s", v[int((NR - 1) * 0.25) + 1], v[int((NR - 1) * 0.5) + 1], v[int((NR - 1) * 0.75) + 1]
        }'
}
cpu_column() {
    awk '{ printf "%s %s %.3f %s %s\n", $1, $2, $3 + $4, $5, $6 }' "$work/runs" >"$work/cpu"
}
cpu_column
mv "$work/cpu" "$work/runs"

printf '%-4s %-26s %-26s %-26s %s\n' "" "wall s (q1 median q3)" "CPU s (q1 median q3)" "minor faults (q1 med q3)" "peak RSS MiB (q1 med q3)"
for which in old new; do
    wall=$(quartiles "$which" 2)
    cpu=$(quartiles "$which" 3)
    faults=$(quartiles "$which" 4)
    rss=$(quartiles "$which" 5 | awk '{ printf "%.1f %.1f %.1f", $1 / 1024, $2 / 1024, $3 / 1024 }')
    printf '%-4s %-26s %-26s %-26s %s\n' "$which" "$wall" "$cpu" "$faults" "$rss"
done
