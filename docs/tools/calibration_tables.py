#!/usr/bin/env python3
"""Writes (or checks) the tables of docs/cost-model.md section 9 that are nest's own output.

    build/bin/nest calibrate --loo --json > /tmp/runs.json
    build/bin/nest calibrate --kind memory --json > /tmp/memory.json
    build/bin/nest_collectives_error > /tmp/collectives.md
    python3 docs/tools/calibration_tables.py /tmp/runs.json /tmp/memory.json /tmp/collectives.md \
        docs/cost-model.md [--check]

Tables, each found by its header row and replaced whole (the prose around them is the author's):
  9.1  the line "Fitted: ...": the shipped constants (presets/calibration/generations.json, which
       the calibration test holds to the fit);
  9.2  every step-time dataset: role, generation, rows, in-sample and out-of-sample errors; and
       every (model, GPU generation) series out of sample, worst first, as `--loo` counts them;
  9.3  the two reference tables (Megatron-Core 2024 H100, Megatron-LM SC21 A100) row by row, and
       the two summary lines under them;
  9.4  every peak-memory dataset, its rows, and MLPerf's logged peaks (a table of their own);
  9.5  every nccl-tests log against nest's collectives, the table bench/collectives_error.cpp prints.
--check writes nothing: it prints what differs and exits 1 if the document is not what nest
prints (tests/docs runs it in ctest), 0 if it is.
"""
import difflib
import json
import os
import sys

RUNS_HEADER = "| dataset | role | generation | rows | in sample: mean | largest | out of sample: mean | largest |"
REFERENCE_HEADER = ("| dataset | run | GPUs | configuration (published + searched) | published | predicted | error "
                    "| out of sample | fits |")
REFERENCE_DATASETS = ("megatron-core-h100-2024", "megatron-sc21-a100")
SERIES_HEADER = ("| model | generation | dense | rows | out of sample: mean | largest row | MFU: mean |")
MEMORY_HEADER = "| dataset | rows | mean error | largest |"
MEMORY_ROWS_HEADER = "| dataset | run | configuration | measured GiB | predicted GiB | error | source |"
MLPERF_MEMORY_HEADER = "| dataset | run | GPUs | configuration | measured GiB | predicted GiB | error |"
COLLECTIVES_HEADER = ("| log | preset | collective | ranks | sizes | median error | largest error "
                      "| error at the largest size |")
ALLOCATED, TRANSIENT, IN_USE = "peak_allocated_GiB", "transient_peak_GiB", "device_used_GiB"


def pct(x):
    return "%.1f%%" % (100 * x)


def signed_pct(x):
    return "%+.1f%%" % (100 * x)


def table(header, rows):
    cells = header.count("|") - 1
    return [header, "|" + "---|" * cells] + ["| " + " | ".join(r) + " |" for r in rows]


def runs_table(runs):
    rows = []
    for d in runs["datasets"]:
        fitted = d["fitted_on"]
        inside = [pct(d["mean_abs_error"]), pct(d["max_abs_error"])] if fitted else ["-", "-"]
        if "out_of_sample_mean_abs_error" in d:
            outside = [pct(d["out_of_sample_mean_abs_error"]), pct(d["out_of_sample_max_abs_error"])]
        elif not fitted:
            outside = [pct(d["mean_abs_error"]), pct(d["max_abs_error"])]
        else:
            outside = ["-", "-"]
        rows.append([d["dataset"], "fit" if fitted else "validation", d["generation"], str(d["rows"])] + inside + outside)
    return table(RUNS_HEADER, rows)


def series_table(runs):
    series = sorted(runs["out_of_sample_by_series"]["series"], key=lambda e: (-e["mean_abs_error"], e["model"]))
    rows = [[e["model"], e["generation"], "no (MoE)" if e["moe"] else "yes", str(e["rows"]), pct(e["mean_abs_error"]),
             pct(e["max_abs_error"]), pct(e["mfu_mean_abs_error"])] for e in series]
    return table(SERIES_HEADER, rows)


def reference_table(runs):
    rows = []
    for r in runs["rows"]:
        if r["dataset"] not in REFERENCE_DATASETS:
            continue
        oos = signed_pct(r["out_of_sample_error"]) if "out_of_sample_error" in r else "-"
        rows.append([r["dataset"], r["id"], str(r["gpus"]), r["configuration"], "%.1f" % r["published"],
                     "%.1f" % r["predicted"], signed_pct(r["error"]), oos, "yes" if r["fits"] else "NO"])
    return table(REFERENCE_HEADER, rows)


def reference_summary(runs, name):
    d = next(s for s in runs["datasets"] if s["dataset"] == name)
    line = "%s: mean %s, largest %s in sample" % (name, pct(d["mean_abs_error"]), pct(d["max_abs_error"]))
    if "out_of_sample_mean_abs_error" in d:
        line += "; out of sample mean %s, largest %s" % (pct(d["out_of_sample_mean_abs_error"]),
                                                          pct(d["out_of_sample_max_abs_error"]))
    return line + "."


