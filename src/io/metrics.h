/* metrics.jsonl: one JSON object per line, flushed as training goes, in
 * the shapes interfaces.md lists (step, epoch, event, summary). Written
 * with fprintf: no allocation per line. */
#ifndef GG_METRICS_H
#define GG_METRICS_H

#include <stdbool.h>
#include <stdio.h>
#include "gradguard.h"

typedef struct gg_metrics {
    FILE *f;
    char *path;
} gg_metrics;

gg_status gg_metrics_open(gg_metrics *mx, const char *path, bool append, gg_error *err);
gg_status gg_metrics_close(gg_metrics *mx, gg_error *err);
/* A step line; with params (n_params > 0) it carries the monitoring block
 * "params":{NAME:{...}} and "layers":[{...}]. */
/* The run header: {"type":"run", version, threads, blas, real, started,
 * command, resumed_from}, first in the file (and again after a resume). */
void gg_metrics_run(gg_metrics *mx, int threads, const char *command, long long resumed_from);
void gg_metrics_step(gg_metrics *mx, const gg_step_info *s, const gg_param_stats *params,
                     int n_params, const gg_layer_stats *layers, int n_layers);
/* sparsity: the pruned fraction when the run prunes, else NaN (not written). */
void gg_metrics_epoch(gg_metrics *mx, int epoch, double train_loss, double train_acc,
                      double val_loss, double val_acc, double samples_per_s, double lr,
                      double sparsity);
void gg_metrics_event(gg_metrics *mx, int64_t step, const char *kind, const char *message);
void gg_metrics_summary(gg_metrics *mx, int64_t steps, int epochs, double test_loss,
                        double test_acc, double seconds);
/* A JSON number: finite values as %.9g, others as null. */
void gg_json_number(FILE *f, double v);
/* A JSON string with escapes. */
void gg_json_string(FILE *f, const char *s);

#endif
