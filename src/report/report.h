/* The HTML run report (`gradguard report RUN_DIR`, docs/report.md): one
 * self-contained file drawn from a run directory's metrics.jsonl and
 * config.yaml: loss, accuracy, learning rate, the gradient norm with the
 * guard's events, gradient flow per layer, update/weight ratios, dead and
 * saturated units, the diagnosis, the config and the environment. */
#ifndef GG_REPORT_H
#define GG_REPORT_H

#include "gradguard.h"

/* Writes the report of run_dir to out_path (NULL: RUN_DIR/report.html),
 * atomically (a temporary file renamed over it). metrics.jsonl is streamed
 * a line at a time, so its length does not matter. Errors:
 *   GG_ERR_DATA  no metrics.jsonl in run_dir, or a line of it is not a JSON
 *                object (the message names the file and the line number);
 *   GG_ERR_IO    a file could not be read or the report written (the
 *                message names the path and the system's reason);
 *   GG_ERR_NOMEM, GG_ERR_ARG. */
gg_status gg_report_write(const char *run_dir, const char *out_path, gg_error *err);

#endif
