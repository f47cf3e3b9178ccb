#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test_package.sh — the install, as a user gets it (issue 14, "Ecosystem"):
#   1. scripts/package.sh builds the .deb;
#   2. `cmake --install` of the same build into a scratch DESTDIR puts every path that the
#      installed perfshim(1) names under FILES, and the .deb holds the same files;
#   3. pkg-config finds perfshim.h: a program using the zone API compiles with its --cflags
#      (as <perfshim.h> and as the README's <perfshim/perfshim.h>), runs under the installed shim, and `perfshim hot` reports its zone;
#   4. the installed bash completion completes a command and an option;
#   5. the package installed: with CI_DPKG_INSTALL=1 (CI, as root) `dpkg -i`, then
#      `perfshim run --fail-on-leak` on the installed leaky example finds its leaks with source
#      lines, then `dpkg -P`; otherwise the package's files are unpacked with dpkg-deb -x and
#      run from there (PERFSHIM_LIB), which tests the same files without touching /usr.
# Usage: tests/install/test_package.sh [BUILD_DIR]. Exits 77 (skipped) without dpkg-deb.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
B=${1:-$ROOT/build-pkg}
command -v dpkg-deb >/dev/null && command -v cpack >/dev/null || {
    echo "test_package: SKIP: dpkg-deb or cpack missing"
    exit 77
}
fail() {
    echo "test_package: FAIL: $*" >&2
    exit 1
}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

deb=$("$ROOT/scripts/package.sh" "$B" | tail -n 1)
[ -f "$deb" ] || fail "scripts/package.sh made no .deb"
echo "test_package: built $deb"
# (no `grep -q` after a pipe here: it exits at the first match, the writer then dies of SIGPIPE,
# and with pipefail the check fails at random; `grep >/dev/null` reads everything)
dpkg-deb -I "$deb" | grep '^ Depends:.*libdw1' >/dev/null || fail "the package does not depend on libdw1"

# 2. cmake --install: the paths perfshim(1) names exist, and the package holds the same files
D=$T/destdir
DESTDIR=$D cmake --install "$B" >/dev/null
man=$D/usr/share/man/man1/perfshim.1
[ -f "$man" ] || fail "no perfshim.1 under /usr/share/man/man1"
! grep -n '@[A-Z_]*@' "$man" || fail "perfshim.1 was installed with unfilled @VARIABLES@"
paths=$(sed -n '/^\.SH FILES/,/^\.SH /p' "$man" | sed -n 's/^\.I \(\/usr\/[^ ]*\)$/\1/p' |
    sed 's/\\-/-/g' | grep -v '^/usr/lib/debug')
[ "$(printf '%s\n' "$paths" | wc -l)" -ge 8 ] || fail "FILES names too few paths: $paths"
for p in $paths; do
    [ -e "$D$p" ] || fail "perfshim(1) names $p, which cmake --install did not install"
done
(cd "$D" && find . -type f | sed 's/^\.//' | sort) >"$T/installed"
dpkg-deb -c "$deb" | awk '$1 !~ /^d/ {print $6}' | sed 's/^\.//' | sort >"$T/packaged"
diff "$T/installed" "$T/packaged" || fail "the .deb and cmake --install hold different files"

# 5 (first half). Where the package's files live for the runs below
if [ "${CI_DPKG_INSTALL:-0}" = 1 ] && [ "$(id -u)" = 0 ]; then
    # another dpkg or apt (a fresh machine's unattended-upgrades, an apt-get beside us) holds
    # dpkg's lock for a while: wait for it, up to 5 minutes, as apt's DPkg::Lock::Timeout would
    tries=0
    until dpkg -i "$deb" >/dev/null 2>"$T/dpkg.err"; do
        if grep -q "lock" "$T/dpkg.err" && [ "$tries" -lt 60 ]; then
            [ "$tries" = 0 ] && echo "test_package: dpkg's lock is held; waiting for it"
            tries=$((tries + 1))
            sleep 5
            continue
        fi
        cat "$T/dpkg.err" >&2
        fail "dpkg -i $deb failed"
    done
    trap 'dpkg -P perfshim >/dev/null 2>&1 || true; rm -rf "$T"' EXIT
    P=/usr
    run_env=()
    echo "test_package: installed with dpkg -i"
