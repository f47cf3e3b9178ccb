/* SPDX-License-Identifier: MIT */
/*
 * cli.c — `perfshim COMMAND ...`: parses the command line of each subcommand (getopt_long),
 * prints help and version, calls the report, and maps results to exit statuses:
 * 0 fine, 1 leaks found with --fail-on-leak (diff, check: a budget broke), 2 usage error or
 * unreadable input
 * (`run` returns the command's own status first; see docs/analyzer.md).
 */
#include "cli.h"

#include "advise.h"
#include "ctl.h"
#include "diff.h"
#include "growth.h"
#include "hot.h"
#include "ages.h"
#include "leaks.h"
#include "locks.h"
#include "run.h"
#include "summary.h"
#include "export.h"
#include "html.h"
#include "merge.h"
#include "mergeout.h"
#include "pieces.h"
#include "suppress.h"
#include "symbols.h"
#include "symcache.h"
#include "timeline.h"
#include "util.h"

#include "trace_format.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#ifndef PERFSHIM_VERSION_STRING
#define PERFSHIM_VERSION_STRING "unknown"
#endif

/* ---- help texts --------------------------------------------------------------------------------
 */

static const char help_main[] =
    "Usage: perfshim COMMAND [OPTIONS] [ARGS...]\n"
    "\n"
    "Find memory leaks, lock contention and hot paths with libperfshim.so, and analyze its\n"
    "traces.\n"
    "\n"
    "Commands:\n"
    "  run [OPTIONS] [--] CMD [ARGS...]   run CMD under the shim, then report the leaks of\n"
    "                                     every trace it (and its children) wrote\n"
    "  leaks [OPTIONS] TRACE...           blocks never freed, grouped by call stack\n"
    "  summary [OPTIONS] TRACE...         totals and the top allocation sites\n"
    "  timeline [OPTIONS] TRACE...        every snapshot over time: live heap, RSS, allocation\n"
    "                                     rate and the top sites, with a chart\n"
    "  growth [OPTIONS] TRACE...          allocation sites by how their live bytes grow:\n"
    "                                     unbounded, saturating, bounded or stable\n"
    "  locks [OPTIONS] TRACE...           locks by time waited, with the call sites that wait\n"
    "  hot [OPTIONS] TRACE...             CPU samples, allocator latency, zones, threads\n"
    "  ctl PID COMMAND | ctl --list       control a running process (PERFSHIM_CONTROL=1 or\n"
    "                                     PERFSHIM_START=off): status, start, stop, dump, ...\n"
    "  diff [OPTIONS] BASE NEW            compare two runs per site; fail on budgets\n"
    "  check [OPTIONS] TRACE...           check traces against absolute budgets\n"
    "  export [OPTIONS] TRACE...          the profile for other tools: pprof, folded stacks\n"
    "                                     (flame graphs), speedscope\n"
    "  report --html OUT.html TRACE...    one self-contained HTML page: flame graphs, heap over\n"
    "                                     time, locks, hot paths, advice\n"
    "  advise [OPTIONS] TRACE...          tuning advice with evidence: what to change, where,\n"
    "                                     and the expected gain\n"
    "  merge -o OUT TRACE...              many processes' traces written as one trace\n"
    "  help [COMMAND]                     help on a command\n"
    "\n"
    "Options:\n"
    "  -h, --help      show this help\n"
    "  -V, --version   show the version\n"
    "\n"
    "Every command that reads traces (not run, ctl) also takes:\n"
    "  --sysroot DIR    look for a module's file under DIR first (a trace recorded in a\n"
    "                   container or on another host; DIR/usr/lib/debug for debug files)\n"
    "  --debug-dir DIR  look for separate debug files in DIR (DIR/.build-id/xx/yyyy.debug,\n"
    "                   or by .gnu_debuglink name) before /usr/lib/debug; repeatable\n"
    "  --symbol-cache DIR  keep what each module's addresses symbolize to in DIR (one file\n"
    "                   per build-id), and use it in later runs: off by default\n"
    "\n"
    "Exit status: 0 fine; 1 leaks found with --fail-on-leak, or a budget broke (diff,\n"
    "check); 2 usage error or unreadable input. See perfshim(1).\n";

