#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# install-deps.sh — install every Debian/Ubuntu package needed to build perfshim and run all of
# its tests (unit, integration, real programs). Runs as root, or through sudo when available.
# With --bench, also what tests/bench compares against (heaptrack, jemalloc, tcmalloc,
# mimalloc; valgrind and perl are in the base list).
set -euo pipefail

BENCH=0
for arg in "$@"; do
    case "$arg" in
    --bench) BENCH=1 ;;
    *)
        echo "install-deps.sh: unknown option '$arg' (accepted: --bench)" >&2
        exit 2
        ;;
    esac
done

PACKAGES=(
    # build
    build-essential cmake pkg-config g++ clang
    # the fuzz step (tests/fuzz): libFuzzer and the sanitizer runtimes of clang, only recommended
    # by clang, so absent with --no-install-recommends
    libclang-rt-dev
    # lld links libperfshim.so with its text order (shim/text_order.txt): without it the
    # library's code is all resident in every process (docs/performance.md)
    lld
    # libraries: libunwind (stack capture), uthash (analyzer tables), elfutils (symbolization),
    # zlib (CRCs, pprof gzip), check (unit tests), libdeflate (optional: the trace reader's
    # CRC-32, about 20 times cheaper than zlib's; the analyzer builds without it), libiberty
    # (Rust symbol demangling, legacy and v0)
    libunwind-dev uthash-dev libdw-dev libelf-dev zlib1g-dev check libdeflate-dev libiberty-dev
    # integration and real-program tests (tests/real): perl with its core modules, and
    # redis-server with redis-tools (redis-cli, redis-benchmark). On a machine with systemd
    # the package also starts a redis service on port 6379; the tests never use that one,
    # they start their own on a free loopback port.
    python3 sqlite3 git perl redis-server redis-tools
    # servers that drop their privileges (tests/real/test_dropprivs.py): nginx's workers switch
    # to www-data, memcached -u nobody. Like redis, the packages may start system services; the
    # tests start their own on free loopback ports.
    nginx-light memcached
    # command-line tools of test_tools.py beyond the essential ones (sort, sed, grep, mawk,
    # tar, gzip, find, diff come with every Debian)
    bzip2 xz-utils zstd bc jq make
    # a program that sandboxes itself with libseccomp (test_sandboxed.py)
    universal-ctags
    # language runtimes of test_runtimes.py: threaded Ruby, ripgrep (Rust), a JVM with javac
    ruby ripgrep openjdk-17-jdk-headless
    # the symbolizer's differential test (integration_addr2line): binutils' addr2line (the
    # oracle), elfutils' eu-addr2line (the second one), and Debian's debug build of libstdc++
    # (with DWARF, in /usr/lib/x86_64-linux-gnu/debug) for a real C++ program's frames
    binutils elfutils libstdc++6-12-dbg
    # test_exits.py: the processes a command ends are counted with strace; busybox's shell and
    # applets (forked children that never exec) are among the commands
    strace busybox
    # integration_ltrace_cpu: ltrace re-injects a held timer signal as SI_USER from itself, which
    # the shim's SIGPROF handler must keep as its own (the test skips without it; 0.4 MB)
    ltrace
    # test_node.py: V8's JIT and builtins (no unwind tables, frame pointers)
    nodejs
    # test_erl_ctl.py: Erlang's erl_child_setup closes every descriptor, the control socket's too
    erlang-base
    # integration_alerts_promtool: `promtool check metrics` validates PERFSHIM_PROM_FILE. Only
    # the whole server package has promtool (Debian 12: 332 MB with its dependencies); the test
    # skips without it, and integration_alerts_prom's own format check always runs
    prometheus
    # the Debian package and its install test (scripts/package.sh, tests/install): cpack's
    # DEB generator runs dpkg-shlibdeps (dpkg-dev) and file
    dpkg-dev file
    # integration_export_pprof_go: `go tool pprof -top` and `-traces` read `perfshim export`'s
    # pprof profiles (the test skips without it); integration_export_format validates its
    # speedscope files against speedscope's schema with python3-jsonschema
    golang-go python3-jsonschema
    # integration_html_browser: `perfshim report --html`'s page rendered in headless Chromium
    # (the test skips without it)
    chromium
    # the leak oracle (integration_reach_valgrind, _programs: blocks and bytes per class against
    # memcheck on gawk, mawk, jq, bc, lua5.4, sqlite3, perl, tclsh and git) and
    # integration_qemu_user (a program under qemu-user with CPU sampling); each skips without
    # its tool
    valgrind gawk lua5.4 tcl qemu-user
    # integration_notables: a program built by tcc, whose executables have no unwind table
    # (the walker must end their stacks at `_start`, not hand them to libunwind; skips without)
    tcc
)
if [ "$BENCH" = 1 ]; then
    PACKAGES+=(heaptrack libjemalloc2 libgoogle-perftools4 libmimalloc2.0)
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
else
    echo "install-deps.sh: need root or sudo to install: ${PACKAGES[*]}" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update
"${SUDO[@]}" apt-get install -y --no-install-recommends "${PACKAGES[@]}"

# CPython's own test suite, for tests/real (the package is versioned: libpython3.X-testsuite,
# matching /usr/bin/python3). Without it, real_python_suite fails and says so.
pyver=$(/usr/bin/python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if apt-cache show "libpython${pyver}-testsuite" >/dev/null 2>&1; then
    "${SUDO[@]}" apt-get install -y --no-install-recommends "libpython${pyver}-testsuite"
else
    echo "install-deps.sh: warning: no package libpython${pyver}-testsuite" >&2
fi
echo "install-deps.sh: done"
