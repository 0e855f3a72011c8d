/* What the harnesses share: readers that take a path get the input through
 * one temporary file per process, rewritten for each input and removed at
 * exit. Harnesses never print; a failure to write the file is a trap, since
 * it means the machine, not the input, is broken. */
#ifndef GG_FUZZ_COMMON_H
#define GG_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char fuzz_path[64];

static void fuzz_remove_file(void) {
    if (fuzz_path[0]) remove(fuzz_path);
}

/* /tmp/gg_fuzz_NAME.PID, reused for every input of this process. */
static const char *fuzz_write_file(const char *name, const uint8_t *data, size_t size) {
    if (!fuzz_path[0]) {
        snprintf(fuzz_path, sizeof fuzz_path, "/tmp/gg_fuzz_%s.%ld", name, (long)getpid());
        atexit(fuzz_remove_file);
    }
    FILE *f = fopen(fuzz_path, "wb");
    if (!f) __builtin_trap();
    if (size && fwrite(data, 1, size, f) != size) __builtin_trap();
    if (fclose(f) != 0) __builtin_trap();
    return fuzz_path;
}

#endif
