#!/usr/bin/env python3
# Written for the nest project (tests/framework/test_deepspeed_export.cpp runs it on exported
# DeepSpeed configs).
"""Validate a DeepSpeed config JSON with DeepSpeed's own parser, and print
DeepSpeed's own ZeRO-2/ZeRO-3 model-state memory estimates.

Runs on a CPU-only machine with no torch.distributed process group.
Written against deepspeed 0.19.8 (PyPI), torch 2.15.0; venv /work/venvs/ds.

Usage:
  python validate_deepspeed.py CONFIG.json --dp 8            # validate only
  python validate_deepspeed.py CONFIG.json --dp 8 --total-params 8.03e9 \
      --largest-layer-params 0.525e9 --gpus-per-node 8 --nodes 1
  python validate_deepspeed.py --estimate-only --total-params 8.03e9 \
      --largest-layer-params 0.525e9 --gpus-per-node 8 --nodes 1 [--json]

Exit status: 0 = config OK (or estimate-only), 1 = DeepSpeed rejected the
config, 2 = usage error.

How the world size is supplied
------------------------------
DeepSpeedConfig.__init__ (deepspeed/runtime/config.py:456-474 @0.19.8) first
calls deepspeed.comm.get_rank(); without an initialised backend that raises
AssertionError, which is caught and world_size silently becomes 1 -- *even if
an mpu is passed*.  So an mpu alone is not enough.  Two ways out:
  * default ("shim"): replace the module-global `dist` seen by
    deepspeed/runtime/config.py with a tiny object whose get_rank() returns 0,
    and pass an mpu whose get_data_parallel_world_size() returns --dp.  This is
    exactly the branch Megatron-DeepSpeed takes (it passes mpu=...), so
    world_size == data-parallel size.  No process group, instant.
  * --init-gloo: really initialise a 1-process gloo group through
    deepspeed.comm.init_distributed (needs MASTER_ADDR/PORT on loopback; the
    first call JIT-builds DeepSpeed's CPU shm comm op, ~100 s on 2 cores) and
    pass the same mpu.
"""
import argparse
import contextlib
import io
import json
import logging
import os
import sys
import time


def _parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", nargs="?", help="DeepSpeed config JSON/HJSON path")
    p.add_argument("--dp", type=int, default=None,
                   help="data-parallel world size DeepSpeed will see (Megatron-DeepSpeed: "
                   "world / (tp*pp); plain DeepSpeed: world size / sequence_parallel_size). "
                   "Default: $NEST_DP_WORLD_SIZE or $WORLD_SIZE or 1")
    p.add_argument("--pp", type=int, default=1, help="pipeline stages nest plans (only used for a warning)")
    p.add_argument("--init-gloo", action="store_true", help="initialise a real 1-rank gloo group instead of the shim")
    p.add_argument("--estimate-only", action="store_true", help="skip config validation")
    p.add_argument("--total-params", type=float, default=None)
    p.add_argument("--largest-layer-params", type=float, default=None)
    p.add_argument("--gpus-per-node", type=int, default=1)
    p.add_argument("--nodes", type=int, default=1)
    p.add_argument("--buffer-factor", type=float, default=1.5, help="additional_buffer_factor (DeepSpeed default 1.5)")
    p.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    p.add_argument("--verbose", action="store_true", help="keep DeepSpeed's INFO logging")
    a = p.parse_args(argv)
    if not a.estimate_only and not a.config:
        p.error("a config path is required unless --estimate-only")
    if a.estimate_only and a.total_params is None:
        p.error("--estimate-only needs --total-params")
    return a


def _quiet_deepspeed(verbose):
    if verbose:
        return
    for name in ("DeepSpeed", "deepspeed"):
        logging.getLogger(name).setLevel(logging.WARNING)


class _MPU:
    """Minimal mpu: DeepSpeedConfig only calls get_data_parallel_world_size()
    (config.py:463); without that method it would take the Ulysses branch."""

    def __init__(self, dp):
        self._dp = dp

    def get_data_parallel_world_size(self):
        return self._dp


class _DistShim:
    """Stands in for `deepspeed.comm` inside deepspeed.runtime.config only."""

    def __init__(self, real, world_size):
        self._real = real
        self._ws = world_size

    def get_rank(self, group=None):
        return 0

    def get_world_size(self, group=None):
        return self._ws

    def __getattr__(self, item):
        return getattr(self._real, item)


