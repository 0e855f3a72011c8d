/* libFuzzer harness for the int8 model reader (gg_qmodel_load): a file
 * that loads into the small model built from the config below (input [4],
 * dense 3, ReLU, dense 2) is run on two samples, so every scale, zero
 * point and packed weight the reader accepted is used. The reader must
 * refuse, with an error and no crash, any file whose tensors, dtypes,
 * shapes or values do not fit that model. */
#include <stddef.h>
#include <stdint.h>
#include "fuzz_common.h"
#include "gradguard.h"

static gg_config *config; /* built once, reachable until exit */

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    gg_set_threads(1);
    config = gg_config_new_default();
    if (!config || gg_config_load_string(config,
                                         "model:\n"
                                         "  input: [4]\n"
                                         "  layers:\n"
                                         "    - dense: {units: 3}\n"
                                         "    - relu\n"
                                         "    - dense: {units: 2}\n",
                                         NULL) != GG_OK)
        __builtin_trap();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gg_error err;
    gg_qmodel *q = NULL;
    const char *path = fuzz_write_file("qmodel", data, size);
    if (gg_qmodel_load(path, config, 2, &q, &err) != GG_OK) {
        if (q) __builtin_trap(); /* a refused file leaves nothing behind */
        return 0;
    }
    const gg_real x[8] = {0.5, -1, 2, 0, -0.25, 3, 1, -2};
    gg_real y[4];
    if (gg_qmodel_predict(q, x, 2, y, &err) != GG_OK) __builtin_trap();
    gg_qmodel_free(q);
    return 0;
}
