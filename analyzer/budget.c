/* SPDX-License-Identifier: MIT */
/*
 * budget.c — budgets of the regression gate (budget.h; docs/analyzer.md, "Budgets").
 *
 * A rule is `METRIC=LIMIT`, optionally followed by a scope. LIMIT with a leading '+' is a
 * change against BASE (`+0`, `+64K`, `+10%`); without it, a maximum of the value itself
 * (`0`, `200M`, `1s`), which `check` needs since it has no base. Site patterns are LeakSanitizer
 * rules (suppress.c's matcher: a substring of a frame's function, file or module, `*` any run,
 * `^`/`$` anchors), matched against every visible frame of the site.
 *
 * Must not: read a trace.
 */
#include "budget.h"

#include "ages.h"
#include "report.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const pa_metric_info_t pa_metrics[PA_M_COUNT] = {
    [PA_M_LEAKED] = {"leaked", "leaked blocks", PA_UNIT_COUNT},
    [PA_M_LEAKED_BYTES] = {"leaked_bytes", "leaked bytes", PA_UNIT_BYTES},
    [PA_M_PEAK] = {"peak", "peak live bytes", PA_UNIT_BYTES},
    [PA_M_ALLOCS] = {"allocs", "allocations", PA_UNIT_COUNT},
    [PA_M_ALLOC_BYTES] = {"alloc_bytes", "bytes allocated", PA_UNIT_BYTES},
    [PA_M_LOCK_WAIT] = {"lock_wait", "lock wait", PA_UNIT_NS},
    [PA_M_CPU] = {"cpu", "CPU samples", PA_UNIT_COUNT},
};

const char *pa_metric_format(pa_metric_t m, uint64_t v, char *buf, size_t size)
{
    switch (pa_metrics[m].unit) {
    case PA_UNIT_BYTES:
        return pa_util_format_bytes(v, buf, size);
    case PA_UNIT_NS:
        return pa_util_format_ns((double)v, buf, size);
    default:
        snprintf(buf, size, "%llu", (unsigned long long)v);
        return buf;
    }
}

const char *pa_metric_format_change(pa_metric_t m, uint64_t base, uint64_t value, char *buf,
                                    size_t size)
{
    char x[48];
    pa_metric_format(m, value >= base ? value - base : base - value, x, sizeof x);
    snprintf(buf, size, "%s%s", value == base ? "" : value > base ? "+" : "-", x);
    return buf;
}

/* ---- parsing --------------------------------------------------------------------------------- */

/* A size: a number, then optionally K, M, G or T (binary multiples; "KiB", "KB" too). */
static int parse_size(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || !(v >= 0))
        return -1;
    static const char units[] = "kmgt";
    const char *u = *end ? strchr(units, *end | 0x20) : NULL;
    if (u) {
        v *= pow(1024.0, (double)(u - units + 1));
        end++;
        if (*end == 'i')
            end++;
    }
    if (*end == 'B' || *end == 'b')
        end++;
    if (*end)
        return -1;
    *out = v;
    return 0;
}

static int parse_limit(pa_budget_rule_t *r, const char *s)
{
    r->relative = *s == '+';
    if (r->relative)
        s++;
    size_t len = strlen(s);
    if (r->relative && len > 1 && s[len - 1] == '%') {
        char num[64];
        char *end;
        if (len >= sizeof num)
            return -1;
        memcpy(num, s, len - 1);
        num[len - 1] = '\0';
        r->limit = strtod(num, &end);
        r->percent = true;
        return end != num && !*end && r->limit >= 0 ? 0 : -1;
    }
    if (!*s || *s == '-')
        return -1;
    switch (pa_metrics[r->metric].unit) {
    case PA_UNIT_BYTES:
        return parse_size(s, &r->limit);
    case PA_UNIT_NS: {
        uint64_t ns;
        if (pa_ages_parse_duration(s, &ns) != PA_OK)
            return -1;
        r->limit = (double)ns;
        return 0;
    }
    default: {
        uint64_t v;
        if (pa_util_parse_u64(s, 0, UINT64_MAX, &v) != 0)
            return -1;
        r->limit = (double)v;
        return 0;
    }
    }
}

static const char limit_help[] =
    "expected METRIC=LIMIT [total|sites|site:PATTERN]; METRIC is leaked, leaked_bytes, peak, "
    "allocs, alloc_bytes, lock_wait or cpu; LIMIT is +N or +N%% (a change against the base) or "
    "N (a maximum), N with K/M/G for bytes and ms/s/m for lock_wait";

