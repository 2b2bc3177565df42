#!/usr/bin/env python3
"""Writes the constructed (not measured) nccl-tests fixtures of this directory.

No public log of broadcast_perf or reduce_perf on data-centre GPUs was found (SOURCES.md), so
these files print what nccl-tests v2.19.6 would print for times that follow nest's chain model
of broadcast and reduce (docs/cost-model.md section 4), using nccl-tests' own formats:

  text  src/util.cu writeDeviceReport, writeResultHeader, writeBenchmarkLinePreamble
        ("%12li  %12li  %8s  %6s  %6s", root as "%6i"), writeBenchmarkLineBody (getFloatStr
        widths 7/6/6, "#wrong" as "%6g"), writeResultFooter, finalizeFooter, writeErrors;
        src/broadcast.cu BroadcastGetBw and src/reduce.cu ReduceGetBw (busbw = algbw).
  -J    src/util.cu jsonOutputInit, writeDeviceReport's "config", jsonDouble ("%lf"),
        jsonBool (a string), jsonRankInfo, writeBenchmarkLineTerminator (experiment_name "").

Run from anywhere: python3 tests/data/nccl-tests/make_constructed.py
"""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
VERSION = "2.19.6"
NCCL_CODE = 22907  # NCCL 2.29.7
DEVICE = "NVIDIA H100 80GB HBM3"
PCI = ["1b", "43", "52", "61", "9d", "c3", "d1", "df"]


def float_str(value, width):
    """nccl-tests getFloatStr."""
    for fmt in ("%*.2f", "%*.1f", "%*.0f"):
        s = fmt % (width, value)
        if len(s) <= width:
            return s
    return ("%*.1e" if width >= 7 else "%*.0e") % (width, value)


def sizes(lo, hi, factor):
    s = lo
    while s <= hi:
        yield s
        s *= factor


def chain_time_us(size, hops, alpha_us, bandwidth_GBps):
    """nest's chain model for one level: hops * alpha + S / B."""
    return hops * alpha_us + size / (bandwidth_GBps * 1e3)


# ---------------------------------------------------------------- text, one node of 8 GPUs


