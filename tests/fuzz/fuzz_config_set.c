/* libFuzzer harness for --set: the input is split at its first '=' into KEY
 * and VALUE (no '=': all of it is KEY, VALUE is empty), both cut at a NUL,
 * for gg_config_set on the defaults; what sets must write out and read back
 * the same (fuzz_config.h). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz_config.h"
#include "gradguard.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *key = malloc(size + 2);
    gg_config *c = gg_config_new_default();
    gg_error err;
    if (!key || !c) __builtin_trap();
    memcpy(key, data, size);
    key[size] = key[size + 1] = '\0';
    char *eq = memchr(key, '=', size);
    char *value = eq ? eq + 1 : key + size + 1;
    if (eq) *eq = '\0';
    if (gg_config_set(c, key, value, &err) == GG_OK) fuzz_config_round_trip(c);
    gg_config_free(c);
    free(key);
    return 0;
}
