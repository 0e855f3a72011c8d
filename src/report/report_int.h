/* The report's insides: the run as read from a run directory (read.c),
 * reduced on the fly to bounded summaries (series.c), and the helpers the
 * page writer (report.c) and the chart drawer (svg.c) share. Memory does
 * not grow with the length of metrics.jsonl: every series keeps at most a
 * fixed number of buckets, the heat map a fixed number of columns, the
 * events a fixed number of ranges and table rows. */
#ifndef GG_REPORT_INT_H
#define GG_REPORT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "gradguard.h"

/* ---- min/max-preserving downsampling (series.c) ------------------------ */

/* One point of a series; tag carries what identifies its source line
 * beyond x (the epoch number of an epoch line). */
typedef struct rp_pt {
    double x, y;
    int64_t tag;
} rp_pt;

/* M4 aggregation: a bucket keeps its first, last, smallest and largest
 * point, which is what a line drawn at one bucket per pixel column shows;
 * merging two adjacent buckets is exact. */
typedef struct rp_bucket {
    rp_pt first, last, min, max;
    int64_t n;
} rp_bucket;

/* A series of (x, y) values in arrival order. Buckets hold `per` values
 * each (the ordinal of a value decides its bucket); when the cap is
 * reached, pairs merge and `per` doubles, so memory stays at cap buckets
 * however long the run. Non-finite values are counted, not kept; with
 * positive_only (log-scale series) so are values <= 0. */
typedef struct rp_series {
    rp_bucket *b;
    int cap, nb;
    int64_t per, n;
    int64_t n_nonfinite, n_nonpos;
    bool positive_only;
    double ymin, ymax; /* over the values kept */
    rp_pt last;        /* the latest value kept */
} rp_series;

#define RP_SERIES_CAP 2048

gg_status rp_series_init(rp_series *s, bool positive_only, gg_error *err);
void rp_series_free(rp_series *s);
void rp_series_add(rp_series *s, double x, double y, int64_t tag);
/* The points to draw, sorted by x: buckets merged in groups (powers of
 * two) until at most max_points remain, up to four distinct points (first,
 * min, max, last) per group. out holds max(max_points, 4). Returns the
 * count. */
int rp_series_points(const rp_series *s, int max_points, rp_pt *out);
/* The points of the series undownsampled: what it would take to draw whole. */
int rp_series_points_max(const rp_series *s);

/* Heat map: rows (parameters) by columns (monitoring samples in groups of
 * `per`), each cell the mean of log10 of the values that fell in it. */
typedef struct rp_heat {
    int cap, nc;
    int64_t per, n; /* samples per column, samples seen */
    double *x0, *x1; /* cap: the first and last step of each column */
    int nrows, rows_cap;
    double **sum;   /* [row][cap] sums of log10 */
    int32_t **cnt;  /* [row][cap] finite positive values */
    int32_t **bad;  /* [row][cap] non-finite or non-positive values */
} rp_heat;

#define RP_HEAT_CAP 256

gg_status rp_heat_init(rp_heat *h, gg_error *err);
void rp_heat_free(rp_heat *h);
/* Opens a sample (one monitored step); returns its column. */
int rp_heat_sample(rp_heat *h, double step);
gg_status rp_heat_add_row(rp_heat *h, gg_error *err); /* a new row, index nrows - 1 */
void rp_heat_put(rp_heat *h, int row, int col, double v);
/* Columns after grouping to at most max_cols: *group consecutive stored
 * columns form one output column. */
int rp_heat_columns(const rp_heat *h, int max_cols, int *group);

/* ---- the run ------------------------------------------------------------- */

typedef struct rp_range {
    int64_t a, b; /* first and last step, inclusive */
} rp_range;

#define RP_RANGES_CAP 4096
#define RP_MARKS_CAP 4096

/* One kind of event: how many, where (merged into ranges of nearby steps so
 * that none is lost), and, for the kinds drawn on the gradient-norm line,
 * the points (step, grad_norm) thinned evenly when there are very many. */
typedef struct rp_evkind {
    char name[32];
    int64_t count;
    rp_range *r;
    int nr;
    int64_t gap; /* steps this close are merged; doubles when full */
    rp_pt *mk;
    int nmk;
    int64_t mk_stride, mk_seen;
} rp_evkind;

#define RP_MAX_EVKINDS 32

typedef struct rp_event_row {
    int64_t step;
    char kind[32];
    char *message;
} rp_event_row;

#define RP_EVROWS_HEAD 150
#define RP_EVROWS_TAIL 150
#define RP_DIAG_CAP 64

typedef struct rp_param {
    char *name;
    rp_series grad, ratio;
    int row; /* heat-map row */
    int64_t nonfinite;
    double last_grad, last_weight, last_ratio, max_grad;
} rp_param;

typedef struct rp_act {
    int layer;
    char kind[32];
    rp_series dead, sat;
    bool has_dead, has_sat;
} rp_act;

