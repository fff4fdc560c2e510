#!/bin/sh
# Fills fuzz/corpus/<target>/ with seeds: the small messages committed under
# fuzz/seeds/, and the captures of testdata/ and ../shared (copied at run
# time only; public captures are never committed). Run from the crate root.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
shared="$root/../shared"
corpus="$root/fuzz/corpus"
for t in pcap_reader sip_message digest_params pipeline; do
    mkdir -p "$corpus/$t"
    [ -d "$root/fuzz/seeds/$t" ] && cp "$root/fuzz/seeds/$t"/* "$corpus/$t/"
done
for f in "$root"/testdata/*.pcap* "$root"/testdata/regressions/* \
         "$shared"/captures/*.pcap* "$shared"/public/*.pcap* \
         "$shared"/captures/*.txt; do
    [ -f "$f" ] || continue
    # Large captures slow every execution; the first 64 KiB cover the headers.
    head -c 65536 "$f" > "$corpus/pipeline/$(basename "$f")"
    case "$f" in
        *.txt) ;;
        *) head -c 65536 "$f" > "$corpus/pcap_reader/$(basename "$f")" ;;
    esac
done
# SIP messages and auth headers pulled out of the captures.
if command -v tshark >/dev/null 2>&1; then
    n=0
    for f in "$shared"/captures/*.pcap* "$shared"/public/*.pcap*; do
        [ -f "$f" ] || continue
        tshark -r "$f" -Y 'sip' -T fields -e sip.WWW-Authenticate -e sip.Proxy-Authenticate \
            -e sip.Authorization -e sip.Proxy-Authorization 2>/dev/null |
            tr '\t' '\n' | grep -v '^$' | sort -u | head -n 40 |
            while IFS= read -r line; do
                n=$((n + 1))
                printf '%s' "$line" > "$corpus/digest_params/$(basename "$f").$n"
            done
    done
    # Whole SIP datagrams, for the message parser.
    for f in "$shared"/captures/*.pcap*; do
        [ -f "$f" ] || continue
        tshark -r "$f" -Y 'sip && udp' -T fields -e udp.payload 2>/dev/null | head -n 30 |
            while IFS= read -r hex; do
                printf '%s' "$hex" | xxd -r -p > "$corpus/sip_message/$(basename "$f").$(printf '%s' "$hex" | md5sum | cut -c1-8)"
            done
    done
fi
echo "corpus ready under $corpus"