def validate(config_path, dp, init_gloo=False, pp=1):
    import deepspeed
    import deepspeed.comm as dist
    import deepspeed.runtime.config as dsc
    from deepspeed.runtime.tensor_parallel.init_utils import load_ds_config

    result = {"deepspeed_version": deepspeed.__version__, "config": config_path, "dp_world_size": dp}
    try:
        cfg = load_ds_config(config_path)  # same loader deepspeed.initialize uses (dup keys rejected)
    except Exception as e:  # noqa: BLE001
        result.update(ok=False, error_type=type(e).__name__, error=str(e), stage="load")
        return result

    saved = dsc.dist
    try:
        if init_gloo:
            os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
            os.environ.setdefault("MASTER_PORT", "29517")
            os.environ.setdefault("RANK", "0")
            os.environ.setdefault("LOCAL_RANK", "0")
            os.environ.setdefault("WORLD_SIZE", "1")
            # DeepSpeed's CPU accelerator JIT-builds deepspeed_shm_comm here; keep the build inside the venv
            os.environ.setdefault("TORCH_EXTENSIONS_DIR", os.path.join(sys.prefix, "torch_extensions"))
            if not dist.is_initialized():
                dist.init_distributed(dist_backend="gloo", auto_mpi_discovery=False, verbose=False)
        else:
            dsc.dist = _DistShim(dist, dp)
        c = dsc.DeepSpeedConfig(cfg, mpu=_MPU(dp))
    except Exception as e:  # noqa: BLE001  (AssertionError, pydantic ValidationError, DeepSpeedConfigError, ...)
        result.update(ok=False, error_type=type(e).__name__, error=str(e), stage="DeepSpeedConfig")
        return result
    finally:
        dsc.dist = saved

    z = c.zero_config
    result.update(
        ok=True,
        world_size=c.world_size,
        train_batch_size=c.train_batch_size,
        train_micro_batch_size_per_gpu=c.train_micro_batch_size_per_gpu,
        gradient_accumulation_steps=c.gradient_accumulation_steps,
        bf16=c.bfloat16_config.enabled,
        grad_accum_dtype=(str(c.grad_accum_dtype) if c.grad_accum_dtype is not None else None),
        fp16=c.float16_config.enabled,
        zero_stage=int(z.stage),
        overlap_comm=z.overlap_comm,
        contiguous_gradients=z.contiguous_gradients,
        reduce_scatter=z.reduce_scatter,
        reduce_bucket_size=z.reduce_bucket_size,
        allgather_bucket_size=z.allgather_bucket_size,
        offload_optimizer=(z.offload_optimizer.device if z.offload_optimizer else None),
        offload_param=(z.offload_param.device if z.offload_param else None),
        stage3_prefetch_bucket_size=z.prefetch_bucket_size,
        stage3_param_persistence_threshold=z.param_persistence_threshold,
        stage3_max_live_parameters=z.max_live_parameters,
        stage3_max_reuse_distance=z.max_reuse_distance,
        sub_group_size=z.sub_group_size,
        gradient_clipping=c.gradient_clipping,
        optimizer=c.optimizer_name,
        optimizer_params=c.optimizer_params,
        activation_checkpointing=dict(
            partition_activations=c.activation_checkpointing_config.partition_activations,
            cpu_checkpointing=c.activation_checkpointing_config.cpu_checkpointing,
            contiguous_memory_optimization=c.activation_checkpointing_config.contiguous_memory_optimization,
            number_checkpoints=c.activation_checkpointing_config.number_checkpoints),
        pipeline=c.pipeline,
        steps_per_print=c.steps_per_print,
        wall_clock_breakdown=c.wall_clock_breakdown,
    )
    warnings = []
    if z.offload_param is not None and z.offload_param.device != "none" and int(z.stage) != 3:
        warnings.append("offload_param is only used by ZeRO stage 3; DeepSpeed silently ignores it at stage %d"
                        % int(z.stage))
    if pp > 1 and int(z.stage) >= 2:
        warnings.append("pp=%d with ZeRO stage %d: PipelineEngine asserts 'ZeRO-2 and ZeRO-3 are incompatible "
                        "with pipeline parallelism' (deepspeed/runtime/pipe/engine.py:76-77) -- deepspeed.initialize "
                        "will fail for a PipelineModule" % (pp, int(z.stage)))
    result["warnings"] = warnings
    return result