def fitted_line(doc_path):
    root = os.path.join(os.path.dirname(os.path.abspath(doc_path)), "..")
    generations = json.load(open(os.path.join(root, "presets", "calibration", "generations.json")))
    fitted = sorted((name, g["sustained"]) for name, g in generations.items()
                    if isinstance(g, dict) and g.get("source", "").startswith("fitted"))
    return "Fitted: " + ", ".join("%s %.3f" % (name, value) for name, value in fitted) + "."


def memory_label(name, rows):
    metrics = [r["metric"] for r in rows if r["dataset"] == name]
    allocated, transient = metrics.count(ALLOCATED), metrics.count(TRANSIENT)
    if allocated and transient:
        return "%s (%d allocated, %d transient)" % (name, allocated, transient)
    if allocated == len(metrics):
        stages = {r.get("peak_stage") for r in rows if r["dataset"] == name}
        return "%s (allocated%s)" % (name, ", rank 0" if stages == {0} else "")
    if metrics.count(IN_USE) == len(metrics):
        stages = {r.get("peak_stage") for r in rows if r["dataset"] == name}
        return "%s (in use, nvidia-smi%s)" % (name, ", first stage" if stages == {0} else "")
    return name


def memory_table(memory):
    rows = [[memory_label(d["dataset"], memory["rows"]), str(d["rows"]), pct(d["mean_abs_error"]), pct(d["max_abs_error"])]
            for d in memory["datasets"]]
    return table(MEMORY_HEADER, rows)


def memory_rows_table(memory):
    rows = []
    for r in memory["rows"]:
        if r["dataset"].startswith("mlperf-"):
            continue
        logged = r["metric"] in (ALLOCATED, TRANSIENT)  # bytes the run logged: two decimals
        value = "%.2f" if logged else "%.1f"
        run = r["id"] + (" (allocated)" if r["metric"] == ALLOCATED else "")
        rows.append([r["dataset"], run, r["configuration"], value % r["published"], value % r["predicted"],
                     signed_pct(r["error"]), r["source"].split(" ")[0]])  # its file (the dataset says the rest)
    return table(MEMORY_ROWS_HEADER, rows)


def mlperf_memory_table(memory):
    rows = [[r["dataset"], r["id"], "{:,}".format(r["gpus"]), r["configuration"], "%.2f" % r["published"],
             "%.2f" % r["predicted"], signed_pct(r["error"])] for r in memory["rows"] if r["dataset"].startswith("mlperf-")]
    return table(MLPERF_MEMORY_HEADER, rows)


def replace_table(lines, header, new):
    starts = [i for i, l in enumerate(lines) if l == header]
    if len(starts) != 1:
        sys.exit("calibration_tables.py: %d tables headed '%s' in the document (want 1)" % (len(starts), header))
    end = starts[0]
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    return lines[:starts[0]] + new + lines[end:]


def replace_line(lines, prefix, new):
    found = [i for i, l in enumerate(lines) if l.startswith(prefix)]
    if len(found) != 1:
        sys.exit("calibration_tables.py: %d lines start with '%s' in the document (want 1)" % (len(found), prefix))
    lines[found[0]] = new
    return lines


def main(argv):
    check = "--check" in argv
    args = [a for a in argv if a != "--check"]
    if len(args) != 4:
        sys.exit(__doc__)
    runs, memory = json.load(open(args[0])), json.load(open(args[1]))
    collectives = [l for l in open(args[2]).read().split("\n") if l.startswith("|")]
    if not collectives or collectives[0] != COLLECTIVES_HEADER:
        sys.exit("calibration_tables.py: %s is not nest_collectives_error's table" % args[2])
    doc_path = args[3]
    old = open(doc_path).read().split("\n")
    lines = replace_line(list(old), "Fitted: ", fitted_line(doc_path))
    lines = replace_table(lines, RUNS_HEADER, runs_table(runs))
    lines = replace_table(lines, SERIES_HEADER, series_table(runs))
    lines = replace_table(lines, REFERENCE_HEADER, reference_table(runs))
    for name in REFERENCE_DATASETS:
        lines = replace_line(lines, name + ": mean ", reference_summary(runs, name))
    lines = replace_table(lines, MEMORY_HEADER, memory_table(memory))
    lines = replace_table(lines, MEMORY_ROWS_HEADER, memory_rows_table(memory))
    lines = replace_table(lines, MLPERF_MEMORY_HEADER, mlperf_memory_table(memory))
    lines = replace_table(lines, COLLECTIVES_HEADER, collectives)
    if not check:
        open(doc_path, "w").write("\n".join(lines))
        return 0
    if lines == old:
        return 0
    print("%s: section 9 is not what nest prints (- the document, + nest); regenerate it with %s" % (doc_path, __file__))
    diff = list(difflib.unified_diff(old, lines, lineterm="", n=0))[2:]
    for l in diff[:40]:
        print(l)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
