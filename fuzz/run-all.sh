#!/bin/sh
# Runs every fuzz target for SECS seconds (default 600), one after another,
# one job each, with the project's limits: 5 s per input, 1 GB RSS (the
# pipeline corpus of capture heads alone takes about 550 MB),
# 128 MB per allocation. Crashes are kept in fuzz/artifacts/<target>/ and
# fuzzing goes on (fork mode), so one run finds several. Logs go to LOGDIR.
# Usage: fuzz/run-all.sh [SECS] [TARGET...]   (from the crate root)
set -u
secs=${1:-600}
[ $# -gt 0 ] && shift
targets=${*:-pcap_reader sip_message digest_params pipeline}
logdir=${LOGDIR:-fuzz/logs}
mkdir -p "$logdir"
sh fuzz/seed-corpus.sh
# Optimised, with overflow checks and debug assertions (-a) unless
# FUZZ_BUILD_FLAGS says otherwise.
cargo +nightly fuzz build ${FUZZ_BUILD_FLAGS:--O -a} || exit 1
bin=fuzz/target/x86_64-unknown-linux-gnu/release
for t in $targets; do
    mkdir -p "fuzz/artifacts/$t"
    echo "== $t $(date -u +%FT%TZ)"
    "$bin/$t" -artifact_prefix="fuzz/artifacts/$t/" \
        -max_total_time="$secs" -timeout=5 -rss_limit_mb=1024 -malloc_limit_mb=128 \
        -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
        -print_final_stats=1 "fuzz/corpus/$t" > "$logdir/$t.log" 2>&1
    echo "== $t done rc=$? $(date -u +%FT%TZ)"
    grep -E '^#[0-9]+: ' "$logdir/$t.log" | tail -1
    ls "fuzz/artifacts/$t"
done
