/* gradguard: the command dispatcher and the helpers every command shares. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include "cli/cli.h"
#include "core/core.h"
#include "dist/dist.h"

static const char usage[] =
    "usage: gradguard COMMAND [ARGS]\n"
    "\n"
    "Train neural networks on the CPU that do not blow up.\n"
    "\n"
    "commands:\n"
    "  train  [CONFIG.yaml] [--set KEY=VALUE]... [--out DIR] [--init WEIGHTS.safetensors]\n"
    "         [--steps N] [--threads N] [--quiet] [--print-config]\n"
    "  eval   MODEL (a run DIR or a .safetensors) [--data SPEC] [--split test|train|val] [--json]\n"
    "  report RUN_DIR [-o FILE.html]\n"
    "  compress MODEL [--prune SPARSITY] [--structured] [--finetune-epochs N] [--quantize int8]\n"
    "         --out FILE.safetensors  |  compress MODEL --sweep\n"
    "  lab    [SUITE] [--out DIR] [--quick]   run the stability lab's experiments side by side\n"
    "\n"
    "  gradguard --help | --version | COMMAND --help\n";

int cli_exit_code(gg_status s) {
    switch (s) {
    case GG_OK: return EXIT_OK;
    case GG_ERR_ARG:
    case GG_ERR_CONFIG:
    case GG_ERR_DATA:
    case GG_ERR_SHAPE: return EXIT_USAGE;
    case GG_ERR_IO: return EXIT_IO;
    default: return EXIT_FAILED;
    }
}

int cli_report(const gg_error *err) {
    fprintf(stderr, "gradguard: %s\n", err->msg[0] ? err->msg : gg_status_name(err->code));
    return cli_exit_code(err->code);
}

const char *cli_option(int argc, char **argv, int *i, const char *name, int *missing) {
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, n) != 0) return NULL;
    if (a[n] == '=') return a + n + 1;
    if (a[n] != '\0') return NULL;
    if (*i + 1 >= argc) {
        *missing = 1;
        return NULL;
    }
    return argv[++*i];
}

gg_status cli_mkdirs(const char *path, gg_error *err) {
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return gg_fail(err, GG_ERR_ARG, "%s: path too long", path);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return gg_fail(err, GG_ERR_IO, "%s: cannot create directory: %s", buf, strerror(errno));
            *p = c;
            if (!c) break;
        }
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return gg_fail(err, GG_ERR_IO, "%s: not a directory", path);
    return GG_OK;
}

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int dispatch(int argc, char **argv) {
    if (argc < 2) {
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        fputs(usage, stdout);
        return EXIT_OK;
    }
    if (!strcmp(cmd, "--version")) {
        printf("gradguard %s\n", gg_version());
        return EXIT_OK;
    }
    if (!strcmp(cmd, "train")) return cmd_train(argc - 1, argv + 1);
    if (!strcmp(cmd, "eval")) return cmd_eval(argc - 1, argv + 1);
    if (!strcmp(cmd, "report")) return cmd_report(argc - 1, argv + 1);
    if (!strcmp(cmd, "compress")) return cmd_compress(argc - 1, argv + 1);
    if (!strcmp(cmd, "lab")) return cmd_lab(argc - 1, argv + 1);
    fprintf(stderr, "gradguard: unknown command '%s'\n\n%s", cmd, usage);
    return EXIT_USAGE;
}

/* Under mpirun, MPI starts here and ends with the command (src/dist/dist.h);
 * train coordinates its ranks' exits, the other commands do the same on
 * every rank. */
int main(int argc, char **argv) {
    gg_dist_init(&argc, &argv);
    if (!gg_dist_compiled() && gg_dist_launcher_size() > 1) {
        fprintf(stderr, "gradguard: started by mpirun as one of %d ranks, but this gradguard was built without "
                        "MPI (CMake option GG_MPI, needs libopenmpi-dev): each rank would train alone\n",
                gg_dist_launcher_size());
        return EXIT_USAGE;
    }
    if (argc < 2 || strcmp(argv[1], "train") != 0) gg_dist_exit_together();
    int code = dispatch(argc, argv);
    gg_dist_finalize(code);
    return code;
}
