# What the CLI test scripts share; sourced, never run by itself (CTest runs
# tests/cli/test_*.sh only). It needs GG_BIN and GG_SOURCE_DIR, makes a
# scratch directory $work that is removed at exit, and defines
#   check NAME CMD...  run CMD; count it passed or failed, and show its
#                      output when it failed;
#   py CODE            Debian's python with tests/parity on the path.
set -u
: "${GG_BIN:?GG_BIN must point to the gradguard binary}"
: "${GG_SOURCE_DIR:?}"
work=$(mktemp -d /tmp/gg-cli-XXXXXX)
trap 'rm -rf "$work"' EXIT
passed=0 failed=0
check() { # NAME, then a command that must succeed
    local name=$1; shift
    if "$@" >"$work/check.out" 2>&1; then
        passed=$((passed + 1)); echo "ok   $name"
    else
        failed=$((failed + 1)); echo "FAIL $name"; sed 's/^/     /' "$work/check.out"
    fi
}
py() { PYTHONPATH="$GG_SOURCE_DIR/tests/parity" /usr/bin/python3 -c "$@"; }
