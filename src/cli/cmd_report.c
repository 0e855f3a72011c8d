/* gradguard report RUN_DIR [-o FILE.html]: the run's HTML report
 * (src/report, docs/report.md). Exit 2 when RUN_DIR holds no metrics.jsonl
 * or a line of it is not JSON, 3 when a file cannot be read or written. */
#include <stdio.h>
#include <string.h>
#include "cli/cli.h"
#include "report/report.h"

static const char report_usage[] =
    "usage: gradguard report RUN_DIR [-o FILE.html]\n"
    "\n"
    "Writes the run's report: one self-contained HTML file (charts, events, diagnosis,\n"
    "config, environment) drawn from RUN_DIR/metrics.jsonl and RUN_DIR/config.yaml.\n"
    "  -o, --output FILE  where to write it (default: RUN_DIR/report.html)\n";

int cmd_report(int argc, char **argv) {
    const char *dir = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        int missing = 0;
        const char *v;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(report_usage, stdout);
            return EXIT_OK;
        } else if ((v = cli_option(argc, argv, &i, "-o", &missing)) ||
                   (!missing && (v = cli_option(argc, argv, &i, "--output", &missing)))) {
            out = v;
        } else if (missing) {
            fprintf(stderr, "gradguard: %s needs a value\n", argv[i]);
            return EXIT_USAGE;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "gradguard: report: unknown option '%s' (see gradguard report --help)\n", argv[i]);
            return EXIT_USAGE;
        } else if (!dir) {
            dir = argv[i];
        } else {
            fprintf(stderr, "gradguard: report: one RUN_DIR only\n");
            return EXIT_USAGE;
        }
    }
    if (!dir) {
        fputs(report_usage, stderr);
        return EXIT_USAGE;
    }
    if (out && !*out) {
        fprintf(stderr, "gradguard: -o needs a file name\n");
        return EXIT_USAGE;
    }
    gg_error err = {0};
    gg_status s = gg_report_write(dir, out, &err);
    if (s != GG_OK) return cli_report(&err);
    if (out) printf("report: %s\n", out);
    else printf("report: %s/report.html\n", dir);
    return EXIT_OK;
}