def text_run(program, redop, alpha_us, bw_GBps, wrong_at, pid0):
    out = []
    p = out.append
    p("# nccl-tests version %s nccl-headers=%d nccl-library=%d\n" % (VERSION, NCCL_CODE, NCCL_CODE))
    p("# Collective test starting: %s\n" % program)
    p("# nThread %d nGpus %d minBytes %d maxBytes %d step: %d(%s) warmup iters: %d iters: %d agg iters: %d "
      "validation: %d graph: %d unalign: %d\n" % (1, 1, 1024, 1073741824, 4, "factor", 5, 20, 1, 1, 0, 0))
    p("#\n")
    p("# Using devices\n")
    for r in range(8):
        p("#  Rank %2d Group %2d Pid %6d on %10s device %2d [%04x:%02x:%02x] %s\n"
          % (r, 0, pid0 + r, "node-a", r, 0, int(PCI[r], 16), 0, DEVICE))
    p("#\n")
    p("# %10s  %12s  %8s  %6s  %6s           out-of-place                       in-place          \n" % ("", "", "", "", ""))
    p("# %10s  %12s  %8s  %6s  %6s  %7s  %6s  %6s  %6s  %7s  %6s  %6s  %6s %*s\n"
      % ("size", "count", "type", "redop", "root", "time", "algbw", "busbw", "#wrong", "time", "algbw", "busbw", "#wrong", 0, ""))
    p("# %10s  %12s  %8s  %6s  %6s  %7s  %6s  %6s  %6s  %7s  %6s  %6s  %6s %*s\n"
      % ("(B)", "(elements)", "", "", "", "(us)", "(GB/s)", "(GB/s)", "", "(us)", "(GB/s)", "(GB/s)", "", 0, ""))
    errors, bw_sum, bw_count = 0, 0.0, 0
    for size in sizes(1024, 1073741824, 4):
        line = "%12li  %12li  %8s  %6s  %6s" % (size, size // 4, "float", redop, "%6i" % 0)
        for in_place in (0, 1):
            t = chain_time_us(size, 7, alpha_us, bw_GBps) * (1.004 if in_place else 1.0)
            algbw = size / 1e9 / (t * 1e-6)
            busbw = algbw * 1  # BroadcastGetBw / ReduceGetBw: factor 1
            wrong = wrong_at.get((size, in_place), 0)
            if wrong:
                errors += 1  # CheckData: args->errors[0]++ per failing check
            line += "  %7s  %6s  %6s  %6g" % (float_str(t, 7), float_str(algbw, 6), float_str(busbw, 6), wrong)
            bw_sum += busbw
            bw_count += 1
        p(line + "\n")
    p("# %-20s : %d %s\n" % ("Out of bounds values", errors, "FAILED" if errors else "OK"))
    p("# %-20s : %g %s\n" % ("Avg bus bandwidth", bw_sum / bw_count, ""))
    p("#\n")
    p("# Collective test concluded: %s\n" % program)
    p("#\n")  # finalizeFooter
    p("\n")  # writeErrors, no NCCL error
    return "".join(out)


def write_text():
    text = text_run("broadcast_perf", "none", 2.5, 340.0, {}, 2210400)
    # reduce: one data-check failure, out of place at 64 MiB (12 wrong elements summed over ranks).
    text += text_run("reduce_perf", "sum", 3.0, 320.0, {(67108864, 0): 12}, 2210500)
    with open(os.path.join(HERE, "h100x8_1node_broadcast_reduce_constructed-2.19.6.txt"), "w") as f:
        f.write(text)


# ---------------------------------------------------------------- -J JSON, 2 nodes x 4 GPUs


# nccl-tests' streaming JSON writer is compact, prints doubles as "%lf" and booleans as strings.
def dbl(v):
    return '"nan"' if v != v else "%f" % v


def js(v):
    return json.dumps(v)


def write_json():
    hosts = ["node-a"] * 4 + ["node-b"] * 4
    alpha0_us, alpha1_us, bw1_GBps = 2.5, 8.0, 40.0
    devices = []
    for r in range(8):
        devices.append("{" + ",".join([
            '"rank":%d' % r, '"group":%d' % 0, '"pid":%d' % (3300100 + r), '"hostname":%s' % js(hosts[r]),
            '"device":%d' % (r % 4), '"device_hex":%s' % js("0000:%s:00" % PCI[r % 4]),
            '"device_info":%s' % js(DEVICE)]) + "}")
    config = ",".join([
        '"nthreads":1', '"ngpus":1', '"minimum_bytes":1024', '"maximum_bytes":1073741824', '"step_factor":4',
        '"warmup_iters":5', '"iterations":20', '"aggregated_iterations":1', '"validation":1', '"graph":0',
        '"blocking_collectives":"false"', '"per_iter_timing":"false"', '"per_iter_skip":0', '"parallel_init":"false"',
        '"devices":[' + ",".join(devices) + "]"])
    results = []
    bw_sum, bw_count = 0.0, 0
    for size in sizes(1024, 1073741824, 4):
        # Across 2 nodes of 4: the network carries S/4 per GPU (one hop), NVLink 3 hops per node.
        t = 3 * alpha0_us + 1 * alpha1_us + size / 4 / (bw1_GBps * 1e3)
        parts = ['"size":%d' % size, '"count":%d' % (size // 4), '"type":"float"', '"redop":"sum"', '"root":"%6i"' % 0]
        for key, tt in (("out_of_place", t), ("in_place", t * 1.004)):
            algbw = size / 1e9 / (tt * 1e-6)
            parts.append('"%s":{"time":%s,"alg_bw":%s,"bus_bw":%s,"nwrong":%s}'
                         % (key, dbl(tt), dbl(algbw), dbl(algbw), dbl(0.0)))
            bw_sum += algbw
            bw_count += 1
        parts += ['"actual_iterations":20', '"experiment_name":""']
        results.append("{" + ",".join(parts) + "}")
    args = ["./build/reduce_perf_mpi", "-b", "1K", "-e", "1G", "-f", "4", "-g", "1", "-J", "reduce.json"]
    env = ["OMPI_COMM_WORLD_SIZE=8", "NCCL_DEBUG=WARN"]
    doc = "{" + ",".join([
        '"version":3', '"start_time":"2026-03-02 10:15:00"', '"args":[' + ",".join(js(a) for a in args) + "]",
        '"env":[' + ",".join(js(e) for e in env) + "]", '"nccl_version":%d' % NCCL_CODE,
        '"config":{' + config + "}", '"results":[' + ",".join(results) + "]",
        '"out_of_bounds":{"count":0,"okay":"true"}',
        '"average_bus_bandwidth":{"bandwidth":%s,"okay":"unchecked"}' % dbl(bw_sum / bw_count), '"errors":[""]',
        '"end_time":"2026-03-02 10:15:41"']) + "}"
    json.loads(doc)  # well-formed
    with open(os.path.join(HERE, "json", "reduce_2x4gpu_v3_constructed.json"), "w") as f:
        f.write(doc)


if __name__ == "__main__":
    write_text()
    write_json()
