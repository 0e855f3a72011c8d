/* Status codes and the one way a failure is reported: gg_fail fills the
 * caller's gg_error and returns the code, so `return gg_fail(...)` reads well. */
#include <stdio.h>
#include "core/core.h"

static const char *const status_names[] = {
    [GG_OK] = "ok",           [GG_ERR_ARG] = "arg",       [GG_ERR_CONFIG] = "config",
    [GG_ERR_DATA] = "data",   [GG_ERR_SHAPE] = "shape",   [GG_ERR_IO] = "io",
    [GG_ERR_NOMEM] = "nomem", [GG_ERR_NONFINITE] = "nonfinite",
    [GG_ERR_DIVERGED] = "diverged",
};

const char *gg_status_name(gg_status s) {
    if ((unsigned)s < sizeof status_names / sizeof status_names[0] && status_names[s])
        return status_names[s];
    return "unknown";
}

const char *gg_version(void) { return GG_VERSION; }

gg_status gg_fail(gg_error *err, gg_status code, const char *fmt, ...) {
    if (err) {
        err->code = code;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}
