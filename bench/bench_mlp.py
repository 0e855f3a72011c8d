#!/usr/bin/python3
"""Side-by-side training throughput: gradguard's bench_mlp against PyTorch on
the 784-256-256-10 ReLU MLP, Fashion-MNIST, batch 64, 100 warm-up steps then
--steps timed steps, for SGD with momentum (lr 0.01, 0.9) and Adam (lr 1e-3).

gradguard runs at 2 threads (the figure compared) and at 1 thread (reported).
PyTorch runs in two settings, each in a fresh process because BLAS reads its
environment when torch is imported:
    t1b2: torch.set_num_threads(1), OPENBLAS_NUM_THREADS=2
    t2b1: torch.set_num_threads(2), OPENBLAS_NUM_THREADS=1
and the faster of the two is PyTorch's figure. A benchmark, not a test: no
thresholds; never registered with CTest.

usage: bench/bench_mlp.py [--steps N] [--build-dir DIR] [--repeats R] [--markdown FILE]
       [--optimizers momentum,adam]
"""
import sys

import fashion_bench


def model(nn):
    return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                         nn.Linear(256, 10))


SPEC = fashion_bench.Spec(name="bench_mlp", script=__file__, doc=__doc__, model=model,
                          input_shape=(784,), warmup=100, default_steps=2000,
                          describe="784-256-256-10 ReLU MLP, Fashion-MNIST",
                          seconds_per_step=1)

if __name__ == "__main__":
    sys.exit(fashion_bench.main(SPEC))