else
    dpkg-deb -x "$deb" "$T/pkg"
    P=$T/pkg/usr
    lib=$(find "$P" -name libperfshim.so | head -n 1)
    run_env=(env "PERFSHIM_LIB=$lib")
    echo "test_package: unpacked with dpkg-deb -x (CI_DPKG_INSTALL=1 as root installs it)"
fi
ps=$P/bin/perfshim
examples=$(dirname "$(find "$P" -path '*/perfshim/examples/leaky' | head -n 1)")
[ -x "$examples/leaky" ] || fail "no leaky example in the package"

# 5. the main job on the installed files
rc=0
(cd "$T" && "${run_env[@]}" "$ps" run --fail-on-leak -- "$examples/leaky") >"$T/report" 2>&1 ||
    rc=$?
[ "$rc" = 1 ] || { cat "$T/report"; fail "run --fail-on-leak on leaky exited $rc, not 1"; }
grep -q 'definitely lost' "$T/report" || fail "no definitely lost block in the report"
grep -q 'leak_malloc (leaky.c:[0-9]*)' "$T/report" ||
    fail "the installed leaky's frames lack their source lines"

# 3. pkg-config and the zone API
inc=$(PKG_CONFIG_PATH=$D/usr/share/pkgconfig PKG_CONFIG_SYSROOT_DIR=$D pkg-config --cflags perfshim)
[ -n "$inc" ] || fail "pkg-config --cflags perfshim printed nothing"
cat >"$T/zones.c" <<'C'
#include <perfshim.h>
#include <stdlib.h>
int main(void)
{
    for (int i = 0; i < 100; i++) {
        perfshim_zone_begin("pkgzone");
        free(malloc(64));
        perfshim_zone_end();
    }
    return 0;
}
C
# shellcheck disable=SC2086
cc $inc -o "$T/zones" "$T/zones.c" || fail "the zone API does not compile with pkg-config's flags"
"$T/zones" || fail "the zone program fails without the shim"
# the README's spelling, #include <perfshim/perfshim.h>, with the same flags (the prefix here is
# not on the compiler's default path: before the fix the .pc gave only .../include/perfshim)
sed 's|<perfshim.h>|<perfshim/perfshim.h>|' "$T/zones.c" >"$T/zones2.c"
# shellcheck disable=SC2086
cc $inc -o "$T/zones2" "$T/zones2.c" ||
    fail "#include <perfshim/perfshim.h> does not compile with pkg-config's flags"
(cd "$T" && "${run_env[@]}" "$ps" run -o "$T/zones.trace" -- "$T/zones") >/dev/null 2>&1 ||
    fail "the zone program fails under the installed shim"
"$ps" hot "$T/zones.trace" | grep 'pkgzone' >/dev/null || fail "perfshim hot does not show the zone"

# 4. bash completion, from the installed file, against the installed analyzer
comp=$D/usr/share/bash-completion/completions/perfshim
[ -f "$comp" ] || fail "no bash completion installed"
complete_words() { # words of the command line; prints COMPREPLY
    bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
             _perfshim; printf "%s\n" "${COMPREPLY[@]}"' _ "$comp" "$@"
}
complete_words "$ps" le | grep -x leaks >/dev/null || fail "completion of 'perfshim le' lacks leaks"
complete_words "$ps" leaks --fail | grep -x -- --fail-on-leak >/dev/null ||
    fail "completion of 'perfshim leaks --fail' lacks --fail-on-leak"
complete_words "$ps" "" | grep -x growth >/dev/null || fail "completion of commands lacks growth"
echo "test_package: PASS"