static const char help_leaks[] =
    "Usage: perfshim leaks [OPTIONS] TRACE...\n"
    "\n"
    "Report the blocks still allocated at the last snapshot of each trace (or the one --at\n"
    "chooses), grouped by call\n"
    "stack, largest first. Leading operator new/new[] frames and libperfshim.so frames are\n"
    "hidden. Leaks matching a suppression are counted separately.\n"
    "\n"
    "Options:\n"
    "      --json                     JSON output (one object; an array for several traces)\n"
    "      --fail-on-leak[=possible|all]  exit with status 1 when a leak is not suppressed;\n"
    "                                 with leak classes (PERFSHIM_LEAK_SCAN) only definitely\n"
    "                                 and indirectly lost blocks count; =possible adds\n"
    "                                 possibly lost ones, =all also still reachable ones\n"
    "      --suppressions FILE        more suppressions: one glob pattern per line, matched\n"
    "                                 against every frame's function; '#' starts a comment\n"
    "                                 (may be given several times); LeakSanitizer files\n"
    "                                 too: 'leak:PATTERN' matches function, file or module\n"
    "                                 as a substring ('*' any run, '^'/'$' anchors)\n"
    "      --no-default-suppressions  do not suppress the C/C++ runtime's one-time allocations\n"
    "      --top N                    list only the N largest leaks per trace (0: all)\n"
    "      --at TIME|last|max         report the last snapshot at or before TIME (since\n"
    "                                 start: 12.5, 500ms, 10m, 2h), the last (default),\n"
    "                                 or the one with the highest live heap\n"
    "      --all-frames               show C++ standard library frames one per line (by\n"
    "                                 default a run of them is one line, named by the\n"
    "                                 function the program called)\n"
    "      --older-than AGE           only live blocks at least AGE old (60s, 5m, 2h, 1d;\n"
    "                                 needs the ages an exit, stop, dump or signal snapshot\n"
    "                                 has); shows each site's age histogram\n"
    "      --ages                     show each site's live ages and freed lifetimes\n"
    "      --rank bytes|suspects      order: largest first (default), or suspects first:\n"
    "                                 sites whose live blocks far outlive the ones they freed\n"
    "      --merge                    one report over all the traces (the processes of a\n"
    "                                 server or a build): leaks with the same symbolized\n"
    "                                 stack are one, with the number of processes that had it\n"
    "  -h, --help                     show this help\n"
    "\n"
    "A forked child's blocks that were live at the fork are its parent's: they are listed\n"
    "apart (\"Inherited from the parent\") and never count as its leaks.\n";

static const char help_summary[] =
    "Usage: perfshim summary [OPTIONS] TRACE...\n"
    "\n"
    "Print the totals of the last snapshot of each trace (allocations, frees, bytes, peak live\n"
    "bytes, live blocks, RSS, untracked frees, peak RSS over peak live bytes), the statistics\n"
    "of perfshim's small-object pool when it was on, and the allocation sites that allocated\n"
    "the most bytes.\n"
    "\n"
    "Options:\n"
    "      --json     JSON output (one object; an array for several traces)\n"
    "      --top N    list the N top allocation sites (default 10; 0: all)\n"
    "      --at TIME|last|max   the snapshot reported (see leaks --help; default: last)\n"
    "      --all-frames   C++ standard library frames one per line (see leaks --help)\n"
    "      --merge    one report over all the traces: sites with the same symbolized stack\n"
    "                 are one, with the number of processes that had it\n"
    "  -h, --help     show this help\n";

static const char help_timeline[] =
    "Usage: perfshim timeline [OPTIONS] TRACE...\n"
    "\n"
    "Show every snapshot of each trace in time order (PERFSHIM_INTERVAL writes one per\n"
    "interval): live heap, RSS, allocation rate (bytes and allocations per second since the\n"
    "previous snapshot) and the live bytes of the top sites, chosen by live bytes at the last\n"
    "snapshot. Text: the sites' stacks, a table, and a chart (Unicode blocks on a UTF-8\n"
    "terminal, else ASCII).\n"
    "\n"
    "Options:\n"
    "      --json     JSON output, one entry per snapshot (an array for several traces)\n"
    "      --top N    follow the N sites with the most live bytes at the end (default 5)\n"
    "      --rows N   text: at most N table rows, one per span of snapshots (default 24;\n"
    "                 0: every snapshot)\n"
    "      --ascii    text: draw the chart in ASCII\n"
    "      --all-frames   C++ standard library frames one per line (see leaks --help)\n"
    "  -h, --help     show this help\n";

static const char help_growth[] =
    "Usage: perfshim growth [OPTIONS] TRACE...\n"
    "\n"
    "Rank the allocation sites of each trace by how their live bytes evolve over its\n"
    "snapshots (PERFSHIM_INTERVAL writes one per interval). Each site gets a class:\n"
    "unbounded (growing at a steady rate), saturating (growing, slower than before: profile\n"
    "longer), bounded (grew, then held a plateau, like a cache) or stable; its current growth\n"
    "rate in bytes per second and per allocation, a confidence (0 to 1), and, for growing\n"
    "sites, the time until the process would reach the memory limit at that rate. The method:\n"
    "docs/analyzer.md, \"perfshim growth\".\n"
    "\n"
    "Options:\n"
    "      --json          JSON output (one object; an array for several traces)\n"
    "      --limit BYTES   the memory limit (4G, 512M, ...; default: the cgroup's memory.max\n"
    "                      recorded in the trace, else the machine's memory)\n"
    "      --top N         list the N first sites (default 10; 0: every site followed)\n"
    "      --all-frames    C++ standard library frames one per line (see leaks --help)\n"
    "      --merge         one report over all the traces (the processes of a server or a\n"
    "                      build): a site's series is the sum of its processes' on one\n"
    "                      time axis, with the number of processes that had it\n"
    "  -h, --help          show this help\n";

