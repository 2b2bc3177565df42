#!/usr/bin/env python3
"""Megatron-LM core_v0.19's own startup checks on a pretrain_gpt.py command line, on a CPU.

Usage (from the root of a Megatron-LM core_v0.19.0 tree, with torch installed):
    WORLD_SIZE=16 RANK=0 CUDA_DEVICE_MAX_CONNECTIONS=1 PYTHONPATH=. \\
        python check_megatron_args.py [--arch 9] [--te-version 2.10] -- <pretrain_gpt.py arguments...>

Runs what pretrain_gpt.py's main runs before torch.distributed starts:
  parse_and_validate_args(args_defaults={'tokenizer_type': 'GPT2BPETokenizer'})  (pretrain_gpt.py:512-514)
    = parse_args + validate_args + set_global_variables (microbatch calculator, tokenizer)
  gpt_config_from_args / pretrain_cfg_container_from_args
  core_transformer_config_from_args                          (TransformerConfig.__post_init__)
and the interleaved schedule's microbatch checks (megatron/core/pipeline_parallel/schedules.py:1128-1146).
Not run: torch.distributed, parallel_state.initialize_model_parallel, the model build, Transformer Engine.
GPU queries are answered for compute capability --arch (9: Hopper, 10: Blackwell); Transformer
Engine's fused RoPE is reported present, and with --te-version Megatron's Transformer Engine version
checks (is_te_min_version) answer for that version, and its FusedAdam's signature, which
--use-precision-aware-optimizer checks, is that of v2.10 (Transformer Engine runs where Megatron runs,
not on the CPU machine that checks the command).

Prints one line "RESULT {json}"; exit 0 when Megatron accepts the command, 1 when it refuses it.
Written for nest's tests (tests/framework/test_megatron_export.cpp), after the research notes'
check_cmd.py.
"""
import json
import os
import sys
import traceback
import warnings

warnings.filterwarnings("ignore")
arch = 9
te_version = None
argv = sys.argv[1:]
while argv and argv[0] in ("--arch", "--te-version"):
    if argv[0] == "--arch":
        arch = int(argv[1])
    else:
        te_version = argv[1]
    argv = argv[2:]
if argv and argv[0] == "--":
    argv = argv[1:]
sys.argv = ["pretrain_gpt.py"] + argv

import torch  # noqa: E402

torch.cuda.get_device_capability = lambda *a, **k: (arch, 0)
import megatron.training.arguments as A  # noqa: E402
import megatron.core.models.common.embeddings.rope_utils as rope_utils  # noqa: E402

if getattr(rope_utils, "fused_apply_rotary_pos_emb", None) is None:
    rope_utils.fused_apply_rotary_pos_emb = lambda *a, **k: None
A.get_device_arch_version = lambda: arch
if te_version is not None:
    from packaging.version import Version

    import megatron.core.transformer.transformer_config  # noqa: E402,F401  (imports the helpers by name)

    def te_min(version, check_equality=True):
        return Version(te_version) >= Version(version) if check_equality else Version(te_version) > Version(version)

    # Every module that imported Megatron's Transformer Engine version helpers by name
    # (megatron/core/utils.py) answers for --te-version: the arguments' checks and
    # TransformerConfig's (e.g. MoE FP8 needs TE >= 1.7, transformer_config.py:2294-2299).
    for mod in list(sys.modules.values()):
        if getattr(mod, "__name__", "").startswith("megatron"):
            if hasattr(mod, "is_te_min_version"):
                mod.is_te_min_version = te_min
            if hasattr(mod, "get_te_version"):
                mod.get_te_version = lambda: Version(te_version)

    # --use-precision-aware-optimizer asks for Transformer Engine's FusedAdam and checks its
    # signature (megatron/core/optimizer/optimizer_config.py:441-467, the one import of Transformer
    # Engine on this path, made lazily): where Transformer Engine is not installed, a stand-in with
    # the signature of its FusedAdam at v2.10 (transformer_engine/pytorch/optimizers/fused_adam.py:
    # 109-128) answers, put in place after Megatron's modules were imported so that their own
    # HAVE_TE checks still see no Transformer Engine.
    try:
        import transformer_engine.pytorch.optimizers  # noqa: F401
    except ImportError:
        import types

        class FusedAdam:  # noqa: D401 - a signature only
            def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, *,
                         bias_correction=True, adam_w_mode=True, capturable=False, master_weights=False,
                         master_weight_dtype=None, exp_avg_dtype=None, exp_avg_sq_dtype=None, use_decoupled_grad=False,
                         store_param_remainders=False, set_grad_none=None):
                raise RuntimeError("a signature stand-in for Transformer Engine's FusedAdam, not an optimizer")

        te = types.ModuleType("transformer_engine")
        te_pytorch = types.ModuleType("transformer_engine.pytorch")
        te_optimizers = types.ModuleType("transformer_engine.pytorch.optimizers")
        te_optimizers.FusedAdam = FusedAdam
        te.pytorch = te_pytorch
        te_pytorch.optimizers = te_optimizers
        sys.modules.update({"transformer_engine": te, "transformer_engine.pytorch": te_pytorch,
                            "transformer_engine.pytorch.optimizers": te_optimizers})

result = {"env": {k: os.environ.get(k) for k in ("WORLD_SIZE", "RANK", "CUDA_DEVICE_MAX_CONNECTIONS")}}
stage = "parse_and_validate_args"
try:
    args = A.parse_and_validate_args(args_defaults={"tokenizer_type": "GPT2BPETokenizer"})
    stage = "gpt_config_from_args / pretrain_cfg_container_from_args"
    from megatron.training.argument_utils import gpt_config_from_args, pretrain_cfg_container_from_args

    pretrain_cfg_container_from_args(args, gpt_config_from_args(args))
    stage = "core_transformer_config_from_args"
    cfg = A.core_transformer_config_from_args(args)
    from megatron.core.num_microbatches_calculator import get_num_microbatches

    m = get_num_microbatches()
    stage = "interleaved schedule (schedules.py:1128-1146)"
    vp = args.virtual_pipeline_model_parallel_size
    pp = args.pipeline_model_parallel_size
    if vp is not None:
        n = cfg.microbatch_group_size_per_vp_stage
        if n > m or n < pp:
            raise ValueError(f"microbatch_group_size_per_vp_stage {n} not in [PP={pp}, M={m}]")
        if 0 < m % n < pp:
            raise RuntimeError(f"M % N = {m % n} in (0, PP)")
    result.update(status="PASS", derived={
        "data_parallel_size": args.data_parallel_size, "num_microbatches": m, "virtual_pipeline_model_parallel_size": vp,
        "padded_vocab_size": args.padded_vocab_size, "num_query_groups": cfg.num_query_groups,
        "ckpt_format": args.ckpt_format, "use_distributed_optimizer": args.use_distributed_optimizer,
    })
except SystemExit as e:
    result.update(status="FAIL", stage=stage, error=f"SystemExit({e.code})")
except BaseException as e:  # noqa: BLE001 - report whatever Megatron raised
    frames = [f for f in traceback.extract_tb(e.__traceback__) if "/megatron/" in f.filename][-1:]
    result.update(status="FAIL", stage=stage, error=f"{type(e).__name__}: {e}",
                  at=[f"{f.filename.split('megatron/', 1)[-1]}:{f.lineno}" for f in frames])
print("RESULT " + json.dumps(result, default=str))
sys.exit(0 if result["status"] == "PASS" else 1)
