/* gradguard lab [SUITE] [--out DIR] [--quick]: runs a suite's rows (or
 * every suite) as ordinary training runs under DIR/SUITE/ROW, then prints
 * a table and writes DIR/lab.md and DIR/lab.html. */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "cli/cli.h"
#include "cli/lab.h"
#include "io/io.h"

static const char lab_usage[] =
    "usage: gradguard lab [SUITE] [--out DIR] [--quick] [--threads N]\n"
    "\n"
    "Runs a suite of small experiments side by side and tabulates which configurations\n"
    "train, vanish, explode, stall, or are saved by the guard. Every row is a full run\n"
    "directory (metrics.jsonl, report) under DIR/SUITE/ROW; the table goes to the terminal,\n"
    "DIR/lab.md and DIR/lab.html.\n"
    "  SUITE        depth, explode, recurrent, optimizers, schedules, seeds, or all (default);\n"
    "               compress: accuracy, file size and speed against sparsity, float and int8\n"
    "  --out DIR    where to write (default runs/lab-<date>-<time>)\n"
    "  --quick      a few hundred steps per row: seconds per suite\n"
    "  --threads N  threads for kernels (default: all cores)\n";

typedef struct suite_run {
    const char *name;
    int n;
    lab_row rows[LAB_MAX_ROWS];
    lab_result res[LAB_MAX_ROWS];
} suite_run;

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