static const char help_locks[] =
    "Usage: perfshim locks [OPTIONS] TRACE...\n"
    "\n"
    "Report the pthread mutexes, rwlocks and spinlocks of each trace by total time threads\n"
    "waited for them, each named by its address and the stack of its first use, with its\n"
    "acquisition counts, contention, wait and hold times, and the call sites that acquired it\n"
    "ranked by wait; then the condition variables by time waited. Needs a trace written with\n"
    "PERFSHIM_LOCKS=1 (perfshim run sets it).\n"
    "\n"
    "Options:\n"
    "      --json     JSON output (one object; an array for several traces)\n"
    "      --top N    list the N locks (and N condition variables) that waited most\n"
    "                 (default 20; 0: all)\n"
    "      --sites N  list the N call sites per lock that waited most (default 5; 0: all)\n"
    "      --all-frames   C++ standard library frames one per line (see leaks --help)\n"
    "  -h, --help     show this help\n";

static const char help_hot[] =
    "Usage: perfshim hot [OPTIONS] TRACE...\n"
    "\n"
    "Report where each traced process spent its time: CPU samples by function and by stack\n"
    "(PERFSHIM_CPU_HZ), the latency of malloc, free and realloc per size "
    "(PERFSHIM_LATENCY_SAMPLE),\n"
    "the zones marked with perfshim_zone_begin/end, and the threads with their CPU time.\n"
    "Percentiles are read from histograms and are within 3.1% of the true value.\n"
    "\n"
    "Options:\n"
    "      --json     JSON output (one object; an array for several traces)\n"
    "      --top N    list the N top functions, stacks, zones and threads (default 20; 0: all)\n"
    "      --all-frames   C++ standard library frames one per line (see leaks --help)\n"
    "  -h, --help     show this help\n";

static const char help_ctl[] =
    "Usage: perfshim ctl PID COMMAND\n"
    "       perfshim ctl --list\n"
    "\n"
    "Control a running process whose shim opened its control channel (PERFSHIM_CONTROL=1, or\n"
    "PERFSHIM_START=off). Only its own user or root may (the socket is in a private directory\n"
    "of the user, and the process checks the caller's uid).\n"
    "\n"
    "Commands:\n"
    "  status        mode (on/off), section, interval, sampling, trace path, live heap, RSS\n"
    "  start         start tracking; after a stop, a new section in a new trace file\n"
    "                (the first file's name + .s2, .s3, ...)\n"
    "  stop          stop tracking: the section's last snapshot, and its file is complete\n"
    "  dump          write a snapshot now\n"
    "  interval T    set PERFSHIM_INTERVAL: 0 (off), 250ms, 10s, 2m, 1h\n"
    "  sample BYTES  sample allocations, one per BYTES allocated on average\n"
    "  full          track every allocation again\n"
    "\n"
    "  --list        this user's processes that have a control socket (stale sockets of\n"
    "                processes that are gone are removed)\n"
    "\n"
    "Exit status: 0 done; 2 usage error; 3 no such process; 4 no control socket (not started\n"
    "with PERFSHIM_CONTROL=1 or PERFSHIM_START=off); 5 permission denied; 6 the process\n"
    "refused (already started, stopped, not available in this build); 7 no answer.\n";

static int cmd_ctl(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        fputs(help_ctl, stdout);
        return PA_EXIT_OK;
    }
    return pa_ctl_main(argc, argv);
}

static const char help_run[] =
    "Usage: perfshim run [OPTIONS] [--] CMD [ARGS...]\n"
    "\n"
    "Run CMD with libperfshim.so preloaded, wait for it, then print the leak report of every\n"
    "trace it and its children wrote, in the order they were created. Text reports go to\n"
    "stderr (CMD's stdout stays clean); --json reports go to stdout, as one JSON array.\n"
    "\n"
    "Options:\n"
    "  -o, --output TEMPLATE          trace path template (PERFSHIM_OUTPUT: %p pid, %e program\n"
    "                                 name, %t start time, %h host name, %% percent)\n"
    "      --json                     JSON reports on stdout\n"
    "      --fail-on-leak[=possible|all]  exit with status 1 when CMD succeeded but leaked\n"
    "                                 (definitely and indirectly lost blocks; =possible:\n"
    "                                 also possibly lost; =all: also still reachable)\n"
    "      --suppressions FILE        more suppressions (see perfshim help leaks)\n"
    "      --no-default-suppressions  do not suppress the C/C++ runtime's one-time allocations\n"
    "      --top N                    list only the N largest leaks per trace (0: all)\n"
    "      --locks                    also print each trace's lock report (perfshim locks)\n"
    "      --hot                      also print each trace's hot-path report (perfshim hot)\n"
    "      --all-frames               C++ standard library frames one per line\n"
    "  -h, --help                     show this help\n"
    "\n"
    "PERFSHIM_LOCKS=1 is set for CMD unless already set. The library is PERFSHIM_LIB if set, else "
    "../lib/libperfshim.so or libperfshim.so next to\n"
    "the perfshim executable, else the installed one.\n"
    "Exit status: CMD's status (128+N when killed by signal N; 127 when it cannot be run);\n"
    "when CMD exited 0: 1 for leaks with --fail-on-leak, 2 when no trace was readable.\n";