/* Parses one rule (its text already trimmed) into a new rule of b. */
static int add_rule(pa_budget_t *b, const char *text, const char *origin)
{
    char buf[1024];
    if (strlen(text) >= sizeof buf) {
        pa_msg_error("%s: budget rule too long", origin);
        return PA_EUSAGE;
    }
    strcpy(buf, text);
    char *scope = buf + strcspn(buf, " \t");
    if (*scope) {
        *scope++ = '\0';
        scope += strspn(scope, " \t");
    }
    char *eq = strchr(buf, '=');
    if (!eq) {
        pa_msg_error("%s: budget rule '%s': %s", origin, text, limit_help);
        return PA_EUSAGE;
    }
    *eq = '\0';
    int metric = -1;
    for (int m = 0; m < PA_M_COUNT; m++)
        if (strcmp(buf, pa_metrics[m].name) == 0)
            metric = m;
    if (metric < 0) {
        pa_msg_error("%s: budget rule '%s': unknown metric '%s'; %s", origin, text, buf,
                     limit_help);
        return PA_EUSAGE;
    }
    pa_budget_rule_t r = {.metric = (pa_metric_t)metric};
    if (parse_limit(&r, eq + 1) != 0) {
        pa_msg_error("%s: budget rule '%s': invalid limit '%s'; %s", origin, text, eq + 1,
                     limit_help);
        return PA_EUSAGE;
    }
    char *tail = scope + strcspn(scope, " \t");
    if (*tail) {
        *tail++ = '\0';
        if (tail[strspn(tail, " \t")]) {
            pa_msg_error("%s: budget rule '%s': one scope at most; %s", origin, text, limit_help);
            return PA_EUSAGE;
        }
    }
    int rc = PA_OK;
    if (!*scope) {
        /* a percentage of a site's few blocks is noise (1 -> 2 is +100%): totals only, unless
         * a scope asks for sites */
        r.scope = r.percent ? PA_SCOPE_TOTAL : PA_SCOPE_ALL;
    } else if (strcmp(scope, "total") == 0) {
        r.scope = PA_SCOPE_TOTAL;
    } else if (strcmp(scope, "sites") == 0) {
        r.scope = PA_SCOPE_SITES;
    } else if (strncmp(scope, "site:", 5) == 0 && scope[5]) {
        char pattern[1100];
        snprintf(pattern, sizeof pattern, "leak:%s", scope + 5);
        r.scope = PA_SCOPE_SITES;
        rc = pa_suppress_add(&r.site, pattern, origin);
    } else {
        pa_msg_error("%s: budget rule '%s': unknown scope '%s'; %s", origin, text, scope,
                     limit_help);
        return PA_EUSAGE;
    }
    char norm[1100]; /* the rule as written, blanks made one space */
    snprintf(norm, sizeof norm, "%s=%s%s%s", buf, eq + 1, *scope ? " " : "", scope);
    r.text = pa_util_strdup(norm);
    r.origin = pa_util_strdup(origin);
    if (rc != PA_OK || !r.text || !r.origin ||
        pa_util_grow((void **)&b->rules, &b->cap, b->n + 1, sizeof *b->rules) != PA_OK) {
        free(r.text);
        free(r.origin);
        pa_suppress_free(&r.site);
        return PA_ENOMEM;
    }
    b->rules[b->n++] = r;
    return PA_OK;
}

/* s without leading and trailing blanks, in place. */
static char *trim(char *s)
{
    s += strspn(s, " \t\r\n");
    size_t n = strlen(s);
    while (n && strchr(" \t\r\n", s[n - 1]))
        s[--n] = '\0';
    return s;
}

int pa_budget_parse_list(pa_budget_t *b, const char *list, const char *origin)
{
    char *copy = pa_util_strdup(list);
    if (!copy)
        return PA_ENOMEM;
    int rc = PA_OK;
    char *save = NULL;
    size_t added = 0;
    for (char *item = strtok_r(copy, ",", &save); item && rc == PA_OK;
         item = strtok_r(NULL, ",", &save)) {
        item = trim(item);
        if (*item) {
            rc = add_rule(b, item, origin);
            added++;
        }
    }
    if (rc == PA_OK && !added) {
        pa_msg_error("%s: no budget rule in '%s'; %s", origin, list, limit_help);
        rc = PA_EUSAGE;
    }
    free(copy);
    return rc;
}

