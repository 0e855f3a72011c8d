/* The MPI side of data-parallel training (see dist.h). Built without MPI,
 * or run without an MPI launcher, this is rank 0 of a job of 1 and every
 * call returns at once.
 *
 * Losing a peer: on one node OpenMPI's shared-memory transport never
 * reports a dead peer; mpirun notices the death, sends SIGTERM to the
 * other ranks and SIGKILL one second later. A rank that gets SIGTERM (or
 * SIGINT) while it waits in a collective therefore prints one line naming
 * its rank and the last checkpoint and exits at once; one that gets it
 * while computing notes it and, if its next collective does not complete
 * within half a second, does the same. Between nodes a dead peer can also
 * surface as an MPI error, which the error handler below turns into the
 * same line. */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "dist/dist.h"
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef GG_HAVE_MPI
#include <limits.h>
#include <mpi.h>
#endif

static struct {
    int rank, size, local_size;
    bool active;      /* MPI_Init was called */
    bool together;    /* every rank is leaving with the same failure */
    bool timing;      /* GG_DIST_TIMING=1: a barrier before the reduction, timed apart */
    int err_fd;       /* the real stderr */
    gg_dist_stats st;
    char suffix[4400]; /* "; the last checkpoint is ...\n" */
} D = {.rank = 0, .size = 1, .local_size = 1, .err_fd = 2, .suffix = "\n"};

/* Read by the signal handler. */
static volatile sig_atomic_t in_collective, pending_signal;
static volatile int64_t collective_step = -1;


/* Async-signal-safe pieces of the lost-contact line. */
static size_t put_str(char *buf, size_t k, size_t cap, const char *s) {
    while (*s && k + 1 < cap) buf[k++] = *s++;
    return k;
}

static size_t put_int(char *buf, size_t k, size_t cap, int64_t v) {
    char digits[24];
    int n = 0;
    uint64_t u = v < 0 ? (uint64_t)-(v + 1) + 1 : (uint64_t)v;
    do digits[n++] = (char)('0' + u % 10), u /= 10;
    while (u && n < 24);
    if (v < 0 && k + 1 < cap) buf[k++] = '-';
    while (n > 0 && k + 1 < cap) buf[k++] = digits[--n];
    return k;
}

/* "gradguard: rank R lost contact with the job (WHY); the last checkpoint is ..." */
static void lost_contact(const char *why, int sig) {
    char line[5000];
    size_t k = 0, cap = sizeof line;
    k = put_str(line, k, cap, "gradguard: rank ");
    k = put_int(line, k, cap, D.rank);
    k = put_str(line, k, cap, " lost contact with the job (");
    if (why) {
        k = put_str(line, k, cap, why);
    } else {
        k = put_str(line, k, cap, "signal ");
        k = put_int(line, k, cap, sig);
        k = put_str(line, k, cap, " while waiting for the other ranks");
        if (collective_step >= 0) {
            k = put_str(line, k, cap, " at step ");
            k = put_int(line, k, cap, collective_step);
        }
        k = put_str(line, k, cap, ": a rank died or mpirun is ending the job");
    }
    k = put_str(line, k, cap, ")");
    k = put_str(line, k, cap, D.suffix);
    ssize_t w = write(D.err_fd, line, k);
    (void)w;
}

static bool fatal_signal(int sig) { return sig == SIGINT || sig == SIGTERM; }

void gg_dist_note_signal(int sig) {
    pending_signal = sig;
    if (D.size > 1 && in_collective && fatal_signal(sig)) {
        lost_contact(NULL, sig);
        _exit(128 + sig);
    }
}

int gg_dist_pending_signal(void) { return (int)pending_signal; }

void gg_dist_shout(const char *fmt, ...) {
    char line[1200];
    int k = snprintf(line, sizeof line, "gradguard: rank %d: ", D.rank);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + k, sizeof line - (size_t)k - 1, fmt, ap);
    va_end(ap);
    size_t n = strlen(line);
    line[n++] = '\n';
    ssize_t w = write(D.err_fd, line, n);
    (void)w;
}

void gg_dist_set_checkpoint(const char *dir, int64_t step) {
    if (step >= 0)
        snprintf(D.suffix, sizeof D.suffix, "; the last checkpoint is %.4200s/checkpoint.safetensors (step %lld)\n",
                 dir, (long long)step);
    else if (step == -1)
        snprintf(D.suffix, sizeof D.suffix, "; no checkpoint was written yet in %.4200s\n", dir);
    else
        snprintf(D.suffix, sizeof D.suffix, "; the last checkpoint is %.4200s/checkpoint.safetensors\n", dir);
}

bool gg_dist_compiled(void) {
#ifdef GG_HAVE_MPI
    return true;
#else
    return false;
#endif
}
bool gg_dist_active(void) { return D.active; }
int gg_dist_launcher_size(void) {
    const char *names[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        const char *v = getenv(names[i]);
        if (v && atoi(v) > 0) return atoi(v);
    }
    return 1;
}
int gg_dist_rank(void) { return D.rank; }
int gg_dist_size(void) { return D.size; }
int gg_dist_local_size(void) { return D.local_size; }
void gg_dist_exit_together(void) { D.together = true; }
void gg_dist_get_stats(gg_dist_stats *s) { *s = D.st; }

int gg_dist_default_threads(void) {
    if (D.size <= 1) return 0;
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int mine = CPU_COUNT(&set);
        if (mine > 0 && mine < online) return mine; /* mpirun bound this rank to these cores */
    }
    long per = online / (D.local_size > 0 ? D.local_size : 1);
    return per > 0 ? (int)per : 1;
}

