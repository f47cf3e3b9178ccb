#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# package.sh — build the Debian package: a release build configured for /usr (its own build
# tree, without the tests), then `cpack -G DEB`. Prints the path of the .deb on its last line.
# Usage: scripts/package.sh [BUILD_DIR]   (default: build-pkg beside the sources)
# Needs what scripts/install-deps.sh installs (dpkg-dev and file for dpkg-shlibdeps).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
B=${1:-$ROOT/build-pkg}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}

cmake -S "$ROOT" -B "$B" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr \
    -DPERFSHIM_TESTS=OFF -DPERFSHIM_WERROR=ON >/dev/null
cmake --build "$B" -j "$JOBS" >/dev/null
(cd "$B" && cpack -G DEB >/dev/null)
ls -t "$B"/perfshim_*.deb | head -n 1