def estimates(total_params, largest_layer_params, gpus_per_node, nodes, buffer_factor):
    """Call DeepSpeed's own count-based helpers (no model needed)."""
    from deepspeed.runtime.zero.stage_1_and_2 import (estimate_zero2_model_states_mem_needs,
                                                      estimate_zero2_model_states_mem_needs_all_cold)
    from deepspeed.runtime.zero.stage3 import (estimate_zero3_model_states_mem_needs,
                                               estimate_zero3_model_states_mem_needs_all_cold)
    tp = int(total_params)
    out = {"total_params": tp, "gpus_per_node": gpus_per_node, "nodes": nodes,
           "additional_buffer_factor": buffer_factor, "zero2": [], "zero3": []}
    for cpu_offload in (True, False):
        cpu, gpu = estimate_zero2_model_states_mem_needs(total_params=tp, num_gpus_per_node=gpus_per_node,
                                                         num_nodes=nodes, cpu_offload=cpu_offload,
                                                         additional_buffer_factor=buffer_factor)
        out["zero2"].append(dict(offload_optimizer=cpu_offload, cpu_bytes_per_node=cpu, gpu_bytes_per_gpu=gpu))
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        estimate_zero2_model_states_mem_needs_all_cold(total_params=tp, num_gpus_per_node=gpus_per_node,
                                                       num_nodes=nodes, additional_buffer_factor=buffer_factor)
    out["zero2_all_cold_text"] = buf.getvalue()
    if largest_layer_params is not None:
        ll = int(largest_layer_params)
        out["largest_layer_params"] = ll
        for cpu_offload in (True, False):
            for offload_params in (True, False):
                for zero_init in (True, False):
                    cpu, gpu, llm = estimate_zero3_model_states_mem_needs(
                        total_params=tp, largest_layer_params=ll, num_gpus_per_node=gpus_per_node, num_nodes=nodes,
                        cpu_offload=cpu_offload, cpu_offload_params=offload_params, zero_init=zero_init,
                        additional_buffer_factor=buffer_factor)
                    out["zero3"].append(
                        dict(offload_optimizer=cpu_offload, offload_param=offload_params, zero_init=zero_init,
                             cpu_bytes_per_node=cpu, gpu_bytes_per_gpu=gpu, largest_layer_bytes=llm,
                             note=("offload_param ignored when offload_optimizer is off (DeepSpeed's table skips it)"
                                   if (offload_params and not cpu_offload) else "")))
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            estimate_zero3_model_states_mem_needs_all_cold(total_params=tp, largest_layer_params=ll,
                                                           num_gpus_per_node=gpus_per_node, num_nodes=nodes,
                                                           additional_buffer_factor=buffer_factor)
        out["zero3_all_cold_text"] = buf.getvalue()
    return out


def _print_human(res, est):
    if res is not None:
        if res["ok"]:
            print(f"OK  deepspeed {res['deepspeed_version']}  {res['config']}")
            for k in ("world_size", "train_batch_size", "train_micro_batch_size_per_gpu",
                      "gradient_accumulation_steps", "bf16", "grad_accum_dtype", "zero_stage", "overlap_comm", "contiguous_gradients",
                      "reduce_bucket_size", "allgather_bucket_size", "offload_optimizer", "offload_param",
                      "stage3_prefetch_bucket_size", "stage3_param_persistence_threshold",
                      "stage3_max_live_parameters", "stage3_max_reuse_distance", "gradient_clipping", "optimizer",
                      "steps_per_print"):
                print(f"    {k:36s} {res[k]}")
            for w in res["warnings"]:
                print(f"    WARNING: {w}")
        else:
            print(f"ERROR  {res['error_type']}: {res['error']}")
    if est is not None:
        G = 2**30
        print(f"\nDeepSpeed model-state estimates: total_params={est['total_params']:,} "
              f"largest_layer_params={est.get('largest_layer_params')} nodes={est['nodes']} "
              f"gpus_per_node={est['gpus_per_node']} additional_buffer_factor={est['additional_buffer_factor']}")
        print("  ZeRO-2  offload_optimizer | per-GPU GiB | per-node CPU GiB")
        for r in est["zero2"]:
            print(f"          {str(r['offload_optimizer']):17s} | {r['gpu_bytes_per_gpu']/G:11.2f} | "
                  f"{r['cpu_bytes_per_node']/G:10.2f}")
        if est["zero3"]:
            print("  ZeRO-3  offload_opt offload_param zero_init | per-GPU GiB | per-node CPU GiB")
            for r in est["zero3"]:
                print(f"          {str(r['offload_optimizer']):11s} {str(r['offload_param']):13s} "
                      f"{str(r['zero_init']):9s} | {r['gpu_bytes_per_gpu']/G:11.2f} | "
                      f"{r['cpu_bytes_per_node']/G:10.2f} {r['note']}")
        print("\n--- DeepSpeed's own *_all_cold() output ---")
        print(est["zero2_all_cold_text"], end="")
        print(est.get("zero3_all_cold_text", ""), end="")


def main(argv=None):
    a = _parse_args(sys.argv[1:] if argv is None else argv)
    dp = a.dp
    if dp is None:
        dp = int(os.environ.get("NEST_DP_WORLD_SIZE", os.environ.get("WORLD_SIZE", "1")))
    t0 = time.time()
    # deepspeed prints accelerator-detection warnings to stdout/stderr on import; keep stdout clean for --json
    with contextlib.redirect_stdout(sys.stderr):
        import deepspeed  # noqa: F401
    _quiet_deepspeed(a.verbose)
    res = None
    if not a.estimate_only:
        with contextlib.redirect_stdout(sys.stderr):
            res = validate(a.config, dp, init_gloo=a.init_gloo, pp=a.pp)
    est = None
    if a.total_params is not None:
        est = estimates(a.total_params, a.largest_layer_params, a.gpus_per_node, a.nodes, a.buffer_factor)
    if a.json:
        print(json.dumps({"validation": res, "estimates": est, "seconds": round(time.time() - t0, 2)},
                         indent=1, default=str))
    else:
        _print_human(res, est)
    return 0 if (res is None or res["ok"]) else 1


if __name__ == "__main__":
    sys.exit(main())
