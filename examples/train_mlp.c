/* Train the default MLP on Fashion-MNIST through the C API, evaluate it
 * and save it: the whole library in one short program. */
#include <stdio.h>
#include "gradguard.h"

int main(void) {
    gg_error err = {0};
    gg_config *cfg = gg_config_new_default();
    gg_dataset *train = NULL, *val = NULL, *test = NULL;
    gg_model *model = NULL;
    gg_trainer *trainer = NULL;
    gg_step_info step;
    gg_eval_result res;
    int ok = gg_config_set(cfg, "train.epochs", "2", &err) == GG_OK &&
             gg_data_load(cfg, &train, &val, &test, &err) == GG_OK &&
             gg_model_new(cfg, 1000, &model, &err) == GG_OK &&
             gg_trainer_new(model, cfg, train, &trainer, &err) == GG_OK;
    for (int epoch = 0; ok && epoch < 2; epoch++) {
        do ok = gg_trainer_step(trainer, &step, &err) == GG_OK;
        while (ok && !step.epoch_end);
        ok = ok && gg_model_evaluate(model, val, &res, &err) == GG_OK;
        if (ok) printf("epoch %d: loss %.4f, validation accuracy %.2f%%\n", epoch + 1, step.loss, 100 * res.accuracy);
    }
    ok = ok && gg_model_evaluate(model, test, &res, &err) == GG_OK &&
         gg_model_save(model, "example-mlp.safetensors", &err) == GG_OK;
    if (ok) printf("test accuracy %.2f%%, saved example-mlp.safetensors\n", 100 * res.accuracy);
    else fprintf(stderr, "error: %s\n", err.msg);
    gg_trainer_free(trainer);
    gg_model_free(model);
    gg_dataset_free(train), gg_dataset_free(val), gg_dataset_free(test);
    gg_config_free(cfg);
    return ok ? 0 : 1;
}
