#!/usr/bin/env python3
"""The all-reduce cost model of docs/distributed.md, as a table.

Data parallelism with a fixed global batch B over R machines: each machine
computes a shard of B / R samples, then the ranks all-reduce the gradient
(G = 4 P bytes in the float build). A ring all-reduce sends and receives
2 (R - 1) / R G bytes per rank, in 2 (R - 1) messages, so on a link of L
bit/s with a per-message latency a:

    t_comm(R) = 2 (R - 1) / R * G / (L / 8) + 2 (R - 1) a     (0 at R = 1)
    t_step(R) = t_compute(B / R) + t_comm(R)
    samples/s = B / t_step(R)

t_compute(n) is a step's time on one machine at a shard of n samples,
measured (it does not fall as n / B: the optimiser's update and the guard's
norm pass are over all P parameters on every rank, whatever the shard).

    bench/mpi_cost_model.py --params 407050 --batch 64 \
        --step-ms 64:4.1,32:2.4,8:1.1,1:0.7 --name "784-512-10 MLP"

Prints a Markdown table for R = 1, 2, 8, 64 on 10 and 100 Gbit/s links.
--weak: the global batch grows with R (B per machine, B R in all), so every
machine computes a full shard of B and samples/s = B R / t_step(R).
"""
import argparse


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--params", type=int, required=True, help="trainable parameters P")
    ap.add_argument("--batch", type=int, default=64, help="global batch B")
    ap.add_argument("--step-ms", required=True,
                    help="measured step times on one machine, SHARD:MS,... for shards B/R")
    ap.add_argument("--bytes-per-param", type=int, default=4)
    ap.add_argument("--latency-us", default="10:30,100:10",
                    help="per-message latency per link speed, GBIT:US,... (TCP over Ethernet)")
    ap.add_argument("--ranks", default="1,2,8,64")
    ap.add_argument("--name", default="model")
    ap.add_argument("--weak", action="store_true", help="global batch B R: every machine keeps a shard of B")
    a = ap.parse_args()
    step = {int(k): float(v) for k, v in (kv.split(":") for kv in a.step_ms.split(","))}
    lat = {int(k): float(v) for k, v in (kv.split(":") for kv in a.latency_us.split(","))}
    ranks = [int(r) for r in a.ranks.split(",")]
    G = a.params * a.bytes_per_param
    how = f"global batch {a.batch} R ({a.batch} per machine)" if a.weak else f"global batch {a.batch}"
    print(f"**{a.name}**: P = {a.params:,} parameters, G = {G / 1e6:.3f} MB of gradient per step, {how}\n")
    print("| machines R | shard | compute ms | bytes sent per rank | "
          + " | ".join(f"{g} Gbit/s: all-reduce ms, samples/s, speed-up" for g in sorted(lat)) + " |")
    print("|---|---|---|---|" + "---|" * len(lat))
    base = {}
    for R in ranks:
        shard = a.batch if a.weak else (a.batch // R if a.batch % R == 0 else a.batch / R)
        n = a.batch if a.weak else max(1, round(a.batch / R))
        if n not in step:
            raise SystemExit(f"no measured step time for a shard of {n} samples (--step-ms)")
        tc = step[n] / 1e3
        sent = 2 * (R - 1) / R * G
        cells = []
        for g in sorted(lat):
            bw = g * 1e9 / 8
            tcomm = sent / bw + 2 * (R - 1) * lat[g] * 1e-6 if R > 1 else 0.0
            sps = (a.batch * R if a.weak else a.batch) / (tc + tcomm)
            if R == ranks[0]:
                base[g] = sps
            cells.append(f"{tcomm * 1e3:.2f} ms, {sps:,.0f}, {sps / base[g]:.2f}x")
        print(f"| {R} | {shard:g} | {tc * 1e3:.2f} | {sent / 1e6:.3f} MB | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
