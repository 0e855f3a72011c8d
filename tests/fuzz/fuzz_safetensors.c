/* libFuzzer harness for the safetensors reader (gg_st_read) and, when a file
 * reads, gg_model_load of it into a small model built once (input [4],
 * dense 3), which checks names, shapes, dtypes and values (src/io/weights.c).
 * A file that reads has tensors sorted by name whose data lie in the file. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "fuzz_common.h"
#include "gradguard.h"
#include "io/io.h"

static gg_model *model; /* built once, reachable until exit */

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    gg_config *c = gg_config_new_default();
    gg_set_threads(1);
    if (!c || gg_config_load_string(c,
                                    "model:\n"
                                    "  input: [4]\n"
                                    "  layers:\n"
                                    "    - dense: {units: 3}\n"
                                    "loss: mse\n",
                                    NULL) != GG_OK ||
        gg_model_new(c, 2, &model, NULL) != GG_OK)
        __builtin_trap();
    gg_config_free(c);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gg_st_file f;
    gg_error err;
    const char *path = fuzz_write_file("safetensors", data, size);
    if (gg_st_read(path, &f, &err) != GG_OK) {
        gg_st_free(&f);
        return 0;
    }
    const uint8_t *end = f.blob + f.blob_len;
    volatile uint8_t sum = 0;
    for (int i = 0; i < f.n; i++) {
        const gg_st_tensor *t = &f.tensors[i];
        if (i > 0 && strcmp(f.tensors[i - 1].name, t->name) >= 0) __builtin_trap();
        if (t->nbytes != t->count * gg_st_dtype_size(t->dtype) || t->data < f.blob ||
            t->nbytes > (size_t)(end - t->data))
            __builtin_trap();
        if (t->nbytes) sum += t->data[0] + t->data[t->nbytes - 1];
        if (gg_st_find(&f, t->name) != t) __builtin_trap();
    }
    for (int i = 0; i < f.n_meta; i++)
        if (!gg_st_meta(&f, f.meta_keys[i])) __builtin_trap();
    (void)sum;
    gg_st_free(&f);
    gg_model_load(model, path, &err);
    return 0;
}