/* ---- option parsing -------------------------------------------------------------------------- */

enum {
    OPT_JSON = 256,
    OPT_FAIL_ON_LEAK,
    OPT_SUPPRESSIONS,
    OPT_NO_DEFAULT_SUPP,
    OPT_TOP,
    OPT_SITES,
    OPT_LOCKS,
    OPT_HOT,
    OPT_ALL_FRAMES,
    OPT_AT,
    OPT_ROWS,
    OPT_ASCII,
    OPT_LIMIT,
    OPT_OLDER_THAN,
    OPT_RANK,
    OPT_AGES,
    OPT_MERGE,
};

static const struct option report_options[] = {
    {"json", no_argument, NULL, OPT_JSON},
    {"fail-on-leak", optional_argument, NULL, OPT_FAIL_ON_LEAK},
    {"suppressions", required_argument, NULL, OPT_SUPPRESSIONS},
    {"no-default-suppressions", no_argument, NULL, OPT_NO_DEFAULT_SUPP},
    {"top", required_argument, NULL, OPT_TOP},
    {"sites", required_argument, NULL, OPT_SITES},
    {"locks", no_argument, NULL, OPT_LOCKS},
    {"hot", no_argument, NULL, OPT_HOT},
    {"all-frames", no_argument, NULL, OPT_ALL_FRAMES},
    {"at", required_argument, NULL, OPT_AT},
    {"rows", required_argument, NULL, OPT_ROWS},
    {"ascii", no_argument, NULL, OPT_ASCII},
    {"limit", required_argument, NULL, OPT_LIMIT},
    {"older-than", required_argument, NULL, OPT_OLDER_THAN},
    {"rank", required_argument, NULL, OPT_RANK},
    {"ages", no_argument, NULL, OPT_AGES},
    {"merge", no_argument, NULL, OPT_MERGE},
    {"output", required_argument, NULL, 'o'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

typedef struct {
    bool json, fail_on_leak, no_default_supp, help, top_set, sites_set, locks, hot, all_frames;
    bool rows_set, ascii, fail_all, fail_possible;
    bool rank_suspects, ages; /* leaks --rank suspects, --ages */
    uint64_t older_than_ns;   /* leaks --older-than */
    bool merge;               /* --merge: one report over every trace (merge.c) */
    uint64_t top, sites, rows;
    uint64_t limit; /* growth --limit, bytes */
    pa_at_t at;
    const char *output;
    pa_strlist_t supp_files;
} cli_opts_t;

/* Which options a command accepts. */
enum {
    ACCEPT_LEAKS = 1,
    ACCEPT_SUMMARY = 2,
    ACCEPT_RUN = 4,
    ACCEPT_LOCKS = 8,
    ACCEPT_HOT = 16,
    ACCEPT_TIMELINE = 32,
    ACCEPT_GROWTH = 64,
};

static bool accepts(int opt, int cmd)
{
    switch (opt) {
    case OPT_JSON:
    case OPT_TOP:
    case OPT_ALL_FRAMES:
    case 'h':
        return true;
    case OPT_FAIL_ON_LEAK:
    case OPT_SUPPRESSIONS:
    case OPT_NO_DEFAULT_SUPP:
        return cmd & (ACCEPT_LEAKS | ACCEPT_RUN);
    case 'o':
        return cmd & ACCEPT_RUN;
    case OPT_SITES:
        return cmd & ACCEPT_LOCKS;
    case OPT_LOCKS:
    case OPT_HOT:
        return cmd & ACCEPT_RUN;
    case OPT_AT:
        return cmd & (ACCEPT_LEAKS | ACCEPT_SUMMARY);
    case OPT_MERGE:
        return cmd & (ACCEPT_LEAKS | ACCEPT_SUMMARY | ACCEPT_GROWTH);
    case OPT_ROWS:
    case OPT_ASCII:
        return cmd & ACCEPT_TIMELINE;
    case OPT_LIMIT:
        return cmd & ACCEPT_GROWTH;
    case OPT_OLDER_THAN:
    case OPT_RANK:
    case OPT_AGES:
        return cmd & ACCEPT_LEAKS;
    default:
        return false;
    }
}

/* A size: digits, then optionally K, M, G or T (binary multiples; "KiB", "KB", "k" also read).
 * 0 or -1. */
static int parse_bytes(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    const char *c = s;
    if (*c < '0' || *c > '9')
        return -1;
    for (; *c >= '0' && *c <= '9'; c++) {
        if (v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*c - '0');
    }
    static const char units[] = "kmgt";
    const char *u = *c ? strchr(units, *c | 0x20) : NULL;
    if (u) {
        for (const char *x = units; x <= u; x++) {
            if (v > UINT64_MAX / 1024)
                return -1;
            v *= 1024;
        }
        c++;
        if (*c == 'i')
            c++;
        if (*c == 'B' || *c == 'b')
            c++;
    } else if (*c == 'B' || *c == 'b') {
        c++;
    }
    if (*c)
        return -1;
    *out = v;
    return 0;
}

/* Parses argv[1..] of a subcommand (argv[0] is its name). Returns the index of the first operand,
 * or -1 after printing a usage error. */
static int parse(int argc, char **argv, int cmd, cli_opts_t *o)
{
    /* run: '+' stops at the first operand (CMD keeps its own options); the reports take options
     * anywhere. ':' reports a missing argument as ':'. */
    const char *shortopts = cmd == ACCEPT_RUN ? "+:ho:" : ":h";
    opterr = 0;
    optind = 0;
    int c, li = -1;
    while ((c = getopt_long(argc, argv, shortopts, report_options, &li)) != -1) {
        const char *opt = argv[optind - 1];
        if (c == '?' || (c != ':' && !accepts(c, cmd))) {
            char name[64];
            if (c != '?' && li >= 0) /* a known option, but not of this command */
                snprintf(name, sizeof name, "--%s", report_options[li].name);
            else if (c != '?' || (optopt && optopt < 256))
                snprintf(name, sizeof name, "-%c", c != '?' ? c : optopt);
            else
                snprintf(name, sizeof name, "%s", opt);
            pa_msg_error("%s: unknown option '%s'; see 'perfshim help %s'", argv[0], name, argv[0]);
            return -1;
        }
        li = -1;
        switch (c) {
        case ':':
            pa_msg_error("%s: option '%s' needs an argument", argv[0], opt);
            return -1;
        case 'h':
            o->help = true;
            break;
        case 'o':
            o->output = optarg;
            break;
        case OPT_JSON:
            o->json = true;
            break;
        case OPT_FAIL_ON_LEAK:
            o->fail_on_leak = true;
            if (optarg && strcmp(optarg, "all") != 0 && strcmp(optarg, "possible") != 0) {
                pa_msg_error("--fail-on-leak=%s: expected 'possible' or 'all'", optarg);
                return -1;
            }
            o->fail_all = optarg && strcmp(optarg, "all") == 0;
            o->fail_possible = optarg && strcmp(optarg, "possible") == 0;
            break;
        case OPT_SUPPRESSIONS:
            if (pa_strlist_add(&o->supp_files, optarg) != PA_OK)
                return -1;
            break;
        case OPT_NO_DEFAULT_SUPP:
            o->no_default_supp = true;
            break;
        case OPT_LOCKS:
            o->locks = true;
            break;
        case OPT_HOT:
            o->hot = true;
            break;
        case OPT_ALL_FRAMES:
            o->all_frames = true;
            break;
        case OPT_TOP:
            if (pa_util_parse_u64(optarg, 0, UINT32_MAX, &o->top) != 0) {
                pa_msg_error("%s: invalid --top '%s': expected a whole number (0 for all)", argv[0],
                             optarg);
                return -1;
            }
            o->top_set = true;
            break;
        case OPT_AT:
            if (pa_model_parse_at(optarg, &o->at) != PA_OK) {
                pa_msg_error("%s: invalid --at '%s': expected a time since start (12.5, 12.5s, "
                             "500ms, 10m, 2h, 1d), 'last' or 'max'",
                             argv[0], optarg);
                return -1;
            }
            break;
        case OPT_ASCII:
            o->ascii = true;
            break;
        case OPT_OLDER_THAN:
            if (pa_ages_parse_duration(optarg, &o->older_than_ns) != PA_OK ||
                o->older_than_ns == 0) {
                pa_msg_error("%s: invalid --older-than '%s': expected a duration above 0 (60s, "
                             "250ms, 5m, 2h, 1d)",
                             argv[0], optarg);
                return -1;
            }
            break;
        case OPT_RANK:
            if (strcmp(optarg, "suspects") != 0 && strcmp(optarg, "bytes") != 0) {
                pa_msg_error("%s: invalid --rank '%s': expected 'bytes' or 'suspects'", argv[0],
                             optarg);
                return -1;
            }
            o->rank_suspects = strcmp(optarg, "suspects") == 0;
            break;
        case OPT_AGES:
            o->ages = true;
            break;
        case OPT_MERGE:
            o->merge = true;
            break;
        case OPT_ROWS:
            if (pa_util_parse_u64(optarg, 0, UINT32_MAX, &o->rows) != 0) {
                pa_msg_error("%s: invalid --rows '%s': expected a whole number (0 for all)",
                             argv[0], optarg);
                return -1;
            }
            o->rows_set = true;
            break;
        case OPT_LIMIT:
            if (parse_bytes(optarg, &o->limit) != 0 || !o->limit) {
                pa_msg_error("%s: invalid --limit '%s': expected a size in bytes above 0 (4G, "
                             "512M, 65536)",
                             argv[0], optarg);
                return -1;
            }
            break;
        case OPT_SITES:
            if (pa_util_parse_u64(optarg, 0, UINT32_MAX, &o->sites) != 0) {
                pa_msg_error("%s: invalid --sites '%s': expected a whole number (0 for all)",
                             argv[0], optarg);
                return -1;
            }
            o->sites_set = true;
            break;
        }
    }
    return optind;
}

static int load_suppressions(const cli_opts_t *o, pa_suppress_t *s)
{
    return pa_suppress_load_all(s, !o->no_default_supp, &o->supp_files);
}

/* ---- commands -------------------------------------------------------------------------------- */

/* What every command of this file does first: its options parsed (accept: its ACCEPT_ bit), its
 * --help printed, and at least one operand (`what`: "trace file") required. The index of the first
 * operand, or -1 with *status the command's exit status (PA_EXIT_OK after --help, else
 * PA_EXIT_USAGE: a message said why). */
static int begin(int argc, char **argv, int accept, const char *help, const char *what,
                 cli_opts_t *o, int *status)
{
    *status = PA_EXIT_USAGE;
    int first = parse(argc, argv, accept, o);
    if (first < 0)
        return -1;
    if (o->help) {
        fputs(help, stdout);
        *status = PA_EXIT_OK;
        return -1;
    }
    if (first >= argc) {
        pa_msg_error("%s: no %s given; see 'perfshim help %s'", argv[0], what, argv[0]);
        return -1;
    }
    return first;
}

/* --merge's inputs: the pieces of one process's trace (PERFSHIM_MAX_TRACE) each hold that
 * process's whole state, so only its latest piece is merged (pieces.h). */
static int merge_inputs(char *const *paths, size_t n, pa_strlist_t *out)
{
    int rc = pa_pieces_latest_only(paths, n, out);
    if (rc != PA_OK)
        pa_msg_error("out of memory");
    return rc;
}

static int cmd_leaks(int argc, char **argv)
{
    cli_opts_t o = {0};
    pa_suppress_t supp = {0};
    int status;
    int first = begin(argc, argv, ACCEPT_LEAKS, help_leaks, "trace file", &o, &status);
    if (first < 0)
        goto out;
    if (load_suppressions(&o, &supp) != PA_OK)
        goto out;
    pa_leaks_opts_t lo = {.json = o.json,
                          .top = o.top,
                          .supp = &supp,
                          .all_frames = o.all_frames,
                          .at = o.at,
                          .fail_all = o.fail_all,
                          .fail_possible = o.fail_possible};
    lo.older_than_ns = o.older_than_ns;
    lo.rank_suspects = o.rank_suspects;
    lo.ages = o.ages;
    bool leaked = false;
    int n = argc - first;
    pa_symbols_share(n > 1); /* each module opened once for all the traces */
    pa_strlist_t latest = {0};
    int rc = o.merge ? merge_inputs(argv + first, (size_t)n, &latest) : PA_OK;
    if (rc == PA_OK)
        rc = o.merge ? pa_merge_leaks(latest.items, latest.n, &lo, stdout, &leaked)
                     : pa_leaks_files(argv + first, (size_t)n, &lo, n > 1, stdout, &leaked);
    pa_strlist_free(&latest);
    pa_symbols_share(false);
    if (rc != PA_OK)
        status = PA_EXIT_USAGE;
    else if (o.fail_on_leak && leaked)
        status = PA_EXIT_FINDINGS;
    else
        status = PA_EXIT_OK;
out:
    pa_suppress_free(&supp);
    pa_strlist_free(&o.supp_files);
    return status;
}

static int cmd_summary(int argc, char **argv)
{
    cli_opts_t o = {0};
    int status;
    int first = begin(argc, argv, ACCEPT_SUMMARY, help_summary, "trace file", &o, &status);
    if (first < 0)
        goto out;
    pa_summary_opts_t so = {.json = o.json,
                            .top = o.top_set ? o.top : PA_SUMMARY_DEFAULT_TOP,
                            .all_frames = o.all_frames,
                            .at = o.at};
    int n = argc - first;
    pa_symbols_share(n > 1);
    pa_strlist_t latest = {0};
    int rc = o.merge ? merge_inputs(argv + first, (size_t)n, &latest) : PA_OK;
    if (rc == PA_OK)
        rc = o.merge ? pa_merge_summary(latest.items, latest.n, &so, stdout)
                     : pa_summary_files(argv + first, (size_t)n, &so, n > 1, stdout);
    pa_strlist_free(&latest);
    pa_symbols_share(false);
    status = rc == PA_OK ? PA_EXIT_OK : PA_EXIT_USAGE;
out:
    pa_strlist_free(&o.supp_files);
    return status;
}

static int cmd_timeline(int argc, char **argv)
{
    cli_opts_t o = {0};
    int status;
    int first = begin(argc, argv, ACCEPT_TIMELINE, help_timeline, "trace file", &o, &status);
    if (first < 0)
        goto out;
    pa_timeline_opts_t to = {
        .json = o.json,
        .top = o.top_set ? o.top : PA_TIMELINE_DEFAULT_TOP,
        .rows = o.rows_set ? o.rows : PA_TIMELINE_DEFAULT_ROWS,
        .ascii = o.ascii,
        .all_frames = o.all_frames,
    };
    int n = argc - first;
    pa_symbols_share(n > 1); /* each module opened once for all the traces */
    int rc = pa_timeline_files(argv + first, (size_t)n, &to, n > 1, stdout);
    pa_symbols_share(false);
    status = rc == PA_OK ? PA_EXIT_OK : PA_EXIT_USAGE;
out:
    pa_strlist_free(&o.supp_files);
    return status;
}

static int cmd_growth(int argc, char **argv)
{
    cli_opts_t o = {0};
    int status;
    int first = begin(argc, argv, ACCEPT_GROWTH, help_growth, "trace file", &o, &status);
    if (first < 0)
        goto out;
    pa_growth_opts_t go = {
        .json = o.json,
        .top = o.top_set ? o.top : PA_GROWTH_DEFAULT_TOP,
        .limit = o.limit,
        .all_frames = o.all_frames,
    };
    int n = argc - first;
    pa_symbols_share(n > 1); /* each module opened once for all the traces */
    pa_strlist_t latest = {0};
    int rc = o.merge ? merge_inputs(argv + first, (size_t)n, &latest) : PA_OK;
    if (rc == PA_OK)
        rc = o.merge ? pa_growth_merge(latest.items, latest.n, &go, stdout)
                     : pa_growth_files(argv + first, (size_t)n, &go, n > 1, stdout);
    pa_strlist_free(&latest);
    pa_symbols_share(false);
    status = rc == PA_OK ? PA_EXIT_OK : PA_EXIT_USAGE;
out:
    pa_strlist_free(&o.supp_files);
    return status;
}

static int cmd_locks(int argc, char **argv)
{
    cli_opts_t o = {0};
    int status;
    int first = begin(argc, argv, ACCEPT_LOCKS, help_locks, "trace file", &o, &status);
    if (first < 0)
        goto out;
    pa_locks_opts_t lo = {
        .json = o.json,
        .top = o.top_set ? o.top : PA_LOCKS_DEFAULT_TOP,
        .sites = o.sites_set ? o.sites : PA_LOCKS_DEFAULT_SITES,
        .all_frames = o.all_frames,
    };
    int n = argc - first;
    pa_symbols_share(n > 1); /* each module opened once for all the traces */
    int rc = pa_locks_files(argv + first, (size_t)n, &lo, n > 1, stdout);
    pa_symbols_share(false);
    status = rc == PA_OK ? PA_EXIT_OK : PA_EXIT_USAGE;
out:
    pa_strlist_free(&o.supp_files);
    return status;
}

static int cmd_hot(int argc, char **argv)
{
    cli_opts_t o = {0};
    int status;
    int first = begin(argc, argv, ACCEPT_HOT, help_hot, "trace file", &o, &status);
    if (first < 0)
        goto out;
    pa_hot_opts_t ho = {
        .json = o.json, .top = o.top_set ? o.top : PA_HOT_DEFAULT_TOP, .all_frames = o.all_frames};
    int n = argc - first;
    pa_symbols_share(n > 1); /* each module opened once for all the traces */
    int rc = pa_hot_files(argv + first, (size_t)n, &ho, n > 1, stdout);
    pa_symbols_share(false);
    status = rc == PA_OK ? PA_EXIT_OK : PA_EXIT_USAGE;
out:
    pa_strlist_free(&o.supp_files);
    return status;
}

static int cmd_run(int argc, char **argv)
{
    cli_opts_t o = {0};
    pa_suppress_t supp = {0};
    int status;
    int first = begin(argc, argv, ACCEPT_RUN, help_run, "command", &o, &status);
    if (first < 0)
        goto out;
    if (o.output && !*o.output) {
        pa_msg_error("run: -o needs a non-empty path template");
        goto out;
    }
    if (load_suppressions(&o, &supp) != PA_OK)
        goto out;
    pa_run_opts_t ro = {
        .output = o.output,
        .fail_on_leak = o.fail_on_leak,
        .leaks = {.json = o.json,
                  .top = o.top,
                  .supp = &supp,
                  .all_frames = o.all_frames,
                  .fail_all = o.fail_all,
                  .fail_possible = o.fail_possible},
        .locks = o.locks,
        .hot = o.hot,
    };
    pa_symbols_share(true); /* a build's traces: each module opened once (issue 12) */
    status = pa_run_command(&ro, argv + first);
    pa_symbols_share(false);
out:
    pa_suppress_free(&supp);
    pa_strlist_free(&o.supp_files);
    return status;
}

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} command_t;

static const command_t commands[] = {
    {"leaks", cmd_leaks, help_leaks},
    {"summary", cmd_summary, help_summary},
    {"run", cmd_run, help_run},
    {"locks", cmd_locks, help_locks},
    {"hot", cmd_hot, help_hot},
    {"timeline", cmd_timeline, help_timeline},
    {"ctl", cmd_ctl, help_ctl},
    {"growth", cmd_growth, help_growth},
    {"export", pa_export_main, pa_export_help},
    {"diff", pa_diff_main, pa_diff_help},
    {"check", pa_check_main, pa_check_help},
    {"report", pa_html_main, pa_html_help},
    {"advise", pa_advise_main, pa_advise_help},
    {"merge", pa_mergeout_main, pa_mergeout_help},
};

/* --sysroot DIR, --debug-dir DIR (repeatable) and --symbol-cache DIR, accepted by every command
 * that reads traces
 * (not run, ctl, help): taken out of argv before the command parses its own options, up to a
 * "--". Returns the new argc, or -1 after a message. */
static int take_search_options(const char *cmd, int argc, char **argv)
{
    if (strcmp(cmd, "run") == 0 || strcmp(cmd, "ctl") == 0)
        return argc;
    const char *sysroot = NULL, *cache = NULL;
    const char *dirs[16];
    size_t ndirs = 0;
    int out = 2;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *val = NULL;
        bool is_root = false, is_dir = false, is_cache = false;
        if (strcmp(a, "--") == 0) {
            while (i < argc)
                argv[out++] = argv[i++];
            break;
        }
        if (strncmp(a, "--sysroot", 9) == 0 && (a[9] == 0 || a[9] == '='))
            is_root = true;
        else if (strncmp(a, "--debug-dir", 11) == 0 && (a[11] == 0 || a[11] == '='))
            is_dir = true;
        else if (strncmp(a, "--symbol-cache", 14) == 0 && (a[14] == 0 || a[14] == '='))
            is_cache = true;
        if (!is_root && !is_dir && !is_cache) {
            argv[out++] = argv[i];
            continue;
        }
        const char *eq = strchr(a, '=');
        if (eq)
            val = eq + 1;
        else if (i + 1 < argc)
            val = argv[++i];
        if (!val || !*val) {
            pa_msg_error("%s needs a directory", is_root    ? "--sysroot"
                                                 : is_cache ? "--symbol-cache"
                                                            : "--debug-dir");
            return -1;
        }
        if (is_cache)
            cache = val;
        else if (is_root)
            sysroot = val;
        else if (ndirs == sizeof dirs / sizeof dirs[0]) {
            pa_msg_error("--debug-dir: at most %zu directories", ndirs);
            return -1;
        } else
            dirs[ndirs++] = val;
    }
    argv[out] = NULL;
    int rc = pa_symbols_set_search(sysroot, dirs, ndirs);
    if (rc == PA_OK)
        rc = pa_symcache_set_dir(cache);
    if (rc == PA_ENOMEM)
        pa_msg_error("out of memory");
    return rc == PA_OK ? out : -1;
}