typedef struct rp_epoch_row {
    int64_t epoch, step, ord;
    double train_loss, train_acc, val_loss, val_acc, samples_per_s, lr;
    double sparsity; /* NaN when the run does not prune */
} rp_epoch_row;

#define RP_EPOCH_ROWS_CAP 64

/* RUN_DIR/compress.jsonl, written by `gradguard compress --sweep`: a
 * compress_run header, then one line per sparsity level. A new header
 * starts a new sweep, so the report shows the latest one; rows beyond the
 * cap are counted, not kept. NaN (or -1, or NULL) where a field is null or
 * missing. */
typedef struct rp_compress_row {
    double sparsity, reached;
    double oneshot_acc, finetuned_acc, int8_acc;
    double float_bytes, int8_bytes;
    double float_sps, int8_sps;
} rp_compress_row;

#define RP_COMPRESS_ROWS_CAP 64

typedef struct rp_compress {
    bool present; /* the file exists */
    char *path;
    bool partial_last_line; /* an unterminated last line that did not parse: being written */
    bool has_header;
    char *model, *scope, *int8_kernel;
    int structured; /* 1, 0, -1 unknown */
    int64_t finetune_epochs, test_samples, calib_samples, eval_batch; /* -1 unknown */
    rp_compress_row rows[RP_COMPRESS_ROWS_CAP];
    int nrows;
    int64_t rows_dropped;
} rp_compress;

/* A key and its value, as text, from the run header line. */
typedef struct rp_kv {
    char *key, *value;
} rp_kv;

typedef struct rp_run {
    char *dir, *metrics_path, *config_path;
    size_t lines, step_lines, monitor_lines, unknown_lines;
    bool partial_last_line; /* an unterminated last line that did not parse: being written */
    int64_t first_step, last_step;
    int64_t max_epoch_seen;
    double last_grad_norm; /* of the step line last read, for event markers */
    int64_t last_grad_step;
    /* step lines */
    rp_series loss, lr, grad_norm, momentum;
    bool has_momentum;
    int64_t skipped_steps, nonfinite_steps;
    /* epoch lines */
    rp_series ep_train_loss, ep_val_loss, ep_train_acc, ep_val_acc;
    size_t epoch_lines;
    rp_epoch_row *ep_rows;
    int n_ep_rows;
    int64_t ep_stride, ep_seen;
    rp_epoch_row last_epoch;
    /* monitoring */
    rp_param *params;
    int nparams, params_cap;
    rp_act *acts;
    int nacts, acts_cap;
    rp_heat heat;
    /* events */
    rp_evkind ev[RP_MAX_EVKINDS];
    int nev;
    int64_t events_total;
    rp_event_row head[RP_EVROWS_HEAD], tail[RP_EVROWS_TAIL];
    int nhead;
    int64_t ntail; /* events offered to the tail ring */
    rp_event_row diag[RP_DIAG_CAP];
    int ndiag;
    int64_t diag_step; /* the step of the latest diagnosis */
    int64_t diag_earlier; /* diagnosis events of earlier passes */
    /* summary and header */
    bool has_summary;
    int64_t sum_steps, sum_epochs;
    double test_loss, test_acc, seconds;
    rp_kv *env;
    int nenv;
    int run_lines; /* header lines: more than one after a resume */
    /* pruning: the "sparsity" field of step and epoch lines, absent when
     * the run does not prune; accuracy against sparsity has x = sparsity
     * and the epoch as tag */
    bool has_sparsity;
    rp_series sparsity, ep_sparsity, sp_train_acc, sp_val_acc;
    rp_compress compress;
} rp_run;

/* Reads RUN_DIR/metrics.jsonl line by line into run, then
 * RUN_DIR/compress.jsonl when there is one. GG_ERR_DATA naming the file
 * (and line) when metrics.jsonl is missing or a line is not JSON (or, in
 * compress.jsonl, has no "type"), GG_ERR_IO when reading fails. */
gg_status rp_read_run(const char *run_dir, rp_run *run, gg_error *err);
void rp_run_free(rp_run *run);
rp_evkind *rp_run_event_kind(rp_run *run, const char *name);
const rp_evkind *rp_run_find_event(const rp_run *run, const char *name);

/* ---- the page's style sheet and script (assets.c) ---------------------- */
extern const char rp_css[];
extern const char rp_js[];

/* ---- text ---------------------------------------------------------------- */

/* HTML text or attribute value: & < > " ' escaped, control characters
 * dropped (but tab and newline), invalid UTF-8 replaced by U+FFFD. */
void rp_html(FILE *f, const char *s);
void rp_html_n(FILE *f, const char *s, size_t n);
/* A JSON string that is safe inside <script>: <, >, & and the line
 * separators as \u escapes. */
void rp_json_str(FILE *f, const char *s);
/* A JSON number (%.9g), null when not finite. */
void rp_json_num(FILE *f, double v);
/* Compact human numbers: 4 significant digits, k/M suffixes for counts. */
void rp_fmt_num(char *buf, size_t n, double v);
void rp_fmt_count(char *buf, size_t n, double v);
void rp_fmt_duration(char *buf, size_t n, double seconds);

#endif
