#!/bin/sh
# gradguard under valgrind's memcheck, for the CLI test scripts (GG_BIN):
# a memory error or a leak turns the exit status into 99, which no test
# expects. GG_VALGRIND_BIN names the gradguard binary (built without
# -march=native: valgrind does not emulate AVX-512).
exec valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
    "${GG_VALGRIND_BIN:?GG_VALGRIND_BIN must name the gradguard binary}" "$@"