int pa_budget_load_file(pa_budget_t *b, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        pa_msg_error("%s: cannot read the budget file: %s", path, strerror(errno));
        return PA_EIO;
    }
    char line[2048];
    unsigned lineno = 0;
    int rc = PA_OK;
    while (rc == PA_OK && fgets(line, sizeof line, f)) {
        lineno++;
        char origin[600];
        snprintf(origin, sizeof origin, "%s:%u", path, lineno);
        if (!strchr(line, '\n') && !feof(f)) {
            pa_msg_error("%s: line too long", origin);
            rc = PA_EUSAGE;
            break;
        }
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *s = trim(line);
        if (*s)
            rc = add_rule(b, s, origin);
    }
    if (rc == PA_OK && ferror(f)) {
        pa_msg_error("%s: cannot read the budget file", path);
        rc = PA_EIO;
    }
    fclose(f);
    return rc;
}

void pa_budget_free(pa_budget_t *b)
{
    for (size_t i = 0; i < b->n; i++) {
        free(b->rules[i].text);
        free(b->rules[i].origin);
        pa_suppress_free(&b->rules[i].site);
        pa_strlist_free(&b->rules[i].failures);
    }
    free(b->rules);
    memset(b, 0, sizeof *b);
}

/* ---- evaluation ------------------------------------------------------------------------------ */

/* "function (file:line)", or the brief name of a frame without a source line. */
static void frame_where(const pa_frame_t *f, char *buf, size_t size)
{
    char brief[256];
    pa_report_frame_brief(f, brief, sizeof brief);
    if (f->file)
        snprintf(buf, size, "%s (%s:%u)", brief, pa_util_basename(f->file), (unsigned)f->line);
    else
        snprintf(buf, size, "%s", brief);
}

const char *pa_budget_where(const pa_frame_t *frames, size_t n, char *buf, size_t size)
{
    if (!frames) {
        snprintf(buf, size, "total");
        return buf;
    }
    if (!n) {
        snprintf(buf, size, "a site without frames");
        return buf;
    }
    char inner[300], user[300];
    frame_where(&frames[0], inner, sizeof inner);
    size_t i = 1;
    while (!frames[0].file && i < n && !frames[i].file)
        i++;
    if (!frames[0].file && i < n) { /* a library's frame: name the first one with a line too */
        frame_where(&frames[i], user, sizeof user);
        snprintf(buf, size, "%s from %s", inner, user);
    } else {
        snprintf(buf, size, "%s", inner);
    }
    pa_util_make_printable(buf, strlen(buf));
    return buf;
}

bool pa_budget_check(pa_budget_rule_t *r, const pa_frame_t *frames, size_t nframes, bool has_base,
                     uint64_t base, uint64_t value)
{
    bool total = frames == NULL;
    if (r->skipped || (total && r->scope == PA_SCOPE_SITES) ||
        (!total && r->scope == PA_SCOPE_TOTAL))
        return false;
    if (!total && r->site.patterns.n && pa_suppress_match(&r->site, frames, nframes) < 0)
        return false;
    if (r->relative && (!has_base || (r->percent && !total && base == 0)))
        return false;
    r->checked++;
    pa_metric_t m = r->metric;
    double delta = (double)value - (double)base, over;
    if (!r->relative)
        over = (double)value - r->limit;
    else if (!r->percent)
        over = delta - r->limit;
    else if (base == 0)
        over = value > 0 ? delta : 0; /* the total grew from nothing: no percentage holds */
    else
        over = delta - r->limit * (double)base / 100.0;
    if (over <= 0)
        return false;
    char where[512], b[48], v[48], d[64], o[48], pct[48] = "";
    pa_budget_where(frames, nframes, where, sizeof where);
    pa_metric_format(m, value, v, sizeof v);
    pa_metric_format(m, (uint64_t)ceil(over), o, sizeof o); /* a fraction of a block: 1 */
    if (!r->relative) {
        pa_strlist_addf(&r->failures, "%s broken at %s: %s, over the budget by %s", r->text, where,
                        v, o);
        return true;
    }
    if (base)
        snprintf(pct, sizeof pct, ", %+.1f%%", delta * 100.0 / (double)base);
    pa_strlist_addf(&r->failures, "%s broken at %s: %s -> %s (%s%s), over the budget by %s",
                    r->text, where, pa_metric_format(m, base, b, sizeof b), v,
                    pa_metric_format_change(m, base, value, d, sizeof d), pct, o);
    return true;
}