static const command_t *find_command(const char *name)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static int dispatch(int argc, char **argv)
{
    if (argc < 2) {
        fputs(help_main, stderr);
        return PA_EXIT_USAGE;
    }
    const char *a = argv[1];
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
        fputs(help_main, stdout);
        return PA_EXIT_OK;
    }
    if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
        printf("perfshim %s (trace format version %d)\n", PERFSHIM_VERSION_STRING,
               PS_TRACE_VERSION);
        return PA_EXIT_OK;
    }
    if (strcmp(a, "help") == 0) {
        if (argc < 3) {
            fputs(help_main, stdout);
            return PA_EXIT_OK;
        }
        const command_t *c = find_command(argv[2]);
        if (!c) {
            pa_msg_error("help: unknown command '%s'; commands: run, leaks, summary, timeline, "
                         "growth, locks, hot, export, diff, check, report, advise, merge",
                         argv[2]);
            return PA_EXIT_USAGE;
        }
        fputs(c->help, stdout);
        return PA_EXIT_OK;
    }
    if (a[0] == '-') {
        pa_msg_error("unknown option '%s'; see 'perfshim --help'", a);
        return PA_EXIT_USAGE;
    }
    const command_t *c = find_command(a);
    if (!c) {
        pa_msg_error("unknown command '%s'; commands: run, leaks, summary, timeline, growth, "
                     "locks, hot, export, diff, check, report, advise, merge",
                     a);
        return PA_EXIT_USAGE;
    }
    int n = take_search_options(c->name, argc, argv);
    if (n < 0)
        return PA_EXIT_USAGE;
    int status = c->run(n - 1, argv + 1);
    pa_symbols_search_free();
    pa_symcache_free();
    return status;
}

int pa_cli_main(int argc, char **argv)
{
    int status = dispatch(argc, argv);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        pa_msg_error("cannot write to standard output");
        return PA_EXIT_USAGE;
    }
    return status;
}
