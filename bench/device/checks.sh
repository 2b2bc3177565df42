#!/usr/bin/env bash
# The GPU checks of nest in one run, for a lent GPU machine (which has the CUDA driver and
# runtime, python3 with torch, but none of nest's build dependencies):
#
#   bash bench/device/checks.sh prepare      # here, after `cmake --build build`: stripped binaries
#                                            # and the shared libraries they need into .devrun/
#   bash bench/device/checks.sh run OUTDIR   # there, from the repository root (carry .devrun)
#
# `run` runs the CUDA tests, the profiler's GPU tests, CPU-vs-CUDA identity of plans and of a
# sweep, the timings of both backends, nest_bench_dp, `nest profile --ops` for two models and
# FlashAttention / torch.mm timings (bench/device/attention.py), writing what it measured under
# OUTDIR. Timings go to stderr and OUTDIR/timings.txt, never into the files compared.
# docs/gpu-roofline.md and docs/cost-model.md §3 report what the 2026-12-04 run on an H200 found.
set -uo pipefail
case "${1:-}" in
prepare)
  set -e
  cd "$(dirname "$0")/../.."
  grep -qx '/.devrun/' .git/info/exclude 2>/dev/null || echo /.devrun/ >>.git/info/exclude
  rm -rf .devrun && mkdir -p .devrun/bin .devrun/lib
  for b in nest nest_test_cuda nest_test_search nest_test_profiler nest_test_profiler_cli nest_bench_dp nest_bench_sweep; do
    strip -o ".devrun/bin/$b" "build/bin/$b"
  done
  for b in .devrun/bin/*; do ldd "$b"; done | awk '/=> \// {print $3}' | sort -u |
    grep -v -E '/(libc|libm|libpthread|libdl|librt|libstdc\+\+|libgcc_s)\.so' | xargs -I{} cp -L {} .devrun/lib/
  cp bench/device/checks.sh bench/device/attention.py .devrun/
  du -sh .devrun
  ;;
run | sweep)
  MODE=$1
  OUT=${2:?usage: checks.sh run|sweep OUTDIR}
  mkdir -p "$OUT"
  R=$PWD
  # The tests find their data and the nest binary by the path they were built at.
  [ -e /work/main ] || { mkdir -p /work && ln -s "$R" /work/main; }
  mkdir -p build/bin && cp .devrun/bin/* build/bin/
  NV=$(dirname "$(find / -xdev -name 'libcublasLt.so.1*' 2>/dev/null | head -1)")
  export LD_LIBRARY_PATH=$R/.devrun/lib:$NV:${LD_LIBRARY_PATH:-}
  export NEST_PRESETS_DIR=$R/presets
  B=build/bin
  T="$OUT/timings.txt"
  t() {  # t LABEL command...: runs it, appends its wall time to timings.txt
    local label=$1 s=$EPOCHREALTIME
    shift
    "$@"
    local rc=$?
    printf '%s %.3f s rc=%d\n' "$label" "$(python3 -c "print($EPOCHREALTIME - $s)")" "$rc" | tee -a "$T" >&2
  }
  nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,power.limit --format=csv | tee "$OUT/gpu.txt"
  if [ "$MODE" = sweep ]; then
    # SWEEP_CPU_THREADS: the CPU runs of the 48 points ("" when only the CUDA side changed).
    # Points per second of `nest sweep` on both backends: the 48 points of bench_sweep, then 960
    # points of the 10,000-point sweep's space (docs/sweep.md), rows compared across backends.
    S48="sweep --model llama3-70b --cluster dgx-h100 --seq-len 8192 --no-search-time --vary gpus=256,512,1024,2048
       --vary global_batch=512,2048 --vary levels.1.bandwidth_GBps=25,100,400 --vary gpu=h100-sxm,b200"
    S960="sweep --model llama3-70b --cluster dgx-h100 --seq-len 8192 --no-search-time
       --vary gpus=64,128,256,512,1024,1536,2048,4096,8192,16384,32768,6144 --vary global_batch=256,512,1024,2048,6144
       --vary levels.1.bandwidth_GBps=12.5,50,100,400 --vary gpu=h100-sxm,b200,a100-80gb,h200"
    t tests_cuda $B/nest_test_cuda >"$OUT/tests.txt" 2>&1
    grep -E '^\[  (PASSED|FAILED|SKIPPED) ' "$OUT/tests.txt" >&2
    for th in ${SWEEP_CPU_THREADS-1 2 16}; do t "sweep48_cpu_${th}threads" $B/nest $S48 --backend cpu --threads $th --out /tmp/s48_cpu$th.csv -v 2>>"$OUT/sweep_v.txt" >/dev/null; done
    t sweep48_cuda timeout 120 $B/nest $S48 --backend cuda -v --out /tmp/s48_cuda.csv 2>>"$OUT/sweep_v.txt" >/dev/null
    t sweep48_cuda_2threads timeout 120 $B/nest $S48 --backend cuda --threads 2 --out /tmp/s48_cuda2.csv 2>/dev/null >/dev/null
    for c in /tmp/s48_cpu*.csv; do
      cmp -s "$c" /tmp/s48_cuda.csv && cmp -s "$c" /tmp/s48_cuda2.csv && echo "sweep48 rows identical: $c and cuda" | tee -a "$T" >&2
    done
    t sweep960_cpu_16threads $B/nest $S960 --backend cpu --threads 16 --out /tmp/s960_cpu.csv -v 2>>"$OUT/sweep_v.txt" >/dev/null
    t sweep960_cuda timeout 150 $B/nest $S960 --backend cuda -v --out /tmp/s960_cuda.csv 2>>"$OUT/sweep_v.txt" >/dev/null
    cmp -s /tmp/s960_cpu.csv /tmp/s960_cuda.csv && echo "sweep960 rows identical cpu/cuda" | tee -a "$T" >&2
    for be in cpu cuda; do
      t "plan70b_${be}" $B/nest plan --model llama3-70b --gpus 1024 --global-batch 1024 --cluster dgx-h100 --seq-len 8192 \
        --backend $be --json >"$OUT/plan70b_$be.json" 2>/dev/null
    done
    t bench_sweep $B/nest_bench_sweep >"$OUT/bench_sweep.txt" 2>&1
    cp /tmp/s48_cuda.csv /tmp/s960_cuda.csv "$OUT/" 2>/dev/null
    exit 0
  fi
  t tests_cuda $B/nest_test_cuda >"$OUT/tests.txt" 2>&1
  grep -E '^\[  (PASSED|FAILED|SKIPPED) ' "$OUT/tests.txt" >&2
  t tests_emulated $B/nest_test_search --gtest_filter='*Emulat*' >>"$OUT/tests.txt" 2>&1
  t tests_profiler $B/nest_test_profiler_cli --gtest_filter='ProfileNccl.*:LazyLibraries.*' >>"$OUT/tests.txt" 2>&1
  grep -E '^\[  (PASSED|FAILED|SKIPPED) ' "$OUT/tests.txt" >&2
  for P in "--model llama3-405b --gpus 16384 --global-batch 2048" "--model llama3-70b --gpus 1024 --global-batch 1024 --top 200"; do
    for be in cpu cuda; do
      t "plan_${be}" $B/nest plan $P --cluster dgx-h100 --seq-len 8192 --backend $be --json >"/tmp/plan_$be.json" 2>/dev/null
    done
    python3 - /tmp/plan_cpu.json /tmp/plan_cuda.json <<'PY' | tee -a "$T" >&2
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
sa, sb = a.pop("search", {}), b.pop("search", {})
print("plans identical apart from search statistics" if a == b else "PLANS DIFFER", "| cuda search:", sb)
PY
  done
  S="sweep --model llama3-70b --cluster dgx-h100 --seq-len 8192 --no-search-time --vary gpus=256,512,1024,2048
     --vary global_batch=512,2048 --vary levels.1.bandwidth_GBps=25,100,400 --vary gpu=h100-sxm,b200"
  t sweep48_cpu_2threads $B/nest $S --backend cpu --threads 2 --out /tmp/sw_cpu2.csv >/dev/null 2>&1
  t sweep48_cpu_all $B/nest $S --backend cpu --out /tmp/sw_cpu.csv >/dev/null 2>&1
  t sweep48_cuda $B/nest $S --backend cuda --out /tmp/sw_cuda.csv >/dev/null 2>&1
  cmp -s /tmp/sw_cpu2.csv /tmp/sw_cuda.csv && cmp -s /tmp/sw_cpu.csv /tmp/sw_cuda.csv && echo "sweep rows identical" | tee -a "$T" >&2
  t bench_dp $B/nest_bench_dp --benchmark_min_time=0.3 >"$OUT/bench_dp.txt" 2>&1
  t attention python3 .devrun/attention.py >"$OUT/attention.txt" 2>&1
  for M in llama3-70b llama3-8b; do
    t "profile_$M" timeout 150 $B/nest profile --collectives none --ops --model $M --tp 1,2,4,8 --microbatch 1,2 \
      --seq-len 8192 --ops-iters 30 --out "$OUT/ops_$M.json" >/dev/null 2>&1
  done
  ;;
*)
  echo "usage: checks.sh prepare | run OUTDIR | sweep OUTDIR" >&2
  exit 2
  ;;
esac
