/* libFuzzer harness for the YAML config loader: the input, cut at its first
 * NUL, goes to gg_config_load_string on the defaults; what loads must write
 * out and read back the same (fuzz_config.h). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz_config.h"
#include "gradguard.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    gg_config *c = gg_config_new_default();
    gg_error err;
    if (!text || !c) __builtin_trap();
    memcpy(text, data, size);
    text[size] = '\0';
    if (gg_config_load_string(c, text, &err) == GG_OK) fuzz_config_round_trip(c);
    gg_config_free(c);
    free(text);
    return 0;
}
