/* The stability lab: suites of small training runs side by side, each a
 * full `gradguard train` run directory, summarised with a verdict per row
 * (trains / vanishes / explodes / stalls / saved by the guard). */
#ifndef GG_LAB_H
#define GG_LAB_H

#include <stdbool.h>
#include <stddef.h>

#define LAB_MAX_ROWS 32
#define LAB_CURVE 120 /* loss points kept per row for the sparklines */

typedef enum lab_verdict {
    LAB_TRAINS,
    LAB_VANISHES,
    LAB_EXPLODES,
    LAB_STALLS,
    LAB_SAVED,
    LAB_FAILED /* the run could not start (a bad config): a lab bug */
} lab_verdict;

typedef struct lab_row {
    char name[48];
    char desc[160];
    char yaml[8192];  /* the whole config */
    long long steps;  /* --steps for this mode */
    bool baseline;    /* the unguarded reference of its suite */
    bool guarded;     /* a guard variant: "saved" when the baseline explodes */
} lab_row;

typedef struct lab_result {
    lab_verdict verdict;
    int exit_code;
    double seconds;
    bool classify;           /* metric is accuracy, else loss */
    double metric;           /* test accuracy or test loss (NaN if none) */
    double loss_first, loss_last; /* mean training loss over the first / last tenth */
    double grad_first, grad_last; /* latest monitored gradient norm of the first / last weight */
    int clips, skips, spikes, rollbacks, lr_cuts, backoffs, nonfinite;
    char diagnosis[512];     /* the first diagnosis, or "" */
    int n_curve;
    double curve[LAB_CURVE]; /* training loss, downsampled */
} lab_result;

/* The suites: depth, explode, recurrent, optimizers, schedules, seeds. */
extern const char *const lab_suite_names[];
/* Fills rows for suite (quick: a few seconds in all); -1 if unknown. */
int lab_suite_rows(const char *suite, bool quick, lab_row *rows, int cap);
/* Reads a finished run directory into r (verdict left for lab_judge). */
int lab_read_run(const char *dir, lab_result *r);
/* Verdicts of a suite's rows, given all of them (for "saved by the guard"). */
void lab_judge(const lab_row *rows, lab_result *res, int n);
const char *lab_verdict_name(lab_verdict v);

#endif
