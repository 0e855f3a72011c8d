/* The config harnesses' oracle: a config that loaded is written as YAML
 * (gg_config_write), and that text must load back onto the defaults and
 * write out identically, as config_write.c promises. */
#ifndef GG_FUZZ_CONFIG_H
#define GG_FUZZ_CONFIG_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gradguard.h"

/* The resolved config as YAML, malloc'd; traps if it cannot be written. */
static char *fuzz_config_text(const gg_config *c) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) __builtin_trap();
    gg_status st = gg_config_write(c, f, NULL);
    if (fclose(f) != 0 || st != GG_OK) __builtin_trap();
    return text;
}

static void fuzz_config_round_trip(const gg_config *c) {
    char *text = fuzz_config_text(c);
    gg_config *back = gg_config_new_default();
    if (!back) __builtin_trap();
    if (gg_config_load_string(back, text, NULL) != GG_OK) __builtin_trap();
    char *again = fuzz_config_text(back);
    if (strcmp(text, again) != 0) __builtin_trap();
    free(again);
    gg_config_free(back);
    free(text);
}

#endif
