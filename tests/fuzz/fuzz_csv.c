/* libFuzzer harness for the CSV reader (gg_csv_read). A table that reads has
 * at least one row, finite values only, and a name per column if a header. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "fuzz_common.h"
#include "io/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gg_csv_table t;
    gg_error err;
    const char *path = fuzz_write_file("csv", data, size);
    if (gg_csv_read(path, &t, &err) == GG_OK) {
        if (t.rows < 1 || t.cols < 1 || !t.values || t.has_header != (t.names != NULL))
            __builtin_trap();
        for (size_t i = 0; i < t.rows * (size_t)t.cols; i++)
            if (!isfinite(t.values[i])) __builtin_trap();
        volatile size_t len = 0; /* touch every name: ASan checks them */
        for (int i = 0; t.names && i < t.cols; i++) len += strlen(t.names[i]);
        (void)len;
    }
    gg_csv_free(&t);
    return 0;
}