void pa_budget_skip_relative(pa_budget_t *b)
{
    for (size_t i = 0; i < b->n; i++)
        if (b->rules[i].relative)
            b->rules[i].skipped = true;
}

size_t pa_budget_broken(const pa_budget_t *b)
{
    size_t n = 0;
    for (size_t i = 0; i < b->n; i++)
        n += b->rules[i].failures.n > 0;
    return n;
}

/* ---- results --------------------------------------------------------------------------------- */

void pa_budget_text(FILE *out, const pa_budget_t *b)
{
    size_t broken = pa_budget_broken(b);
    fprintf(out, "\nBudgets: %zu of %zu broken\n", broken, b->n);
    for (size_t i = 0; i < b->n; i++) {
        const pa_budget_rule_t *r = &b->rules[i];
        const char *state = r->failures.n ? "BROKEN " : r->skipped ? "skipped" : "ok     ";
        fprintf(out, "  %s %s", state, r->text);
        if (r->skipped)
            fputs(" (a change needs a base: perfshim diff)", out);
        else if (!r->failures.n)
            fprintf(out, " (%llu %s checked)", (unsigned long long)r->checked,
                    r->checked == 1 ? "place" : "places");
        fputc('\n', out);
        for (size_t k = 0; k < r->failures.n; k++)
            fprintf(out, "      %s\n", r->failures.items[k]);
    }
}

void pa_budget_json(pa_json_t *j, const pa_budget_t *b)
{
    pa_json_key(j, "budgets");
    pa_json_array_begin(j, false);
    for (size_t i = 0; i < b->n; i++) {
        const pa_budget_rule_t *r = &b->rules[i];
        pa_json_object_begin(j, false);
        pa_json_key(j, "rule");
        pa_json_string(j, r->text);
        pa_json_key(j, "origin");
        pa_json_string(j, r->origin);
        pa_json_key(j, "metric");
        pa_json_string(j, pa_metrics[r->metric].name);
        pa_json_key(j, "status");
        pa_json_string(j, r->failures.n ? "broken" : r->skipped ? "skipped" : "ok");
        pa_json_kv_u64(j, "checked", r->checked);
        pa_json_key(j, "failures");
        pa_json_array_begin(j, false);
        for (size_t k = 0; k < r->failures.n; k++)
            pa_json_string(j, r->failures.items[k]);
        pa_json_array_end(j);
        pa_json_object_end(j);
    }
    pa_json_array_end(j);
}

/* s escaped for an XML attribute or text; control characters become '?'. */
static void xml_puts(FILE *f, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        switch (c) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        default:
            fputc(c < 0x20 && c != '\n' ? '?' : c, f);
        }
    }
}

int pa_budget_junit(const pa_budget_t *b, const char *suite, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        pa_msg_error("%s: cannot write the JUnit file: %s", path, strerror(errno));
        return PA_EIO;
    }
    size_t skipped = 0, broken = pa_budget_broken(b);
    for (size_t i = 0; i < b->n; i++)
        skipped += b->rules[i].skipped;
    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n", f);
    fputs("  <testsuite name=\"", f);
    xml_puts(f, suite);
    fprintf(f, "\" tests=\"%zu\" failures=\"%zu\" errors=\"0\" skipped=\"%zu\">\n", b->n, broken,
            skipped);
    for (size_t i = 0; i < b->n; i++) {
        const pa_budget_rule_t *r = &b->rules[i];
        fputs("    <testcase classname=\"perfshim.budget\" name=\"", f);
        xml_puts(f, r->text);
        fputs("\">", f);
        if (r->failures.n) {
            fputs("\n      <failure type=\"budget\" message=\"", f);
            xml_puts(f, r->failures.items[0]);
            if (r->failures.n > 1)
                fprintf(f, " (and %zu more)", r->failures.n - 1);
            fputs("\">", f);
            for (size_t k = 0; k < r->failures.n; k++) {
                xml_puts(f, r->failures.items[k]);
                fputc('\n', f);
            }
            fputs("</failure>\n    ", f);
        } else if (r->skipped) {
            fputs("\n      <skipped message=\"a change needs a base: perfshim diff\"/>\n    ", f);
        }
        fputs("</testcase>\n", f);
    }
    fputs("  </testsuite>\n</testsuites>\n", f);
    if (fclose(f) != 0) {
        pa_msg_error("%s: cannot write the JUnit file", path);
        return PA_EIO;
    }
    return PA_OK;
}
