# Shared by scripts/ab.sh and scripts/cachesim.sh (sourced, not run):
# the command line "[FLAG VALUE] OLD_BINARY NEW_BINARY -- ARGS...", a
# work directory removed on exit, and the check that both builds write
# the same report.

# two_builds NAME FLAG DEFAULT "$@": sets opt (FLAG's value, or DEFAULT),
# old, new, args (the ARGS after "--") and work; exits 2 on bad usage.
two_builds() {
    local name=$1 flag=$2 usage
    opt=$3
    usage="usage: scripts/$name [$flag VALUE] OLD_BINARY NEW_BINARY -- ARGS..."
    shift 3
    if [ "${1:-}" = "$flag" ]; then
        if [ $# -lt 2 ]; then
            echo "$usage" >&2
            exit 2
        fi
        opt=$2
        shift 2
    fi
    if [ $# -lt 4 ] || [ "$3" != "--" ]; then
        echo "$usage" >&2
        exit 2
    fi
    old=$1
    new=$2
    shift 3
    args=("$@")
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
}

# same_reports OLD_OUT NEW_OUT: says whether the two reports are equal.
same_reports() {
    if cmp -s "$1" "$2"; then
        echo "reports: the same ($(wc -c <"$2") bytes)"
    else
        echo "reports: DIFFERENT"
    fi
}
