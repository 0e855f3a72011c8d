/* The op table, generated from ops.def: lookup by id for tools and tests. */
#include "ops/ops.h"

const gg_op_def *const gg_op_table[GG_OP_COUNT] = {
#define GG_OP(E, n) [GG_OP_##E] = &gg_op_##n,
#include "ops/ops.def"
#undef GG_OP
};
