/* The command-line tool: one file per command. Only this folder maps
 * statuses to exit codes and prints. */
#ifndef GG_CLI_H
#define GG_CLI_H

#include "gradguard.h"

enum { EXIT_OK = 0, EXIT_FAILED = 1, EXIT_USAGE = 2, EXIT_IO = 3 };

int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_compress(int argc, char **argv);
/* `gradguard lab compress`: trains the default MLP into the run directory
 * DIR/compress/ and writes the sparsity x float/int8 table there
 * (compress.md, compress.jsonl, drawn in its report.html) and to stdout. */
int cmd_compress_lab(const char *dir, int quick, int threads);
int cmd_lab(int argc, char **argv);

/* arg, config, data, shape -> 2; io -> 3; the rest -> 1. */
int cli_exit_code(gg_status s);
/* Prints "gradguard: <msg>" to stderr and returns the exit code for err. */
int cli_report(const gg_error *err);
/* --name VALUE or --name=VALUE at argv[*i]; advances *i. NULL if not this option. */
const char *cli_option(int argc, char **argv, int *i, const char *name, int *missing);
/* rm -r (a rerun into the same directory) */
void cli_rmtree(const char *path);
/* mkdir -p */
gg_status cli_mkdirs(const char *path, gg_error *err);
double cli_now(void);

/* MODEL as `eval` and `compress` take it (run_dir.c): a run directory
 * (config.yaml, weights in model.safetensors) or a .safetensors written by
 * gradguard, its config in its metadata. Loads the config into c and puts
 * the weights' path in weights. */
gg_status cli_model_config(const char *model, gg_config *c, char *weights, size_t cap,
                           gg_error *err);

/* Run-directory checkpoints (run_dir.c). */
/* Writes DIR/checkpoint.safetensors, first renaming the previous newest
 * (step *newest_step, -1 if none) to checkpoint-STEP, and keeps `keep`. */
gg_status cli_checkpoint(gg_trainer *t, const char *dir, int64_t *newest_step, int keep,
                         gg_error *err);
/* Checkpoint files of DIR, newest first. */
int cli_checkpoint_candidates(const char *dir, char paths[][4200], int cap);
void cli_remove_stale_temporaries(const char *dir);
gg_status cli_trim_metrics(const char *path, int64_t step, int epochs, gg_error *err);

#endif
