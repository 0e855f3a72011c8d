/* Layers build graphs from a config entry: they create named parameters
 * and buffers (PyTorch's names: layers.{i}.weight, and for a residual
 * block's body layers.{i}.layers.{j}.weight) and chain ops; none has a
 * backward of its own. prefix is "" at the top level, "layers.2.layers."
 * inside block 2. */
#ifndef GG_LAYERS_H
#define GG_LAYERS_H

#include "graph/graph.h"

/* Appends layer `index` described by s on top of x; NULL on a shape error
 * (recorded in the graph, naming the layer). */
gg_node *gg_layer_build(gg_graph *g, gg_node *x, const gg_layer_spec *s, int index,
                        const char *prefix);
gg_node *gg_layer_dense(gg_graph *g, gg_node *x, const gg_layer_spec *s, int index,
                        const char *prefix);
gg_node *gg_layer_conv2d(gg_graph *g, gg_node *x, const gg_layer_spec *s, int index,
                         const char *prefix);
gg_node *gg_layer_pool(gg_graph *g, gg_node *x, const gg_layer_spec *s, int index,
                       const char *prefix);
gg_node *gg_layer_batch_norm(gg_graph *g, gg_node *x, const gg_layer_spec *s, int index,
                             const char *prefix);
gg_node *gg_layer_layer_norm(gg_graph *g, gg_node *x, const gg_layer_spec *s, int index,
                             const char *prefix);
gg_node *gg_layer_prelu(gg_graph *g, gg_node *x, const gg_layer_spec *s, int index,
                        const char *prefix);
gg_node *gg_layer_recurrent(gg_graph *g, gg_node *x, const gg_layer_spec *s, int index,
                            const char *prefix);
gg_node *gg_layer_residual(gg_graph *g, gg_node *x, const gg_layer_spec *s, int index,
                           const char *prefix);

/* Shared by the layer files: "layers.3 (conv2d)" with its prefix, for messages. */
const char *gg_layer_label(const gg_layer_spec *s, int index, const char *prefix, char *buf,
                           size_t cap);
/* Records a shape error naming the layer, its input shape and what it needs. */
void gg_layer_shape_error(gg_graph *g, gg_node *x, const gg_layer_spec *s, int index,
                          const char *prefix, const char *needs);
/* The weight's init scale argument: scale for uniform/normal, else gain. */
double gg_layer_init_arg(gg_init init, const gg_layer_spec *s);

#endif
