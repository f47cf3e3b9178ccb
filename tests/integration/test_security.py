# SPDX-License-Identifier: MIT
"""test_security.py — the promises of docs/security.md.

Cases (--case):
  secure   set-uid and set-gid copies of secure_probe (owned by nobody/nogroup; needs root):
           the kernel starts them with AT_SECURE, and however the shim gets in — LD_PRELOAD
           with a path (glibc drops it), dlopen() by the program itself, or LD_PRELOAD of a
           set-uid copy in a trusted system directory (overlay-mounted in a private mount
           namespace) — it stays inert: no trace, no file, no message even with
           PERFSHIM_VERBOSE=1, a bad option value and an unknown name (PERFSHIM_DEPHT), and
           the program's stdout and exit status are those of a run without the shim. Control
           runs without set-uid show that the same routes do trace.
  files    trace paths that are symlinks (to a file of ours, to a passwd-like file, dangling)
           are never followed: the targets are unchanged (or not created) and the trace goes
           to NAME.1; an existing file is never overwritten (.1, .2, ...); traces are mode 0600
           even under umask 000; a PERFSHIM_TRACE_LIST symlink is not followed either.
  options  every option of shim/options.def, with bad values (not a number, out of range,
           bad enum words, empty, too long): one warning naming the variable, the value and
           the accepted values; the default is kept and the program runs as without the shim.
           The bounds themselves are accepted without a warning.
  analyzer a trace that names a FIFO, /dev/zero or a directory as a module: `perfshim leaks`
           neither hangs nor reads forever; it reports with a warning.
"""
import os
import re
import shutil
import stat
import struct
import subprocess
import zlib

import pstest

WARN = re.compile(rb"^perfshim: warning: (.*)$", re.M)


def warnings(p):
    return [w.decode("utf-8", "replace") for w in WARN.findall(p.stderr)]


def shim_lines(p):
    return [l for l in p.stderr.decode("utf-8", "replace").splitlines()
            if l.startswith("perfshim:")]


# ---- secure ------------------------------------------------------------------------------


def system_libdir():
    """The trusted directory libc lives in (glibc's loader trusts its system directories)."""
    for d in ("/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib64", "/lib64"):
        if os.path.exists(os.path.join(d, "libc.so.6")):
            return d
    return None


