/* The run directory: where eval and compress find a model's config and
 * weights, and its checkpoints: checkpoint.safetensors is the newest;
 * before a new one is written it is renamed checkpoint-STEP.safetensors,
 * and only the newest `keep` survive. A kill at any moment leaves every
 * file whole (each is written to a temporary name and renamed), so resuming
 * takes the newest file that loads and warns about any that does not. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "cli/cli.h"
#include "core/core.h"
#include "io/io.h"

#define NEWEST "checkpoint.safetensors"

/* checkpoint-STEP.safetensors -> STEP, or -1. */
static int64_t step_of(const char *name) {
    long long step;
    char tail[32];
    if (sscanf(name, "checkpoint-%lld%31s", &step, tail) == 2 && strcmp(tail, ".safetensors") == 0)
        return step;
    return -1;
}

static int cmp_desc(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x < y) - (x > y);
}

/* Steps of the checkpoint-STEP files, newest first; returns how many. */
static int older_steps(const char *dir, int64_t *steps, int cap) {
    DIR *d = opendir(dir);
    int n = 0;
    if (!d) return 0;
    for (struct dirent *e; (e = readdir(d)) && n < cap;) {
        int64_t s = step_of(e->d_name);
        if (s >= 0) steps[n++] = s;
    }
    closedir(d);
    qsort(steps, (size_t)n, sizeof *steps, cmp_desc);
    return n;
}

gg_status cli_checkpoint(gg_trainer *t, const char *dir, int64_t *newest_step, int keep,
                         gg_error *err) {
    char path[4200], old[4200];
    snprintf(path, sizeof path, "%s/" NEWEST, dir);
    if (*newest_step >= 0 && access(path, F_OK) == 0) {
        snprintf(old, sizeof old, "%s/checkpoint-%" PRId64 ".safetensors", dir, *newest_step);
        if (rename(path, old) != 0)
            return gg_fail(err, GG_ERR_IO, "%s: cannot rename to %s: %s", path, old, strerror(errno));
    }
    gg_status s = gg_trainer_save(t, path, err);
    if (s != GG_OK) return s;
    *newest_step = gg_trainer_step_count(t);
    int64_t steps[1024];
    int n = older_steps(dir, steps, 1024);
    for (int i = keep - 1; i < n; i++) {
        snprintf(old, sizeof old, "%s/checkpoint-%" PRId64 ".safetensors", dir, steps[i]);
        unlink(old);
    }
    return GG_OK;
}

void cli_remove_stale_temporaries(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    char path[4200];
    for (struct dirent *e; (e = readdir(d));)
        if (strstr(e->d_name, ".tmp.")) {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
    closedir(d);
}

int cli_checkpoint_candidates(const char *dir, char paths[][4200], int cap) {
    int n = 0;
    if (cap > 0) {
        snprintf(paths[n], 4200, "%s/" NEWEST, dir);
        if (access(paths[n], F_OK) == 0) n++;
    }
    int64_t steps[1024];
    int k = older_steps(dir, steps, 1024);
    for (int i = 0; i < k && n < cap; i++)
        snprintf(paths[n++], 4200, "%s/checkpoint-%" PRId64 ".safetensors", dir, steps[i]);
    return n;
}

/* Keeps the lines of metrics.jsonl that belong to the first `step` steps
 * and `epochs` epochs, so a resumed run appends without duplicates. */
gg_status cli_trim_metrics(const char *path, int64_t step, int epochs, gg_error *err) {
    FILE *in = fopen(path, "r");
    if (!in) return errno == ENOENT ? GG_OK : gg_fail(err, GG_ERR_IO, "%s: %s", path, strerror(errno));
    char tmp[4300];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    FILE *out = fopen(tmp, "w");
    if (!out) {
        fclose(in);
        return gg_fail(err, GG_ERR_IO, "%s: %s", tmp, strerror(errno));
    }
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, in) > 0) {
        long long v;
        const char *p;
        bool keep = true;
        size_t len = strlen(line);
        if (len < 2 || line[len - 1] != '\n' || line[len - 2] != '}') keep = false; /* cut by a kill */
        else if (strstr(line, "\"type\":\"summary\"")) keep = false;
        else if (strstr(line, "\"type\":\"epoch\"") && (p = strstr(line, "\"epoch\":")) &&
                 sscanf(p + 8, "%lld", &v) == 1)
            keep = v <= epochs;
        else if ((p = strstr(line, "\"step\":")) && sscanf(p + 7, "%lld", &v) == 1)
            keep = v <= step;
        if (keep) fputs(line, out);
    }
    free(line);
    fclose(in);
    if ((ferror(out) | fclose(out)) || rename(tmp, path) != 0) {
        unlink(tmp);
        return gg_fail(err, GG_ERR_IO, "%s: cannot rewrite: %s", path, strerror(errno));
    }
    return GG_OK;
}

gg_status cli_model_config(const char *model, gg_config *c, char *weights, size_t cap,
                           gg_error *err) {
    struct stat st;
    if (stat(model, &st) != 0)
        return gg_fail(err, gg_open_error(errno), "%s: cannot open: %s", model, strerror(errno));
    if (S_ISDIR(st.st_mode)) {
        char path[4200];
        snprintf(path, sizeof path, "%s/config.yaml", model);
        snprintf(weights, cap, "%s/model.safetensors", model);
        return gg_config_load_file(c, path, err);
    }
    snprintf(weights, cap, "%s", model);
    gg_st_file f = {0};
    gg_status s = gg_st_read(model, &f, err);
    if (s != GG_OK) return s;
    const char *yaml = gg_st_meta(&f, "gradguard_config");
    if (!yaml)
        s = gg_fail(err, GG_ERR_DATA,
                    "%s: no 'gradguard_config' in its metadata; pass the run directory instead",
                    model);
    else if ((s = gg_config_load_string(c, yaml, err)) != GG_OK && err) {
        char msg[sizeof err->msg]; /* the parser names "<string>": say which file holds it */
        snprintf(msg, sizeof msg, "%s", err->msg);
        gg_fail(err, s, "%s: gradguard_config metadata: %s", model, msg);
    }
    gg_st_free(&f);
    return s;
}
