#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test.sh — build and test perfshim the way CI does:
#   1. build/     RelWithDebInfo, -DPERFSHIM_WERROR=ON; ctest (unit, integration, real)
#   2. build-san/ -DPERFSHIM_SANITIZE=ON (ASan+UBSan analyzer and unit tests); ctest -L unit
# Usage: scripts/test.sh [extra ctest arguments for step 1, e.g. -L integration]
# Environment: JOBS (default: nproc), BUILD_DIR, SAN_BUILD_DIR.
# Exits non-zero if any step fails; the last line says which.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
BUILD=${BUILD_DIR:-$ROOT/build}
SAN=${SAN_BUILD_DIR:-$ROOT/build-san}
failed=()

step() { # name, command...
    local name=$1
    shift
    echo "==== test.sh: $name"
    if ! "$@"; then
        echo "==== test.sh: FAILED: $name"
        failed+=("$name")
        return 1
    fi
}

if step "configure ($BUILD)" cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DPERFSHIM_WERROR=ON &&
    step "build ($BUILD)" cmake --build "$BUILD" -j "$JOBS"; then
    step "ctest ($BUILD)" ctest --test-dir "$BUILD" --output-on-failure -j "$JOBS" "$@"
fi

if step "configure sanitizers ($SAN)" cmake -S "$ROOT" -B "$SAN" -DCMAKE_BUILD_TYPE=Debug \
        -DPERFSHIM_WERROR=ON -DPERFSHIM_SANITIZE=ON &&
    step "build sanitizers ($SAN)" cmake --build "$SAN" -j "$JOBS"; then
    step "ctest -L unit ($SAN)" ctest --test-dir "$SAN" --output-on-failure -j "$JOBS" -L unit \
        --no-tests=error
fi

if [ ${#failed[@]} -eq 0 ]; then
    echo "test.sh: ALL PASSED (build, unit, integration, real; sanitizer unit tests)"
    exit 0
fi
echo "test.sh: FAILED: ${failed[*]}"
exit 1
