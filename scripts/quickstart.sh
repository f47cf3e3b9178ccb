#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# quickstart.sh — build perfshim and show a leak report: `perfshim run -- ./build/bin/leaky`.
# Everything stays in the source tree's build/ directory; no installation.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD_DIR:-$ROOT/build}

cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j "$(nproc 2>/dev/null || echo 2)" >/dev/null

cd "$BUILD"
echo "\$ ./bin/perfshim run -- ./bin/leaky"
# The report goes to stderr; leaky exits 0, so does perfshim run.
./bin/perfshim run -- ./bin/leaky
echo
echo "Next: ./bin/perfshim run --json -- ./bin/leaky_cxx    (see examples/README.md)"
