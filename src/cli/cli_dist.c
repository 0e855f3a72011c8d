/* Start-up agreement, the final identity check and the cost line of an
 * MPI job (cli_dist.h, docs/distributed.md). */
#include <stdio.h>
#include <zlib.h>
#include "cli/cli_dist.h"
#include "dist/dist.h"
#include "train/model.h"

gg_status cli_dist_agree(gg_status s, gg_error *err) {
    if (gg_dist_size() < 2) return s;
    double failed = s != GG_OK;
    gg_dist_sum(&failed, 1);
    if (failed == 0) return GG_OK;
    gg_dist_exit_together();
    int n = (int)failed, R = gg_dist_size();
    if (s != GG_OK) {
        /* Rank 0 prints its own through the caller; a rank alone in failing must be heard. */
        if (n < R && gg_dist_rank() > 0) gg_dist_shout("%s", err && err->msg[0] ? err->msg : gg_status_name(s));
        return s;
    }
    return gg_fail(err, GG_ERR_ARG, "%d of the job's %d ranks could not start (each of them says why, with its rank)", n, R);
}

gg_status cli_dist_agree_load(gg_status s) {
    if (gg_dist_size() < 2) return s;
    double v[2] = {s != GG_OK, s == GG_ERR_ARG};
    gg_dist_sum(v, 2);
    return v[1] > 0 ? GG_ERR_ARG : v[0] > 0 ? GG_ERR_DATA : GG_OK;
}

gg_status cli_dist_check_same(gg_model *m, gg_error *err) {
    if (gg_dist_size() < 2) return GG_OK;
    gg_graph *g = gg_model_graph(m);
    uLong c = crc32_z(0L, Z_NULL, 0);
    c = crc32_z(c, (const Bytef *)g->param, g->param_len * sizeof(gg_real));
    if (g->buf_len) c = crc32_z(c, (const Bytef *)g->buf, g->buf_len * sizeof(gg_real));
    if (gg_dist_same((uint64_t)c)) return GG_OK;
    gg_dist_exit_together();
    return gg_fail(err, GG_ERR_DATA, "the ranks' weights differ after training (they must be identical); "
                                     "this is a bug in gradguard's data parallelism");
}

void cli_dist_banner(int batch, FILE *out) {
    int R = gg_dist_size();
    if (R < 2) return;
    fprintf(out, "data parallel: %d ranks (%d on this node), %d threads each; each global batch of %d is "
                 "cut into %d shards of about %d\n",
            R, gg_dist_local_size(), gg_get_threads(), batch, R, (batch + R - 1) / R);
}

void cli_dist_report(double run_seconds, FILE *out) {
    if (gg_dist_size() < 2) return;
    gg_dist_stats st;
    gg_dist_get_stats(&st);
    if (st.steps == 0) return;
    double ms = 1e3 * st.reduce_s / (double)st.steps;
    fprintf(out, "all-reduce: %.3f ms per step (%.1f%% of the run), %.2f MB per step, %lld steps, %d ranks",
            ms, 100 * st.reduce_s / (run_seconds > 0 ? run_seconds : 1), st.bytes / 1e6, (long long)st.steps,
            gg_dist_size());
    if (st.timed) fprintf(out, "; waiting for the slowest rank: %.3f ms per step", 1e3 * st.wait_s / (double)st.steps);
    fputc('\n', out);
}
