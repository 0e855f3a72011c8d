/* The guard's state: per-parameter gradient norms every step, the adaptive
 * clippers' statistics, the spike detector's windows, recovery snapshots,
 * monitoring buffers and the step's events. Everything is allocated by
 * gg_guard_new, so a guarded step allocates nothing. */
#ifndef GG_GUARD_H
#define GG_GUARD_H

#include "graph/graph.h"
#include "guard/clip.h"
#include "optim/optim.h"

#define GG_MAX_EVENTS 16
#define GG_DIAG_WINDOW 50

/* A ring of the last finite values with median / MAD statistics (the
 * spike detector keeps log values in it). */
typedef struct gg_window {
    double *v; /* owned, cap */
    int cap, n, pos;
} gg_window;

/* The k-th smallest of v[0..n-1] (Hoare's selection; v is reordered). */
double gg_select_kth(double *v, int n, int k);

/* Robust statistics of the window, the value under test not included. */
bool gg_window_stats(const gg_window *w, double *scratch, double *median, double *mad);
void gg_window_push(gg_window *w, double x);
/* Forgets every value: the next min_history values form a new baseline. */
void gg_window_clear(gg_window *w);

/* Clipper statistics that a rollback restores. */
typedef struct gg_clip_state {
    int autoclip_n, autoclip_pos; /* ring of past norms in gg_guard.autoclip */
    double z_mean, z_var;
    int z_count;                  /* norms seen; EMA starts after clip.warmup */
} gg_clip_state;

typedef struct gg_guard {
    const gg_config *cfg; /* borrowed: the trainer's copy */
    gg_graph *g;          /* borrowed */
    int n_params;
    double *param_sq;     /* owned: this step's squared L2 gradient norm per parameter */
    double *param_gmax;   /* owned: max |g| per parameter */
    size_t *param_nf;     /* owned: non-finite gradient elements per parameter */
    size_t *seg_off, *seg_len; /* owned: parameters as segments of the flat block */
    gg_segments segs;
    double *w2, *d2;      /* owned: ||w||^2 before and ||delta w||^2 of the last update */
    uint32_t *alive;      /* owned: per-unit flags for the dead-ReLU count */
    double *partial;      /* owned: per-thread partial sums for the norm pass */
    int max_threads;
    /* adaptive clipping */
    bool *agc_skip;       /* owned: parameters AGC leaves alone */
    double *autoclip;     /* owned: ring of clip.history past norms */
    double *z_warm;       /* owned: the first clip.warmup norms */
    gg_clip_state cs;
    double *scratch;      /* owned: for percentiles and medians */
    /* spike detection */
    gg_window loss_w, norm_w;
    bool rebaseline;      /* judging waits for full windows (after gg_guard_rebaseline) */
    /* monitoring */
    gg_param_stats *pstats;   /* owned, n_params */
    gg_layer_stats *lstats;   /* owned */
    gg_node **act_nodes;      /* owned array of borrowed nodes */
    int n_act;
    /* diagnosis history */
    double *sq_first, *sq_recent; /* owned: mean squared grad norm per parameter, first and last window */
    int64_t first_n;
    double norm_ring[GG_DIAG_WINDOW];
    int64_t norm_ring_n;
    double explode_ratio;     /* largest growth of the global norm within the window */
    int64_t explode_step;
    double loss_first, loss_recent; /* mean loss over the first and the last window */
    int64_t loss_first_n;
    size_t nonfinite_total;
    int64_t nonfinite_first_step;
    char nonfinite_where[GG_NAME_LEN * 2];
    /* events of the current step */
    gg_event events[GG_MAX_EVENTS];
    int n_events;
    /* counters over the run */
    int64_t clips, skips, spikes, rollbacks, lr_cuts, backoffs;
} gg_guard;

gg_status gg_guard_new(gg_guard *gd, const gg_config *c, gg_graph *g, gg_error *err);
void gg_guard_free(gg_guard *gd);
void gg_guard_event(gg_guard *gd, int64_t step, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Per-parameter squared norms into param_sq; returns the global L2 norm
 * (NaN if any gradient is not finite) and counts non-finite elements. */
double gg_guard_measure(gg_guard *gd, size_t *nonfinite);

/* Applies guard.clip.mode to the gradient of a finite step and returns the
 * factor the optimiser must still apply (global-norm modes are fused into
 * the update); *coef receives the effective coefficient for the metrics. */
gg_real gg_guard_clip(gg_guard *gd, int64_t step, double norm, double *coef);

/* Robust spike test of the loss and the global norm against their windows
 * (neither value is in its own statistics); pushes them afterwards. */
bool gg_guard_spike(gg_guard *gd, int64_t step, double loss, double norm);
/* The model changed on purpose (new pruning masks): the spike detector
 * forgets its history and judges again once its windows are full. */
void gg_guard_rebaseline(gg_guard *gd);

/* Monitoring after an update (every step while guard.monitor.every > 0):
 * gradient norms and maxima from gg_guard_measure, weight norms and update
 * ratios from the optimiser's pass (w2, d2), activation statistics. */
void gg_guard_monitor(gg_guard *gd, bool updated);

/* Diagnosis history, fed every step. */
void gg_guard_record(gg_guard *gd, int64_t step, double loss, double norm);
int gg_guard_diagnose(gg_guard *gd, int64_t step, gg_event *out, int max);

/* The first op whose output holds a NaN or an Inf, after a forward pass. */
const gg_node *gg_guard_first_nonfinite_op(const gg_graph *g);

#endif
