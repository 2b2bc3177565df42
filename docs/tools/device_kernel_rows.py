#!/usr/bin/env python3
"""Kernel-table rows (presets/calibration/kernel-benchmarks.csv) from what nest measured on a lent
H200 (2026-12-04): the operator profiles of `nest profile --ops` (cuBLASLt bf16 GEMMs on random
operands, the copy kernel) and the output of the SDPA/torch.mm script run beside them
(tests/data/profiles/h200-torch-attention-mm.txt, from bench/device/attention.py).

The script synchronised after every timed run, so each of its intervals includes the host's
dispatch latency (tens of microseconds); its rows whose interval is under 1 ms are left out. The
profiles' intervals (events back to back on a busy stream) have no such bias.

usage: device_kernel_rows.py PROFILE.json... ATTENTION.txt  > rows.csv   (no header)
"""
import csv
import json
import sys

MIN_INTERVAL_S = 1e-3
out = csv.writer(sys.stdout, lineterminator="\n")
profiles = [a for a in sys.argv[1:] if a.endswith(".json")]
texts = [a for a in sys.argv[1:] if a.endswith(".txt")]
seen = set()
for path in profiles:
    p = json.load(open(path))
    sw = p["software"]
    lib = f"cuBLASLt (CUDA {sw['cuda_runtime']}) via nest profile --ops"
    cfg = p["operators"]["config"]
    for r in p["operators"]["gemm"]:
        key = (r["m"], r["n"], r["k"], r["batch"])
        if key in seen:  # the same shape measured for two models or passes: keep the first
            continue
        seen.add(key)
        out.writerow(["NEST-H200-PROFILE", "H200", "gemm_bf16", r["m"], r["n"], r["k"], r["batch"], "", "", "", "",
                      f"{r['TFLOPs']:.1f}", "TFLOP/s", lib,
                      f"{path.split('/')[-1]} {r['key']}: median of {cfg['iters']} CUDA-event-timed runs, random bf16 operands"])
    big = max(p["operators"]["memory"], key=lambda r: r["bytes"])
    out.writerow(["NEST-H200-PROFILE", "H200", "hbm_copy", "", "", "", "", "", "", "", "",
                  f"{big['bandwidth_GBps']:.0f}", "GB/s", lib,
                  f"{path.split('/')[-1]} {big['key']}: 16-byte-vector copy, read + write bytes over time"])
for path in texts:
    lines = open(path).read().splitlines()
    version = lines[0]
    for line in lines[1:]:
        f = line.split(",")
        if f[0] == "ATTN" and f[3] != "fail":
            _, backend, s, b, h, d, causal, fwd, bwd, _fb = f
            kernel = "flash_attn2" if backend == "flash2" else "cudnn_sdpa"
            flops = 4 * int(b) * int(s) ** 2 * int(h) * int(d) * (0.5 if causal == "yes" else 1)
            if flops / (float(fwd) * 1e12) < MIN_INTERVAL_S:
                continue
            for pas, v in (("fwd", fwd), ("bwd", bwd)):
                out.writerow(["NEST-H200-TORCH", "H200", f"{kernel}_{pas}", "", "", "", b, s, h, d, causal, v, "TFLOP/s",
                              f"torch {version} SDPA backend {backend}",
                              f"{path.split('/')[-1]}: median of 20 CUDA-event-timed runs, randn inputs; "
                              "bwd = backward alone (forward+backward minus forward), 2.5x the forward FLOPs"])
        elif f[0] == "MM":
            _, m, n, k, tf = f
            if 2 * int(m) * int(n) * int(k) / (float(tf) * 1e12) < MIN_INTERVAL_S:
                continue
            out.writerow(["NEST-H200-TORCH", "H200", "gemm_bf16", m, n, k, 1, "", "", "", "", tf, "TFLOP/s",
                          f"torch {version.split()[0]} torch.mm",
                          f"{path.split('/')[-1]}: median of 50 CUDA-event-timed runs after 10 warm-ups, randn operands"])