def case_secure(args, ck, trusted=False):
    """Without trusted: the set-uid/set-gid copies preloaded by path and dlopen()ing the shim.
    With trusted (case secure_trusted): the copies preloaded from a trusted system directory,
    through an overlay mount in a private mount namespace (skipped where that is impossible)."""
    probe = os.path.join(args.bindir, "secure_probe")
    if os.geteuid() != 0:
        ck.skip("needs root, to give copies of the probe to another user (chown); run the "
                "suite as root (as CI does) to cover AT_SECURE")
    work = pstest.tmpdir("security-secure")
    os.chmod(work, 0o755)  # the set-uid copies run as nobody and must reach their files
    out = os.path.join(work, "out")
    os.makedirs(out)
    os.chmod(out, 0o1777)  # so that an active shim running as nobody could write its trace

    env = {"PERFSHIM_OUTPUT": os.path.join(out, "%e.%p.trace"), "PERFSHIM_VERBOSE": "1",
           "PERFSHIM_DEPTH": "bogus", "PERFSHIM_DEPHT": "8",
           "PERFSHIM_TRACE_LIST": os.path.join(out, "list"),
           # the control channel (a thread, a socket) must not open under AT_SECURE either
           "PERFSHIM_CONTROL": "1"}
    bare = pstest.run([probe])
    ck.equal(bare.returncode, 7, "secure_probe without the shim: exit status")

    def files():
        return sorted(os.listdir(out))

    def clear():
        for f in os.listdir(out):
            os.unlink(os.path.join(out, f))

    # Control: the same routes, not set-uid, are traced (and read the environment).
    for route, cmd, e in () if trusted else (("LD_PRELOAD", [probe], {"LD_PRELOAD": args.lib}),
                          ("dlopen", [probe, args.lib], {})):
        clear()
        p = pstest.run(cmd, env=dict(env, **e))
        err = p.stderr.decode("utf-8", "replace")
        ck.check("AT_SECURE=0" in err and "shim present" in err and "dump returned 0" in err,
                 "control (%s, not set-uid): the shim is active" % route, pstest.describe(p))
        ck.check(any("PERFSHIM_DEPTH='bogus'" in w for w in warnings(p)),
                 "control (%s): the shim read the environment (warned about PERFSHIM_DEPTH)"
                 % route, pstest.describe(p))
        ck.check(any(w.startswith("PERFSHIM_DEPHT is not") for w in warnings(p)),
                 "control (%s): the shim scanned the environment (warned about PERFSHIM_DEPHT)"
                 % route, pstest.describe(p))
        ck.check(any(f.endswith(".trace") for f in files()),
                 "control (%s): a trace was written" % route, repr(files()))

    copies = []
    for kind, uid, gid, mode in (("setuid", 65534, -1, 0o4755), ("setgid", -1, 65534, 0o2755)):
        path = os.path.join(work, "probe_" + kind)
        shutil.copy(probe, path)
        os.chown(path, uid, gid)
        os.chmod(path, mode)
        copies.append((kind, path))

    libdir = system_libdir()
    extra = os.path.join(work, "trusted")
    os.makedirs(extra)
    trusted_name = "libperfshim-sectest.so"
    shutil.copy(args.lib, os.path.join(extra, trusted_name))
    os.chmod(os.path.join(extra, trusted_name), 0o4755)  # glibc preloads only set-uid libraries
    unshare = shutil.which("unshare")
    if trusted and (not libdir or not unshare):
        ck.skip("trusted-directory preload: no system library directory or no unshare")

    for kind, path in copies:
        label = "%s copy" % kind
        clear()
        p = pstest.run([path], env=dict(env, LD_PRELOAD=args.lib))
        err = p.stderr.decode("utf-8", "replace")
        if not ck.check("AT_SECURE=1" in err, "%s: started with AT_SECURE=1" % label,
                        pstest.describe(p)):
            continue

        def inert(p, route, expect_present):
            err = p.stderr.decode("utf-8", "replace")
            ck.check(p.returncode == bare.returncode and p.stdout == bare.stdout,
                     "%s, %s: exit status and stdout as without the shim" % (label, route),
                     pstest.describe(p))
            if expect_present is not None:
                ck.check(("shim present" in err) == expect_present,
                         "%s, %s: the shim is %s the process" %
                         (label, route, "in" if expect_present else "not in"),
                         pstest.describe(p))
            if "shim present" in err:
                ck.check("dump returned -1" in err, "%s, %s: perfshim_dump() refuses (-1)"
                         % (label, route), pstest.describe(p))
            ck.check(not shim_lines(p), "%s, %s: the shim says nothing, reads no option "
                     "(PERFSHIM_VERBOSE=1, a bad PERFSHIM_DEPTH and PERFSHIM_DEPHT are set)"
                     % (label, route),
                     pstest.describe(p))
            ck.check(files() == [], "%s, %s: no trace, no trace list, no file at all"
                     % (label, route), repr(files()))

        if not trusted:
            # glibc ignores LD_PRELOAD entries with a slash in secure mode: the shim never loads.
            inert(p, "LD_PRELOAD=/path/libperfshim.so", False)
            clear()
            inert(pstest.run([path, args.lib], env=env), "dlopen by the program", True)
            continue
        clear()
        script = ('mount -t overlay overlay -o "lowerdir=$LIBDIR:$EXTRA" "$LIBDIR" || exit 99; '
                  'exec env LD_PRELOAD="$NAME" "$PROG"')
        p = pstest.run([unshare, "-m", "sh", "-c", script],
                       env=dict(env, LIBDIR=libdir, EXTRA=extra, NAME=trusted_name, PROG=path))
        if p.returncode == 99:
            ck.skip("%s, trusted-directory preload: cannot mount an overlay here (%s)"
                    % (label, p.stderr.decode().strip()))
        inert(p, "LD_PRELOAD of a set-uid copy in %s" % libdir, True)


# ---- files -------------------------------------------------------------------------------


