/* The command line's side of an MPI job (cli_dist.c): the ranks agree at
 * start-up milestones, so that a failure on some ranks ends the job with
 * their messages instead of leaving the others waiting; and rank 0
 * reports what the reductions cost. Each is a no-op in a job of one. */
#ifndef GG_CLI_DIST_H
#define GG_CLI_DIST_H

#include "gradguard.h"

/* Every rank calls this once at a start-up milestone with its status.
 * Returns s when every rank got GG_OK, or when every rank failed (rank 0
 * alone prints). When only some failed, each failed rank shouts its
 * message with its rank, and the others fail with "K of R ranks could not
 * start". Any failure marks the exit as the whole job's. */
gg_status cli_dist_agree(gg_status s, gg_error *err);
/* The ranks' verdict on loading the same checkpoint: GG_OK when every
 * rank loaded it, GG_ERR_ARG when any refused it as the wrong job
 * (world size), else GG_ERR_DATA. */
gg_status cli_dist_agree_load(gg_status s);
/* After training: fails when the ranks' weights and buffers are not
 * byte-identical (they must be: a bug otherwise). */
gg_status cli_dist_check_same(gg_model *m, gg_error *err);
/* One line on the job (ranks, threads, shard size), for the start. */
void cli_dist_banner(int batch, FILE *out);
/* One line on the reductions' cost, for the end. */
void cli_dist_report(double run_seconds, FILE *out);

#endif
