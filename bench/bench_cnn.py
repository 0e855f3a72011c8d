#!/usr/bin/python3
"""Side-by-side training throughput: gradguard's bench_cnn against PyTorch on
a small CNN over Fashion-MNIST images [1, 28, 28], batch 64, 20 warm-up steps
then --steps timed steps, for SGD with momentum (lr 0.01, 0.9) and Adam
(lr 1e-3). The network, the same on both sides:
    conv2d(32, 3x3, padding 1)-relu-max_pool 2-conv2d(64, 3x3, padding 1)-
    relu-max_pool 2-flatten-dense 128-relu-dense 10, cross-entropy.

gradguard runs at 2 threads (the figure compared) and at 1 thread (reported).
PyTorch runs in two settings, each in a fresh process because BLAS reads its
environment when torch is imported:
    t1b2: torch.set_num_threads(1), OPENBLAS_NUM_THREADS=2
    t2b1: torch.set_num_threads(2), OPENBLAS_NUM_THREADS=1
and the faster of the two is PyTorch's figure. A benchmark, not a test: no
thresholds; never registered with CTest.

usage: bench/bench_cnn.py [--steps N] [--build-dir DIR] [--repeats R] [--markdown FILE]
       [--optimizers momentum,adam]
"""
import sys

import fashion_bench


def model(nn):
    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))


SPEC = fashion_bench.Spec(name="bench_cnn", script=__file__, doc=__doc__, model=model,
                          input_shape=(1, 28, 28), warmup=20, default_steps=300,
                          describe="CNN conv(32)-relu-pool-conv(64)-relu-pool-dense 128-relu-dense 10 "
                                   "on Fashion-MNIST [1, 28, 28]",
                          seconds_per_step=2)

if __name__ == "__main__":
    sys.exit(fashion_bench.main(SPEC))