#ifdef GG_HAVE_MPI

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static bool launched_by_mpi(void) {
    const char *off = getenv("GG_DIST");
    if (off && (!strcmp(off, "off") || !strcmp(off, "0"))) return false;
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK") ||
           getenv("PMI_RANK");
}

static void on_mpi_error(MPI_Comm *comm, int *code, ...) {
    char msg[MPI_MAX_ERROR_STRING + 1] = "";
    int len = 0;
    (void)comm;
    MPI_Error_string(*code, msg, &len);
    msg[len > 0 && len <= MPI_MAX_ERROR_STRING ? len : 0] = '\0';
    lost_contact(msg[0] ? msg : "an MPI error", 0);
    _exit(1);
}

void gg_dist_init(int *argc, char ***argv) {
    if (D.active || !launched_by_mpi()) return;
    int provided = 0;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) return;
    D.active = true;
    MPI_Comm_rank(MPI_COMM_WORLD, &D.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &D.size);
    MPI_Comm node;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, D.rank, MPI_INFO_NULL, &node) ==
        MPI_SUCCESS) {
        MPI_Comm_size(node, &D.local_size);
        MPI_Comm_free(&node);
    }
    MPI_Errhandler h;
    MPI_Comm_create_errhandler(on_mpi_error, &h);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, h);
    MPI_Errhandler_free(&h);
    const char *timing = getenv("GG_DIST_TIMING");
    D.timing = D.st.timed = timing && !strcmp(timing, "1");
    const char *quiet = getenv("GG_DIST_QUIET");
    if (D.rank > 0 && !(quiet && !strcmp(quiet, "0"))) {
        /* Rank 0 alone prints; the others keep the real stderr for gg_dist_shout. */
        int fd = open("/dev/null", O_WRONLY);
        int keep = dup(2);
        if (fd >= 0 && keep >= 0) {
            fflush(stdout);
            fflush(stderr);
            D.err_fd = keep;
            dup2(fd, 1);
            dup2(fd, 2);
        } else if (keep >= 0) {
            close(keep);
        }
        if (fd >= 0) close(fd);
    }
}

void gg_dist_finalize(int exit_code) {
    if (!D.active) return;
    fflush(stdout);
    fflush(stderr);
    if (exit_code != 0 && D.size > 1 && !D.together) {
        /* Only this rank knows: the others may be waiting in a collective. */
        MPI_Abort(MPI_COMM_WORLD, exit_code);
    }
    MPI_Finalize();
    D.active = false;
}

#ifdef GG_FLOAT64
#define GG_MPI_REAL MPI_DOUBLE
#else
#define GG_MPI_REAL MPI_FLOAT
#endif

/* MPI_Allreduce in place in pieces of at most INT_MAX elements. A rank
 * that already has SIGINT or SIGTERM pending waits half a second at most:
 * mpirun sends those when a rank died, and SIGKILL a second later. */
static void allreduce(void *buf, size_t count, MPI_Datatype type, size_t elem, MPI_Op op) {
    in_collective = 1;
    for (size_t done = 0; done < count;) {
        int n = count - done > (size_t)INT_MAX ? INT_MAX : (int)(count - done);
        void *p = (char *)buf + done * elem;
        int sig = (int)pending_signal;
        if (fatal_signal(sig)) {
            MPI_Request rq;
            MPI_Iallreduce(MPI_IN_PLACE, p, n, type, op, MPI_COMM_WORLD, &rq);
            double t0 = now();
            for (int flag = 0; !flag;) {
                MPI_Test(&rq, &flag, MPI_STATUS_IGNORE);
                if (!flag && now() - t0 > 0.5) {
                    lost_contact(NULL, sig);
                    _exit(128 + sig);
                }
            }
        } else {
            MPI_Allreduce(MPI_IN_PLACE, p, n, type, op, MPI_COMM_WORLD);
        }
        done += (size_t)n;
    }
    in_collective = 0;
}

void gg_dist_reduce_step(gg_real *grad, size_t len, double *side, size_t nside, int64_t step) {
    if (!D.active || D.size < 2) return;
    collective_step = step;
    double t0 = now();
    if (D.timing) {
        in_collective = 1;
        MPI_Barrier(MPI_COMM_WORLD);
        in_collective = 0;
    }
    double t1 = now();
    allreduce(grad, len, GG_MPI_REAL, sizeof *grad, MPI_SUM);
    if (nside) allreduce(side, nside, MPI_DOUBLE, sizeof *side, MPI_SUM);
    double t2 = now();
    D.st.steps++;
    D.st.wait_s += t1 - t0;
    D.st.reduce_s += t2 - t1;
    D.st.bytes = (double)(len * sizeof *grad + nside * sizeof *side);
}

void gg_dist_sum(double *v, size_t n) {
    if (!D.active || D.size < 2 || n == 0) return;
    collective_step = -1;
    allreduce(v, n, MPI_DOUBLE, sizeof *v, MPI_SUM);
}

bool gg_dist_same(uint64_t x) {
    if (!D.active || D.size < 2) return true;
    /* max(x) and max(~x) = ~min(x) in one call. */
    uint64_t v[2] = {x, ~x};
    collective_step = -1;
    allreduce(v, 2, MPI_UINT64_T, sizeof *v, MPI_MAX);
    return v[0] == ~v[1];
}

#else /* no MPI in this build */

void gg_dist_init(int *argc, char ***argv) { (void)argc, (void)argv; }
void gg_dist_finalize(int exit_code) { (void)exit_code; }
void gg_dist_reduce_step(gg_real *grad, size_t len, double *side, size_t nside, int64_t step) {
    (void)grad, (void)len, (void)side, (void)nside, (void)step;
}
void gg_dist_sum(double *v, size_t n) { (void)v, (void)n; }
bool gg_dist_same(uint64_t x) {
    (void)x;
    return true;
}

#endif
