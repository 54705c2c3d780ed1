#!/usr/bin/env bash
# bench/unpack.sh: how long the worker takes to extract a deploy archive
# (worker/src/unpack.c) and to remove the build folder again, beside GNU
# `tar -xzf` of the same archive: a small function (10 files, 50 KiB), a
# 20 MiB archive of incompressible data and 20 MiB of text (bench/unpack_bench.c
# says how).  Needs no database: run by bench/run.sh like the others, or
# alone.  Knobs: BENCH_UNPACK_ROUNDS (21 for the small archive, 5 for the
# big ones), TMPDIR (where the folders are made, /tmp).
set -euo pipefail

BENCH=$(cd "$(dirname "$0")" && pwd -P)
make -s -C "$BENCH" unpack_bench
"$BENCH/unpack_bench"
