/* libFuzzer harness for the IDX reader (gg_idx_read), raw and gzipped: the
 * input is the file as it is, so zlib sees the 1f 8b magic when the fuzzer
 * makes one. A file that reads must hold exactly the values its dims say. */
#include <stddef.h>
#include <stdint.h>
#include "fuzz_common.h"
#include "io/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gg_idx_array a;
    gg_error err;
    const char *path = fuzz_write_file("idx", data, size);
    if (gg_idx_read(path, &a, &err) == GG_OK) {
        size_t count = 1;
        for (int i = 0; i < a.ndim; i++) count *= a.dims[i];
        if (a.ndim < 1 || a.ndim > GG_IDX_MAX_DIMS || count != a.count || !a.values)
            __builtin_trap();
        volatile double sum = 0; /* touch every value: ASan checks the buffer's size */
        for (size_t i = 0; i < a.count; i++) sum += a.values[i];
        (void)sum;
    }
    gg_idx_free(&a);
    return 0;
}
