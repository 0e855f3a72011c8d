/* Layers build graphs from a config entry: they create named parameters
 * (PyTorch's names, layers.{i}.weight) and chain ops; none has a backward
 * of its own. */
#ifndef GG_LAYERS_H
#define GG_LAYERS_H

#include "graph/graph.h"

/* Appends layer `index` described by s on top of x; NULL on a shape error
 * (recorded in the graph, naming the layer). */
gg_node *gg_layer_build(gg_graph *g, gg_node *x, const gg_layer_spec *s, int index,
                        const char *prefix);
gg_node *gg_layer_dense(gg_graph *g, gg_node *x, const gg_layer_spec *s, int index,
                        const char *prefix);

#endif
