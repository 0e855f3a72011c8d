/* Data-parallel training over MPI: the job's ranks, the reductions a
 * training step needs, and what a rank does when it loses its peers.
 *
 * MPI is started only when the process was launched by an MPI launcher
 * (mpirun / mpiexec / srun with PMI: OMPI_COMM_WORLD_SIZE, PMI_SIZE or
 * PMIX_RANK in the environment) and the build has MPI (GG_HAVE_MPI, CMake
 * option GG_MPI). Otherwise every function here is a no-op for rank 0 of
 * a job of 1, and no MPI function is ever called, so a plain `gradguard`
 * behaves exactly as a build without MPI.
 *
 * Every collective here runs on MPI_COMM_WORLD and is called by the main
 * thread only (MPI_THREAD_FUNNELED); OpenMP threads never call MPI. All
 * ranks must call the collectives in the same order. */
#ifndef GG_DIST_H
#define GG_DIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/core.h"

/* Starts MPI when launched by mpirun (see above); GG_DIST=off in the
 * environment keeps it off. Non-zero ranks get stdout and stderr on
 * /dev/null (rank 0 alone prints); their own start-up failures and the
 * lost-contact message still reach the real stderr through
 * gg_dist_shout. Installs an MPI error handler that prints one line and
 * ends the job instead of hanging. */
void gg_dist_init(int *argc, char ***argv);
/* Ends MPI. exit_code != 0 on a job of several ranks ends the whole job
 * with MPI_Abort unless gg_dist_exit_together() said every rank is
 * leaving with this failure (so none waits for the others forever). */
void gg_dist_finalize(int exit_code);
/* Every rank is leaving now (an agreed failure or stop): finalize may end MPI normally. */
void gg_dist_exit_together(void);

bool gg_dist_compiled(void); /* the build has MPI */
/* The job size an MPI launcher announced in the environment (1 if none). */
int gg_dist_launcher_size(void);
bool gg_dist_active(void);   /* MPI was started */
int gg_dist_rank(void);
int gg_dist_size(void);
int gg_dist_local_size(void); /* ranks on this node */
/* Threads per rank for train.threads 0: 0 (all cores) for a job of one
 * rank; else the cores this rank may run on (its binding) when mpirun
 * bound it to fewer than the machine's, or the machine's cores shared
 * among the ranks on this node. */
int gg_dist_default_threads(void);

/* The reduction of training step `step`: grad[0..len) (each rank's share
 * already scaled by its part of the global batch) and side[0..nside)
 * summed over every rank, in place: afterwards every rank holds the same
 * bytes. */
void gg_dist_reduce_step(gg_real *grad, size_t len, double *side, size_t nside, int64_t step);
/* Sums v[0..n) over every rank, in place. */
void gg_dist_sum(double *v, size_t n);
/* True on every rank when x is the same on every rank. */
bool gg_dist_same(uint64_t x);

/* Lost contact: the run directory and the step of its newest checkpoint
 * (-1: none yet, -2: unknown on this rank) for the one-line message. */
void gg_dist_set_checkpoint(const char *dir, int64_t step);
/* From a signal handler (async-signal-safe): SIGINT or SIGTERM while this
 * rank waits in a collective means a peer is gone or mpirun is ending the
 * job (it sends SIGKILL a second later): prints the lost-contact line and
 * exits 128 + sig at once. Otherwise the signal is noted and agreed on at
 * the next step's reduction (gg_dist_pending_signal). */
void gg_dist_note_signal(int sig);
/* The signal this rank has noted, 0 if none. */
int gg_dist_pending_signal(void);
/* Writes one line "gradguard: rank R: MESSAGE" to the real stderr (also
 * on non-zero ranks, whose stderr is otherwise /dev/null). */
void gg_dist_shout(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Time spent in the step's reductions. */
typedef struct gg_dist_stats {
    int64_t steps;       /* reductions made */
    double reduce_s;     /* seconds in the step's all-reduce calls */
    double wait_s;       /* seconds in the barrier before them (GG_DIST_TIMING=1 only) */
    double bytes;        /* bytes reduced per step (gradient + side values) */
    bool timed;          /* GG_DIST_TIMING=1: wait_s was measured */
} gg_dist_stats;
void gg_dist_get_stats(gg_dist_stats *s);

#endif