def case_files(args, ck):
    prog = os.path.join(args.bindir, "noleak")
    bare = pstest.run([prog])
    work = pstest.tmpdir("security-files")

    def write(path, text, mode=0o644):
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)

    def read(path):
        with open(path) as f:
            return f.read()

    def traced(output, label, env=None, umask=None):
        e = {"LD_PRELOAD": args.lib, "PERFSHIM_OUTPUT": output}
        e.update(env or {})
        cmd = [prog] if umask is None else ["sh", "-c", "umask %s; exec \"$0\"" % umask, prog]
        p = pstest.run(cmd, env=e, cwd=work)
        ck.check(p.returncode == bare.returncode and p.stdout == bare.stdout,
                 "%s: the program runs as without the shim" % label, pstest.describe(p))
        return p

    def check_trace(path, label):
        if not ck.check(os.path.isfile(path) and not os.path.islink(path),
                        "%s: the trace is the regular file %s" % (label, os.path.basename(path)),
                        repr(sorted(os.listdir(work)))):
            return
        mode = stat.S_IMODE(os.lstat(path).st_mode)
        ck.equal(oct(mode), oct(0o600), "%s: trace mode" % label)
        raw = pstest.RawTrace(path)
        ck.check(raw.error is None and raw.end is not None, "%s: the trace is complete" % label,
                 str(raw.error))

    # symlinks to a file of ours, to a passwd-like file, and dangling
    victim = os.path.join(work, "mine.txt")
    write(victim, "precious data\n")
    etc = os.path.join(work, "etc")
    os.makedirs(etc)
    passwd = os.path.join(etc, "passwd")
    write(passwd, "root:x:0:0:root:/root:/bin/bash\n")
    missing = os.path.join(etc, "shadow")
    for name, target, what in (("own", victim, "a file the user owns"),
                               ("passwd", passwd, "a passwd-like file"),
                               ("dangling", missing, "a file that does not exist")):
        link = os.path.join(work, "%s.trace" % name)
        os.symlink(target, link)
        before = read(target) if os.path.exists(target) else None
        label = "trace path is a symlink to %s" % what
        traced(link, label)
        ck.check(os.path.islink(link) and os.readlink(link) == target,
                 "%s: the symlink is left alone" % label)
        if before is None:
            ck.check(not os.path.exists(target), "%s: the target is not created" % label)
        else:
            ck.equal(read(target), before, "%s: the target's content" % label)
        check_trace(link + ".1", label)

    # existing files are never overwritten: NAME, NAME.1 exist -> NAME.2
    base = os.path.join(work, "exists.trace")
    write(base, "first\n")
    write(base + ".1", "second\n")
    label = "trace path exists (and so does .1)"
    traced(base, label)
    ck.equal((read(base), read(base + ".1")), ("first\n", "second\n"),
             "%s: both files unchanged" % label)
    check_trace(base + ".2", label)

    # mode 0600 whatever the umask
    label = "umask 000"
    traced(os.path.join(work, "umask.trace"), label, umask="000")
    check_trace(os.path.join(work, "umask.trace"), label)

    # the trace list is appended to, never through a symlink
    lst = os.path.join(work, "list.txt")
    os.symlink(victim, lst)
    before = read(victim)
    label = "PERFSHIM_TRACE_LIST is a symlink"
    p = traced(os.path.join(work, "listed.trace"), label, env={"PERFSHIM_TRACE_LIST": lst})
    ck.equal(read(victim), before, "%s: the target's content" % label)
    ws = warnings(p)
    ck.check(len(ws) == 1 and "PERFSHIM_TRACE_LIST" in ws[0],
             "%s: one warning naming PERFSHIM_TRACE_LIST" % label, "\n".join(ws))
    check_trace(os.path.join(work, "listed.trace"), label)

    # ... nor to a file somebody else created first (as root: one owned by nobody), nor a FIFO
    others = []
    if os.geteuid() == 0:
        foreign = os.path.join(work, "foreign-list.txt")
        write(foreign, "", 0o666)
        os.chown(foreign, 65534, 65534)
        others.append(("owned by another user", foreign))
    fifo = os.path.join(work, "fifo-list")
    os.mkfifo(fifo)
    others.append(("a FIFO", fifo))
    for what, path in others:
        label = "PERFSHIM_TRACE_LIST is %s" % what
        p = traced(os.path.join(work, "l-%d.trace" % len(what)), label,
                   env={"PERFSHIM_TRACE_LIST": path})
        ws = warnings(p)
        ck.check(len(ws) == 1 and "PERFSHIM_TRACE_LIST" in ws[0],
                 "%s: refused with one warning" % label, "\n".join(ws))
        if os.path.isfile(path):
            ck.equal(read(path), "", "%s: nothing appended" % label)