void cli_rmtree(const char *path) { nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

static void metric_text(const lab_result *r, char *buf, size_t cap) {
    if (isnan(r->metric))
        snprintf(buf, cap, "-");
    else if (r->classify)
        snprintf(buf, cap, "acc %.1f%%", 100 * r->metric);
    else
        snprintf(buf, cap, "loss %.4g", r->metric);
}

static void events_text(const lab_result *r, char *buf, size_t cap) {
    size_t k = 0;
    buf[0] = '\0';
#define EV(field, label)                                                                       \
    if (r->field && k < cap) k += (size_t)snprintf(buf + k, cap - k, "%s%d " label, k ? ", " : "", r->field);
    EV(clips, "clips") EV(skips, "skips") EV(spikes, "spikes") EV(rollbacks, "rollbacks")
    EV(lr_cuts, "lr cuts") EV(backoffs, "back-offs")
#undef EV
    if (!k) snprintf(buf, cap, "none");
}

static int run_suite(suite_run *s, const char *dir, bool quick, int threads) {
    s->n = lab_suite_rows(s->name, quick, s->rows, LAB_MAX_ROWS);
    char path[4200], rowdir[4200], steps[32], thr[16];
    snprintf(path, sizeof path, "%s/%s", dir, s->name);
    gg_error err = {0};
    if (cli_mkdirs(path, &err) != GG_OK) return cli_report(&err);
    for (int i = 0; i < s->n; i++) {
        lab_row *r = &s->rows[i];
        lab_result *res = &s->res[i];
        memset(res, 0, sizeof *res);
        snprintf(rowdir, sizeof rowdir, "%.4000s/%s/%s", dir, s->name, r->name);
        cli_rmtree(rowdir); /* a rerun into the same DIR */
        snprintf(path, sizeof path, "%.4000s/%s/%s.yaml", dir, s->name, r->name);
        FILE *f = fopen(path, "w");
        if (!f || fputs(r->yaml, f) < 0 || fclose(f) != 0) {
            fprintf(stderr, "gradguard: %s: cannot write: %s\n", path, strerror(errno));
            return EXIT_IO;
        }
        snprintf(steps, sizeof steps, "%lld", r->steps);
        snprintf(thr, sizeof thr, "%d", threads > 0 ? threads : 0);
        char *argv[] = {"train", path, "--out", rowdir, "--silent", "--steps", steps,
                        threads > 0 ? "--threads" : NULL, thr, NULL};
        int argc = threads > 0 ? 9 : 7;
        printf("  %-10s %-22s ", s->name, r->name);
        fflush(stdout);
        double t0 = cli_now();
        res->exit_code = cmd_train(argc, argv);
        res->seconds = cli_now() - t0;
        if (lab_read_run(rowdir, res) != 0) res->exit_code = res->exit_code ? res->exit_code : EXIT_IO;
        printf("%.1fs\n", res->seconds);
    }
    lab_judge(s->rows, s->res, s->n);
    return EXIT_OK;
}

static void print_table(FILE *f, const suite_run *s, bool markdown) {
    char metric[32], events[128];
    if (markdown) {
        fprintf(f, "\n## %s\n\n| config | verdict | result | first-layer \\|g\\| | last-layer \\|g\\| | guard events | time |\n"
                   "|---|---|---|---:|---:|---|---:|\n", s->name);
    } else {
        fprintf(f, "\n%s\n%-22s %-19s %-13s %11s %11s  %s\n", s->name, "config", "verdict", "result",
                "first |g|", "last |g|", "guard events");
    }
    for (int i = 0; i < s->n; i++) {
        const lab_result *r = &s->res[i];
        metric_text(r, metric, sizeof metric);
        events_text(r, events, sizeof events);
        if (markdown)
            fprintf(f, "| %s: %s | **%s** | %s | %.2e | %.2e | %s | %.1fs |\n", s->rows[i].name,
                    s->rows[i].desc, lab_verdict_name(r->verdict), metric, r->grad_first,
                    r->grad_last, events, r->seconds);
        else
            fprintf(f, "%-22s %-19s %-13s %11.2e %11.2e  %s\n", s->rows[i].name,
                    lab_verdict_name(r->verdict), metric, r->grad_first, r->grad_last, events);
    }
}

static void html_escape(FILE *f, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

/* The training loss as a small inline SVG line, log scale. */
static void sparkline(FILE *f, const lab_result *r) {
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < r->n_curve; i++)
        if (isfinite(r->curve[i]) && r->curve[i] > 0) {
            lo = fmin(lo, log10(r->curve[i]));
            hi = fmax(hi, log10(r->curve[i]));
        }
    fputs("<svg class=\"spark\" viewBox=\"0 0 120 32\" role=\"img\"><title>training loss (log scale)</title>", f);
    if (isfinite(lo) && r->n_curve > 1) {
        if (hi - lo < 1e-9) hi = lo + 1;
        fputs("<polyline fill=\"none\" stroke=\"currentColor\" stroke-width=\"1.5\" points=\"", f);
        for (int i = 0; i < r->n_curve; i++) {
            if (!isfinite(r->curve[i]) || r->curve[i] <= 0) continue;
            double x = 120.0 * i / (r->n_curve - 1), y = 30 - 28 * (log10(r->curve[i]) - lo) / (hi - lo);
            fprintf(f, "%.1f,%.1f ", x, y);
        }
        fputs("\"/>", f);
    }
    fputs("</svg>", f);
}

static gg_status write_html(const char *path, suite_run *suites, int n, bool quick, gg_error *err) {
    gg_atomic_file af;
    gg_status s = gg_atomic_open(&af, path, err);
    if (s != GG_OK) return s;
    FILE *f = af.f;
    fputs("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
          "<title>gradguard lab</title><style>\n"
          ":root{--bg:#fff;--fg:#1b1f24;--muted:#5b6470;--line:#d8dde3;--card:#f6f8fa;"
          "--trains:#1a7f37;--vanishes:#8250df;--explodes:#cf222e;--stalls:#9a6700;--saved:#0969da}\n"
          "@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#9198a1;"
          "--line:#30363d;--card:#161b22;--trains:#3fb950;--vanishes:#a371f7;--explodes:#f85149;"
          "--stalls:#d29922;--saved:#58a6ff}}\n"
          "body{margin:0;padding:1rem;background:var(--bg);color:var(--fg);"
          "font:15px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif}\n"
          "main{max-width:1200px;margin:0 auto}h1{font-size:1.5rem}h2{margin-top:2rem}"
          ".note{color:var(--muted)}\n"
          ".wrap{overflow-x:auto}table{border-collapse:collapse;width:100%;min-width:720px}"
          "th,td{padding:.45rem .6rem;border-bottom:1px solid var(--line);text-align:left;vertical-align:middle}"
          "th{color:var(--muted);font-weight:600;font-size:.85rem}td.num{text-align:right;font-variant-numeric:tabular-nums}\n"
          ".v{display:inline-block;padding:.1rem .5rem;border-radius:1rem;color:#fff;font-size:.8rem;white-space:nowrap}"
          ".v.trains{background:var(--trains)}.v.vanishes{background:var(--vanishes)}"
          ".v.explodes{background:var(--explodes)}.v.stalls{background:var(--stalls)}"
          ".v.saved{background:var(--saved)}.v.failed{background:var(--muted)}\n"
          ".spark{width:120px;height:32px;color:var(--fg)}.desc{color:var(--muted);font-size:.85rem}"
          "a{color:var(--saved)}\n</style></head><body><main>\n<h1>gradguard lab</h1>\n",
          f);
    fprintf(f, "<p class=\"note\">%s mode. Verdicts: <b>trains</b>; <b>vanishes</b> (vanishing gradients "
               "diagnosed and nothing learned); <b>explodes</b> (gave up, non-finite, or the loss rose); "
               "<b>stalls</b> (the loss fell less than 10%%); <b>saved by the guard</b> (trains with "
               "guard actions where the unguarded baseline explodes). |g|: the latest monitored "
               "gradient norm of the first and last weight.</p>\n",
            quick ? "Quick" : "Full");
    static const char *const cls[] = {"trains", "vanishes", "explodes", "stalls", "saved", "failed"};
    char metric[32], events[128];
    for (int k = 0; k < n; k++) {
        suite_run *su = &suites[k];
        fprintf(f, "<h2 id=\"%s\">%s</h2>\n<div class=\"wrap\"><table><thead><tr><th>config</th>"
                   "<th>verdict</th><th>result</th><th>training loss</th><th>first-layer |g|</th>"
                   "<th>last-layer |g|</th><th>guard events</th><th>time</th><th></th></tr></thead><tbody>\n",
                su->name, su->name);
        for (int i = 0; i < su->n; i++) {
            const lab_result *r = &su->res[i];
            metric_text(r, metric, sizeof metric);
            events_text(r, events, sizeof events);
            fputs("<tr><td><b>", f);
            html_escape(f, su->rows[i].name);
            fputs("</b><br><span class=\"desc\">", f);
            html_escape(f, su->rows[i].desc);
            fprintf(f, "</span></td><td><span class=\"v %s\">%s</span></td><td>%s</td><td>",
                    cls[r->verdict], lab_verdict_name(r->verdict), metric);
            sparkline(f, r);
            fprintf(f, "</td><td class=\"num\">%.2e</td><td class=\"num\">%.2e</td><td>%s</td>"
                       "<td class=\"num\">%.1fs</td><td><a href=\"%s/%s/report.html\">report</a></td></tr>\n",
                    r->grad_first, r->grad_last, events, r->seconds, su->name, su->rows[i].name);
            if (r->diagnosis[0]) {
                fputs("<tr><td></td><td colspan=\"8\" class=\"desc\">", f);
                html_escape(f, r->diagnosis);
                fputs("</td></tr>\n", f);
            }
        }
        fputs("</tbody></table></div>\n", f);
    }
    fputs("</main></body></html>\n", f);
    return gg_atomic_commit(&af, err);
}

int cmd_lab(int argc, char **argv) {
    const char *suite = NULL, *out = NULL;
    bool quick = false;
    int threads = 0;
    for (int i = 1; i < argc; i++) {
        int missing = 0;
        const char *v;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(lab_usage, stdout);
            return EXIT_OK;
        } else if ((v = cli_option(argc, argv, &i, "--out", &missing))) {
            out = v;
        } else if ((v = cli_option(argc, argv, &i, "--threads", &missing))) {
            char *end;
            long t = strtol(v, &end, 10);
            if (*end || t < 1 || t > 1024) {
                fprintf(stderr, "gradguard: --threads: expected 1 to 1024, found '%s'\n", v);
                return EXIT_USAGE;
            }
            threads = (int)t;
        } else if (!strcmp(argv[i], "--quick")) {
            quick = true;
        } else if (missing) {
            fprintf(stderr, "gradguard: %s needs a value\n", argv[i]);
            return EXIT_USAGE;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "gradguard: lab: unknown option '%s' (see gradguard lab --help)\n", argv[i]);
            return EXIT_USAGE;
        } else if (!suite) {
            suite = argv[i];
        } else {
            fprintf(stderr, "gradguard: lab: one SUITE only, found '%s' and '%s'\n", suite, argv[i]);
            return EXIT_USAGE;
        }
    }
    if (suite && !strcmp(suite, "compress")) { /* accuracy against sparsity, float and int8 */
        char cdir[4096];
        if (out) snprintf(cdir, sizeof cdir, "%s", out);
        else snprintf(cdir, sizeof cdir, "runs/lab-compress");
        gg_error cerr = {0};
        if (cli_mkdirs(cdir, &cerr) != GG_OK) return cli_report(&cerr);
        return cmd_compress_lab(cdir, quick, threads);
    }
    static suite_run suites[8];
    int n = 0;
    for (int k = 0; lab_suite_names[k]; k++)
        if (!suite || !strcmp(suite, "all") || !strcmp(suite, lab_suite_names[k]))
            suites[n++].name = lab_suite_names[k];
    if (n == 0) {
        fprintf(stderr, "gradguard: lab: unknown suite '%s' (expected one of: depth, explode, recurrent, "
                        "optimizers, schedules, seeds, all)\n", suite);
        return EXIT_USAGE;
    }
    char dir[4096];
    if (out) {
        snprintf(dir, sizeof dir, "%s", out);
    } else {
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        char stamp[32];
        strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
        snprintf(dir, sizeof dir, "runs/lab-%s", stamp);
    }
    gg_error err = {0};
    if (cli_mkdirs(dir, &err) != GG_OK) return cli_report(&err);
    printf("gradguard lab: %d suite%s, %s mode, writing %s\n", n, n > 1 ? "s" : "", quick ? "quick" : "full", dir);
    for (int k = 0; k < n; k++) {
        int code = run_suite(&suites[k], dir, quick, threads);
        if (code) return code;
    }
    for (int k = 0; k < n; k++) print_table(stdout, &suites[k], false);
    char path[4200];
    snprintf(path, sizeof path, "%s/lab.md", dir);
    gg_atomic_file af;
    gg_status s = gg_atomic_open(&af, path, &err);
    if (s == GG_OK) {
        fprintf(af.f, "# gradguard lab (%s mode)\n", quick ? "quick" : "full");
        for (int k = 0; k < n; k++) print_table(af.f, &suites[k], true);
        s = gg_atomic_commit(&af, &err);
    }
    if (s == GG_OK) {
        snprintf(path, sizeof path, "%s/lab.html", dir);
        s = write_html(path, suites, n, quick, &err);
    }
    if (s != GG_OK) return cli_report(&err);
    printf("\nlab table: %s/lab.md and %s/lab.html\n", dir, dir);
    int failed = 0;
    for (int k = 0; k < n; k++)
        for (int i = 0; i < suites[k].n; i++) failed += suites[k].res[i].verdict == LAB_FAILED;
    return failed ? EXIT_FAILED : EXIT_OK;
}
