#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test.sh — build and test perfshim the way CI does:
#   1. build/     RelWithDebInfo, -DPERFSHIM_WERROR=ON; ctest (unit, integration, real)
#   2. build-pkg/ the Debian package (scripts/package.sh) and its install
#      (tests/install/test_package.sh)
#   3. build-san/ -DPERFSHIM_SANITIZE=ON (ASan+UBSan analyzer and unit tests); ctest -L unit;
#      with -DPERFSHIM_TSAN=ON also the concurrent shim unit tests under ThreadSanitizer;
#      ctest -L tsan
#   4. build-fuzz/ CC=clang -DPERFSHIM_FUZZ=ON: the libFuzzer harness of the trace reader
#      (tests/fuzz), run for FUZZ_SECONDS over seed traces made with step 1's build; ctest -L fuzz
# Usage: scripts/test.sh [extra ctest arguments for step 1, e.g. -L integration]
# Environment: JOBS (default: nproc), BUILD_DIR, SAN_BUILD_DIR, PKG_BUILD_DIR, FUZZ_BUILD_DIR,
#   FUZZ_SECONDS (default 60).
# Exits non-zero if any step fails; the last line says which.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
BUILD=${BUILD_DIR:-$ROOT/build}
SAN=${SAN_BUILD_DIR:-$ROOT/build-san}
FUZZ=${FUZZ_BUILD_DIR:-$ROOT/build-fuzz}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
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

# The Debian package, built by scripts/package.sh in its own tree, and its install
# (tests/install/test_package.sh: dpkg -i when CI_DPKG_INSTALL=1 as root, as .ci/run does).
step "package and install (${PKG_BUILD_DIR:-$ROOT/build-pkg})" \
    "$ROOT/tests/install/test_package.sh" "${PKG_BUILD_DIR:-$ROOT/build-pkg}"

if step "configure sanitizers ($SAN)" cmake -S "$ROOT" -B "$SAN" -DCMAKE_BUILD_TYPE=Debug \
        -DPERFSHIM_WERROR=ON -DPERFSHIM_SANITIZE=ON -DPERFSHIM_TSAN=ON &&
    step "build sanitizers ($SAN)" cmake --build "$SAN" -j "$JOBS"; then
    step "ctest -L unit ($SAN)" ctest --test-dir "$SAN" --output-on-failure -j "$JOBS" -L unit \
        --no-tests=error
    step "ctest -L tsan ($SAN)" ctest --test-dir "$SAN" --output-on-failure -L tsan \
        --no-tests=error
fi

# Only the harness is built here (clang); the seed traces come from step 1's programs and shim.
if step "configure fuzzer ($FUZZ)" cmake -S "$ROOT" -B "$FUZZ" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DPERFSHIM_WERROR=ON \
        -DPERFSHIM_FUZZ=ON -DPERFSHIM_FUZZ_SECONDS="$FUZZ_SECONDS" \
        -DPERFSHIM_FUZZ_SEED_BUILD="$BUILD" &&
    step "build fuzzer ($FUZZ)" cmake --build "$FUZZ" -j "$JOBS" --target fuzz_trace; then
    step "ctest -L fuzz ($FUZZ)" ctest --test-dir "$FUZZ" --output-on-failure -L fuzz \
        --no-tests=error
fi

if [ ${#failed[@]} -eq 0 ]; then
    echo "test.sh: ALL PASSED (build, unit, integration, real; package; sanitizer unit tests; tsan; fuzz)"
    exit 0
fi
echo "test.sh: FAILED: ${failed[*]}"
exit 1