# ---- analyzer -----------------------------------------------------------------------------


def rewrite_module_path(data, old, new):
    """The trace with the MODULES chunks' path `old` replaced by `new` (lengths and CRCs fixed):
    what a hostile trace can name."""
    out = bytearray(data[:16])
    off = 16
    while off + 16 <= len(data):
        sync, typ, flags, length, _crc = struct.unpack_from("<IHHII", data, off)
        payload = bytes(data[off + 16:off + 16 + length])
        if typ == pstest.CHUNK_MODULES:
            payload = payload.replace(struct.pack("<I", len(old)) + old,
                                      struct.pack("<I", len(new)) + new)
        hdr = struct.pack("<IHHI", sync, typ, flags, len(payload))
        out += hdr + struct.pack("<I", zlib.crc32(payload, zlib.crc32(hdr))) + payload
        off += 16 + length
    return bytes(out)


def case_analyzer(args, ck):
    """The analyzer opens the module files a trace names: a FIFO or a device there must not
    make it hang or read forever."""
    prog = os.path.join(args.bindir, "leaky")
    work = pstest.tmpdir("security-analyzer")
    trace = os.path.join(work, "leaky.trace")
    pstest.run([prog], env={"LD_PRELOAD": args.lib, "PERFSHIM_OUTPUT": trace})
    with open(trace, "rb") as f:
        data = f.read()
    fifo = os.path.join(work, "fifo")
    os.mkfifo(fifo)
    real = os.path.realpath(prog).encode()
    ck.check(struct.pack("<I", len(real)) + real in data, "the trace names %s" % prog)
    for what, path in (("a FIFO", fifo), ("/dev/zero", "/dev/zero"), ("a directory", work)):
        evil = os.path.join(work, "evil-%d.trace" % len(what))
        with open(evil, "wb") as f:
            f.write(rewrite_module_path(data, real, path.encode()))
        label = "a trace naming %s as the executable" % what
        try:
            a = pstest.run([args.perfshim, "leaks", evil], timeout=60)
        except subprocess.TimeoutExpired:
            ck.check(False, "%s: perfshim leaks finishes (it hung)" % label)
            continue
        ck.check(a.returncode == 0 and b"cannot open module" in a.stderr,
                 "%s: perfshim leaks reports, warning that it cannot open the module" % label,
                 pstest.describe(a))


# ---- options -----------------------------------------------------------------------------

def parse_options(path):
    """[(kind, NAME, default, extra)] from options.def: extra is (lo, hi) or the enum words."""
    with open(path) as f:
        text = f.read()
    opts = []
    for m in re.finditer(r"^PS_OPT_(INT|STR|ENUM|SIZE|PCT)\((\w+), (PERFSHIM_\w+), ([^\n]*)",
                         text, re.M):
        kind, name, rest = m.group(1), m.group(3), m.group(4)
        if kind == "PCT":
            d, lo, hi = re.match(r'"([^"]*)", (-?\d+), (-?\d+),', rest).groups()
            opts.append((kind, name, d, (int(lo), int(hi))))
        elif kind == "INT":
            d, lo, hi = [int(x) for x in re.match(r"(-?\d+), (-?\d+), (-?\d+),", rest).groups()]
            opts.append((kind, name, d, (lo, hi)))
        elif kind == "ENUM":
            d, words = re.match(r'"([^"]*)", "([^"]*)",', rest).groups()
            opts.append((kind, name, d, words.split("|")))
        else:
            d = re.match(r'"([^"]*)",', rest).group(1)
            opts.append((kind, name, d, None))
    return opts


