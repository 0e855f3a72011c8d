/* Atomic file replacement: write PATH.tmp.<pid> beside PATH, flush and fsync
 * it, rename it over PATH, then fsync the directory so the rename itself
 * survives a crash. Until the rename PATH is untouched; on failure the
 * temporary file is removed. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "core/core.h"
#include "io/io.h"

/* The directory holding path: "." for a bare name, "/" for "/name". */
static char *dir_of(const char *path, gg_error *err) {
    const char *slash = strrchr(path, '/');
    if (!slash) return gg_strdup(".", err);
    size_t len = slash == path ? 1 : (size_t)(slash - path);
    char *dir = gg_alloc(len + 1, err);
    if (dir) memcpy(dir, path, len);
    return dir;
}

/* Makes the rename durable. Some file systems cannot fsync a directory and
 * say EINVAL; there is nothing more to do on those, so that is not an error. */
static gg_status sync_dir(const char *path, gg_error *err) {
    gg_status rc = GG_OK;
    int fd = -1;
    char *dir = dir_of(path, err);
    if (!dir) return GG_ERR_NOMEM;
    fd = open(dir, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = gg_fail(err, GG_ERR_IO, "%s: cannot open directory %s to sync it: %s", path, dir,
                     strerror(errno));
        goto done;
    }
    if (fsync(fd) != 0 && errno != EINVAL)
        rc = gg_fail(err, GG_ERR_IO, "%s: cannot sync directory %s: %s", path, dir,
                     strerror(errno));
done:
    if (fd >= 0) close(fd);
    free(dir);
    return rc;
}

gg_status gg_atomic_open(gg_atomic_file *af, const char *path, gg_error *err) {
    gg_status rc = GG_OK;
    memset(af, 0, sizeof *af);
    if (!path || !*path) return gg_fail(err, GG_ERR_ARG, "atomic write: empty path");
    int n = snprintf(NULL, 0, "%s.tmp.%ld", path, (long)getpid());
    af->path = gg_strdup(path, err);
    af->tmp_path = af->path ? gg_alloc((size_t)n + 1, err) : NULL;
    if (!af->tmp_path) {
        rc = GG_ERR_NOMEM;
        goto done;
    }
    snprintf(af->tmp_path, (size_t)n + 1, "%s.tmp.%ld", path, (long)getpid());
    af->f = fopen(af->tmp_path, "wb");
    if (!af->f)
        rc = gg_fail(err, GG_ERR_IO, "%s: cannot create temporary file %s: %s", path,
                     af->tmp_path, strerror(errno));
done:
    if (rc != GG_OK) {
        free(af->path);
        free(af->tmp_path);
        memset(af, 0, sizeof *af);
    }
    return rc;
}

/* errno, or a word when an earlier failed call left none behind. */
static const char *reason(void) { return errno ? strerror(errno) : "unknown error"; }

gg_status gg_atomic_commit(gg_atomic_file *af, gg_error *err) {
    gg_status rc = GG_OK;
    bool renamed = false;
    if (!af->f) return gg_fail(err, GG_ERR_ARG, "atomic write: commit without an open file");
    FILE *f = af->f;
    af->f = NULL;
    if (fflush(f) != 0 || ferror(f)) {
        rc = gg_fail(err, GG_ERR_IO, "%s: cannot write %s: %s", af->path, af->tmp_path,
                     reason());
        goto done;
    }
    if (fsync(fileno(f)) != 0) {
        rc = gg_fail(err, GG_ERR_IO, "%s: cannot sync %s: %s", af->path, af->tmp_path,
                     reason());
        goto done;
    }
    if (fclose(f) != 0) {
        f = NULL; /* fclose releases the stream even when it fails */
        rc = gg_fail(err, GG_ERR_IO, "%s: cannot close %s: %s", af->path, af->tmp_path,
                     reason());
        goto done;
    }
    f = NULL;
    if (rename(af->tmp_path, af->path) != 0) {
        rc = gg_fail(err, GG_ERR_IO, "%s: cannot rename %s over it: %s", af->path,
                     af->tmp_path, reason());
        goto done;
    }
    renamed = true;
    rc = sync_dir(af->path, err);
done:
    if (f) fclose(f);
    if (!renamed) remove(af->tmp_path);
    free(af->path);
    free(af->tmp_path);
    memset(af, 0, sizeof *af);
    return rc;
}

void gg_atomic_abort(gg_atomic_file *af) {
    if (!af) return;
    if (af->f) fclose(af->f);
    if (af->tmp_path) remove(af->tmp_path);
    free(af->path);
    free(af->tmp_path);
    memset(af, 0, sizeof *af);
}
