#!/usr/bin/env python3
"""Step times of MLPerf Training results, as presets/calibration/runs/mlperf-training-*.csv take
them: read from the submissions' own MLPerf logs (NVIDIA/results/<system>/<benchmark>/result_N.txt
in mlcommons/training_results_vX.Y), one line per result file.

Two ways a log times the steps, both used:
- `tracked_stats` events with a per-step `train_step_time` (Llama 3.1, MLPerf v5.0 on) or
  `train_step_timing` / `train_step_timing in s` (NeMo GPT-3 logs): the median over the run;
- `block_start` / `block_stop` events around each evaluation block, whose `epoch_count` is the
  block's tokens (GPT-3): block time / (tokens / (global_batch_size x max_sequence_length)), the
  median over the run's blocks.
A dataset row's value is the median of its three results' medians (result_0..2).

The last column is the largest `max_memory_usage` the log prints (rank 0's allocated peak in GiB,
mlperf-common's logging callback from MLPerf v5.0 on; "-" where the log has none), the value of
presets/calibration/memory/mlperf-*-memory.csv.

usage: mlperf_step_times.py RESULT.txt...   (files, or `git show`-able paths with --repo DIR)
       mlperf_step_times.py --repo /path/to/training_results_v5.0 NVIDIA/results/.../result_0.txt ...
"""
import json
import statistics
import subprocess
import sys


def read(path, repo):
    if repo:
        return subprocess.run(["git", "-C", repo, "show", "HEAD:" + path], capture_output=True, text=True,
                              check=True).stdout
    return open(path).read()


def events(text):
    for line in text.splitlines():
        i = line.find(":::MLLOG")
        if i < 0:
            continue
        try:
            yield json.loads(line[i + len(":::MLLOG"):])
        except json.JSONDecodeError:
            continue


def step_times(text):
    """(global batch, sequence length, gradient accumulation, per-step times, per-block step times,
    largest logged max_memory_usage or None)."""
    kv, steps, blocks, start, memory = {}, [], [], None, None
    for e in events(text):
        k, v, meta = e["key"], e["value"], e.get("metadata", {})
        if k in ("global_batch_size", "max_sequence_length", "gradient_accumulation_steps"):
            kv[k] = v
        elif k == "tracked_stats" and isinstance(v, dict):
            for name in ("train_step_time", "train_step_timing", "train_step_timing in s"):
                if name in v:
                    steps.append(v[name])
            if "max_memory_usage" in v:
                memory = max(memory or 0, v["max_memory_usage"])
        elif k == "block_start":
            start = (e["time_ms"], meta.get("epoch_count"))
        elif k == "block_stop" and start is not None:
            blocks.append((e["time_ms"] - start[0], start[1]))
            start = None
    gbs, seq = kv.get("global_batch_size"), kv.get("max_sequence_length", 2048)
    per_block = []
    if gbs and all(count for _, count in blocks):
        per_block = [ms / 1000 / (count / (gbs * seq)) for ms, count in blocks]
    return gbs, seq, kv.get("gradient_accumulation_steps"), steps, per_block, memory


def main(argv):
    repo = None
    if argv[:1] == ["--repo"]:
        repo, argv = argv[1], argv[2:]
    if not argv:
        sys.exit(__doc__)
    for path in argv:
        gbs, seq, ga, steps, per_block, memory = step_times(read(path, repo))
        # The per-block figure where the log has whole evaluation blocks (GPT-3 from v3.1 on), else
        # the per-step one.
        use = per_block if len(per_block) >= 2 else steps
        how = "blocks" if use is per_block else "steps"
        median = f"{statistics.median(use):.4f}" if use else "-"
        peak = f"{memory:.3f}" if memory is not None else "-"
        print(f"{path}\tgbs {gbs}\tseq {seq}\tga {ga}\t{how} {len(use)}\tmedian step {median} s\tmax_memory_usage {peak} GiB")


if __name__ == "__main__":
    main(sys.argv[1:])