def case_options(args, ck):
    prog = os.path.join(args.bindir, "noleak")
    bare = pstest.run([prog])
    opts = parse_options(args.options_def)
    ck.check(len(opts) >= 18, "options.def parsed: %d options" % len(opts))
    ck.check({"PERFSHIM_FAULT_MAP", "PERFSHIM_OUTPUT", "PERFSHIM_MODE", "PERFSHIM_ALERT_RSS",
              "PERFSHIM_ALERT_CGROUP"} <= {o[1] for o in opts},
             "the parse found INT, STR, ENUM, SIZE and PCT rows")
    work = pstest.tmpdir("security-options")

    def run_with(name, value):
        e = {"LD_PRELOAD": args.lib, "PERFSHIM_OUTPUT": os.path.join(work, "%e.%p.trace"),
             name: value}
        p = pstest.run([prog], env=e, cwd=work)
        for f in os.listdir(work):
            os.unlink(os.path.join(work, f))
        return p

    long_value = "9" * 5000
    for kind, name, default, extra in opts:
        if kind == "INT":
            lo, hi = extra
            bad = ["x", "", "1.5", " 1", "+1", "0x10", "1e3", str(lo - 1), str(hi + 1),
                   "99999999999999999999", long_value]
            good = [str(lo), str(hi)]
            accepted = "from %d to %d" % (lo, hi)
            shown_default = str(default)
        elif kind == "SIZE":
            bad = ["x", "", "-1", "1.5G", "1e9", "10 M", "1P", "0x10", " 1M", long_value]
            good = ["0", "4096", "64k", "512M", "1GiB"]
            accepted = "is not a size"
            shown_default = default
        elif kind == "PCT":
            lo, hi = extra
            bad = ["x", "", "90", "%d%%" % (hi + 1), "-1%", "9.5%", "0%", long_value]
            good = ["0", "%d%%" % lo, "%d%%" % hi]
            accepted = "%d%% to %d%%" % (lo, hi)
            shown_default = default
        elif kind == "ENUM":
            bad = ["x", "", extra[0].upper(), extra[0] + " ", long_value]
            good = list(extra)
            accepted = "|".join(extra)
            shown_default = default
        else:
            bad = ["/" + "d" * 4000]
            if default:
                bad.append("")  # a path is needed; "" is "unset" only where the default is
            good = []
            accepted = "not a path"
            shown_default = default or "none"
        for value in bad:
            shown = repr(value if len(value) < 30 else value[:20] + "...")
            label = "%s=%s" % (name, shown)
            p = run_with(name, value)
            ck.check(p.returncode == bare.returncode and p.stdout == bare.stdout,
                     "%s: the program runs as without the shim" % label, pstest.describe(p))
            ws = warnings(p)
            if not ck.check(len(ws) == 1, "%s: exactly one warning" % label,
                            pstest.describe(p)):
                continue
            w = ws[0]
            ck.check(w.startswith(name + "='") and accepted in w and
                     w.endswith("using " + shown_default),
                     "%s: the warning names the variable, what it accepts (%s) and the "
                     "default kept" % (label, accepted), w)
            ck.check(len(w) < 250 and all(32 <= ord(c) < 127 for c in w),
                     "%s: the warning is short and printable" % label, repr(w))
        for value in good:
            p = run_with(name, value)
            ws = [w for w in warnings(p) if w.startswith(name + "=")]
            ck.check(not ws, "%s=%s is accepted without a warning" % (name, value),
                     "\n".join(ws))
            ck.equal(p.returncode, bare.returncode, "%s=%s: exit status" % (name, value))


def main():
    def extra(ap):
        ap.add_argument("--case", required=True,
                        choices=("secure", "secure_trusted", "files", "options", "analyzer"))
        ap.add_argument("--options-def", default=None)
    args = pstest.parse_args(extra)
    ck = pstest.Checker("security-%s" % args.case)
    {"secure": case_secure, "files": case_files, "options": case_options,
     "analyzer": case_analyzer,
     "secure_trusted": lambda a, c: case_secure(a, c, trusted=True)}[args.case](args, ck)
    ck.done()


if __name__ == "__main__":
    main()
