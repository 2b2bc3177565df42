#!/usr/bin/env python3
# Written for the nest project (tests/framework/test_torchtitan_export.cpp runs it on exported
# launch commands). Targets torchtitan 0.3.x (PyPI torchtitan==0.3.0, torch 2.15).
"""Dry-run validation of a torchtitan 0.3.x training command line, without GPUs.

Usage (run it with the interpreter of the venv that has torchtitan, e.g. /work/venvs/tt/bin/python):

    validate_torchtitan.py --world-size 16 -- --module llama3 --config llama3_8b \
        --parallelism.tensor_parallel_degree 2 ...
    validate_torchtitan.py --cmd "torchrun --nnodes 2 --nproc_per_node 8 -m torchtitan.train --module llama3 ..."
    validate_torchtitan.py --world-size 16 --args "--module llama3 --config llama3_8b ..."

The trainer arguments are the ones that follow ``-m torchtitan.train``.  With ``--cmd`` the
world size defaults to nnodes * nproc_per_node read from the torchrun options.

What it does, in the order torchtitan's own Trainer.__init__ does it (torchtitan 0.3.0):
  1. parse   ConfigManager().parse_args(argv)  (tyro + every dataclass __post_init__,
             incl. Trainer.Config.__post_init__)                       config/manager.py:34-45
  2. dims    ParallelDims.from_config(...)._validate()                 distributed/parallel_dims.py:152-189
  3. mesh    fake process group ("fake" backend, world_size N), ParallelDims.build_mesh()
             on device_type "cpu" (no CUDA init)                         distributed/parallel_dims.py:208-416
  4. trainer Trainer.__init__ checks: seq_len vs TP(SP)/CP, model_config.update_from_config,
             overrides, _validate_cuda_graphs, batch-size / grad-accum  trainer.py:306-439
  5. model   build the model on the meta device                         trainer.py:363-375
     (with --expect-params, its parameter count must be the plan's model's)
  6. fqns    nest's own checks of parallelism.module_fqns_per_model_part against the model
             (torchtitan silently drops unknown/missing names: pipeline_parallel.py:479-538)
  7. apply   run the model's real pipelining_fn (PP; once per PP rank) or parallelize_fn
             (TP/SP, CP, AC, compile wrapper, FSDP2 fully_shard) on the meta model; this
             constructs the real torch.distributed.pipelining schedule, so torch's own
             schedule checks (microbatches vs stages, rounds, stages per rank) run too.

Exit status: 0 = OK (last line "OK"); 2 = command-line (tyro) error (unknown flag, bad value,
misplaced subcommand); 3 = torchtitan/torch rejected the config (incl. dataclass __post_init__
errors that tyro reports as "Error parsing ..."); 4 = nest rule (torchtitan would accept the config but it is wrong,
e.g. an FQN that names no module); 5 = environment: this machine cannot validate it (missing
package such as torchao, float8/MX config functions that demand an SM89+/SM100+ GPU) or an
internal error of this script.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import shlex
import sys
import traceback
import warnings

EXIT_OK, EXIT_CLI, EXIT_REJECTED, EXIT_NEST_RULE, EXIT_INTERNAL = 0, 2, 3, 4, 5
EXPECT_PARAMS = None  # --expect-params: the parameter count the plan was costed for
ASSUME_CAPABILITY = None  # --assume-capability: (major, minor) the converters' GPU check answers for


EXPECT_PRECISION = None  # --expect-precision: bf16, fp8, mxfp8 or nvfp4, the plan's precision

# class-name prefixes of torchtitan 0.3's converted modules (components/quantization/float8.py:27,
# 203; mx.py: MXFP8Linear, :143; nvfp4.py: NVFP4Linear)
PRECISION_PREFIX = {"fp8": "Float8", "mxfp8": "MXFP8", "nvfp4": "NVFP4"}


def check_precision(model, precision: str, info: dict) -> None:
    from torchtitan.models.common.moe import GroupedExperts

    prefix = PRECISION_PREFIX.get(precision)
    experts, linears, wrong = 0, 0, []
    for fqn, mod in model.named_modules():
        name = type(mod).__name__
        converted = prefix is not None and name.startswith(prefix)
        if isinstance(mod, GroupedExperts):
            experts += 1
            if prefix is not None and not converted:
                wrong.append(f"{fqn} ({name}) is not {precision}")
        elif not fqn.startswith(("layers.", "mtp_layers.")) or "router" in fqn:
            if any(name.startswith(x) for x in PRECISION_PREFIX.values()):
                wrong.append(f"{fqn} ({name}) is converted; nest prices it in bf16")
        elif converted:
            linears += 1
        elif any(name.startswith(x) for x in PRECISION_PREFIX.values()):
            wrong.append(f"{fqn} ({name}) is not {precision}")
    if prefix is not None and linears == 0:
        wrong.append(f"no linear layer of the blocks is {precision}")
    info["precision"] = dict(expected=precision, converted_linears=linears, experts_modules=experts)
    if wrong:
        raise Failure(EXIT_NEST_RULE, "precision", "; ".join(wrong[:4]) + (" ..." if len(wrong) > 4 else ""))


def assume_capability(cap: tuple[int, int]) -> None:
    """Answer the quantization converters' GPU check as a GPU of compute capability `cap` would.

    torchtitan's float8 / MXFP8 / NVFP4 converters ask the local GPU when the config function runs
    (components/quantization/float8.py:86, 230; mx.py:70, 175; nvfp4.py:287), and the experts'
    converters have no emulation; on a machine without that GPU this makes the check pass, so the
    rest of the configuration (the converted model, its parallelisation) is validated. Nothing
    else is patched, and no GPU kernel runs here."""
    import importlib

    def has(major: int, minor: int) -> bool:
        return cap >= (major, minor)

    for name in ("float8", "mx", "nvfp4"):
        mod = importlib.import_module("torchtitan.components.quantization." + name)
        if hasattr(mod, "has_cuda_capability"):
            mod.has_cuda_capability = has


class Failure(Exception):
    def __init__(self, code: int, stage: str, message: str):
        super().__init__(message)
        self.code, self.stage, self.message = code, stage, message


# --------------------------------------------------------------------------- arg handling


def split_command(cmd: str) -> tuple[list[str], int | None]:
    """Return (trainer argv, world size guessed from torchrun options or None)."""
    toks = shlex.split(cmd)
    world = None
    trainer_args = toks
    for i in range(len(toks) - 1):
        if toks[i] == "-m" and toks[i + 1] in ("torchtitan.train", "torchtitan.train.py"):
            trainer_args = toks[i + 2 :]
            launcher = toks[:i]
            nproc = nnodes = None
            j = 0
            while j < len(launcher):
                t = launcher[j]
                key, val = (t.split("=", 1) + [None])[:2] if t.startswith("--") else (t, None)
                if key in ("--nproc_per_node", "--nproc-per-node", "--nnodes"):
                    if val is None and j + 1 < len(launcher):
                        val = launcher[j + 1]
                        j += 1
                    if key == "--nnodes":
                        nnodes = val
                    else:
                        nproc = val
                j += 1
            try:
                n_nodes = int(nnodes.split(":")[-1]) if nnodes else 1
                world = int(nproc) * n_nodes if nproc else None
            except (TypeError, ValueError):
                world = None
            break
    return trainer_args, world


def _condense_tyro(text: str) -> str:
    lines = []
    for raw in text.splitlines():
        s = raw.strip().strip("│╭╮╰╯─").strip()
        if not s or set(s) <= set("─-") or s.startswith(("initial_load_model_only", "HF assets path")):
            continue
        if s.startswith("For full helptext"):
            continue
        lines.append(s)
    return " | ".join(lines)


# --------------------------------------------------------------------------- main logic


def validate(argv: list[str], world_size: int, *, all_pp_ranks: bool, level: str, info: dict,
             rank: int = 0, script_opts: list[str] | None = None) -> None:
    # 0. imports (environment problems are EXIT_INTERNAL)
    try:
        import torch
        import torch.distributed as dist

        import torchtitan
        from torchtitan.config import ConfigManager, TORCH_DTYPE_MAP
        from torchtitan.config.override import apply_overrides
        from torchtitan.distributed import ParallelDims
        from torchtitan.distributed import utils as dist_utils
        import torchtitan.distributed.parallel_dims as parallel_dims_mod
        from torchtitan.tools import utils as tt_utils
    except Exception as e:  # pragma: no cover - env dependent
        raise Failure(EXIT_INTERNAL, "import", f"{type(e).__name__}: {e}")
    if ASSUME_CAPABILITY is not None:
        try:
            assume_capability(ASSUME_CAPABILITY)
        except Exception as e:  # pragma: no cover - env dependent
            raise Failure(EXIT_INTERNAL, "import", f"--assume-capability: {type(e).__name__}: {e}")
        info["assumed_capability"] = "%d.%d" % ASSUME_CAPABILITY
    info["torchtitan_version"] = getattr(torchtitan, "__version__", "?")
    info["torch_version"] = torch.__version__
    if not str(info["torchtitan_version"]).startswith("0.3"):
        info.setdefault("warnings", []).append(
            f"written for torchtitan 0.3.x, found {info['torchtitan_version']}"
        )

    # 1. parse with torchtitan's own ConfigManager (tyro).  tyro prints its error and exits 2.
    buf_out, buf_err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(buf_out), contextlib.redirect_stderr(buf_err):
            config = ConfigManager().parse_args(list(argv))
    except SystemExit as e:
        msg = _condense_tyro(buf_err.getvalue() + "\n" + buf_out.getvalue())
        if e.code in (0, None):
            raise Failure(EXIT_CLI, "parse", "help requested / no config produced: " + msg)
        if "Error parsing" in msg:  # a dataclass __post_init__ raised while tyro built the config
            raise Failure(EXIT_REJECTED, "parse", msg)
        raise Failure(EXIT_CLI, "parse", msg or f"tyro exited with {e.code}")
    except ImportError as e:
        # manager.py:118-142 raises "Cannot import ..." for an unknown --module (user error);
        # anything else (e.g. "torchao is not installed" from a quantization converter) is the env.
        code = EXIT_REJECTED if str(e).startswith("Cannot import") else EXIT_INTERNAL
        raise Failure(code, "parse", f"{type(e).__name__}: {e}")
    except (ValueError, NotImplementedError, AssertionError, TypeError) as e:
        # --module/--config problems (manager.py:85-157) and __post_init__ rejections.
        # Quantization converters check the *local* GPU when the config function runs
        # (float8.py:85-96, mx.py:71): on a GPU-less box that is an environment limit -> exit 5.
        if "only supported on" in str(e):
            raise Failure(EXIT_INTERNAL, "env", f"{type(e).__name__}: {e} (needs that GPU to validate)")
        raise Failure(EXIT_REJECTED, "parse", f"{type(e).__name__}: {e}")

    p, tr = config.parallelism, config.training
    spec = config.model_spec
    if spec is None:
        raise Failure(EXIT_REJECTED, "parse", "config has no model_spec (trainer.py:292-294)")
    info["model"] = f"{spec.name} {spec.flavor}"
    ac = config.activation_checkpoint
    info["activation_checkpoint"] = type(ac).__qualname__.split(".")[0] if ac is not None else "none"

    # 2. ParallelDims validation (same call as Trainer.init_distributed, trainer.py:655-663)
    try:
        pd = ParallelDims.from_config(p, world_size)
    except (AssertionError, ValueError) as e:
        raise Failure(EXIT_REJECTED, "parallel_dims", f"{type(e).__name__}: {e}")
    info["parallel_dims"] = dict(
        world_size=world_size, dp_replicate=pd.dp_replicate, dp_shard=pd.dp_shard,
        cp=pd.cp, tp=pd.tp, pp=pd.pp, ep=pd.ep,
    )
    if level == "dims":
        return

    # 3. fake process group + device mesh, with no CUDA initialisation.
    parallel_dims_mod.device_type = "cpu"  # mesh on CPU; fake PG needs no devices

    def make_dims(rank: int):
        if dist.is_initialized():
            dist.destroy_process_group()
        dist.init_process_group("fake", rank=rank, world_size=world_size)
        d = ParallelDims.from_config(p, world_size)
        try:
            d.build_mesh()
        except Exception as e:
            raise Failure(EXIT_REJECTED, "mesh", f"{type(e).__name__}: {e}")
        return d

    pd = make_dims(rank)

    # 4. checks from Trainer.__init__ (trainer.py:306-315)
    seq_len_divisor = (pd.tp if p.enable_sequence_parallel else 1) * (2 * pd.cp if pd.cp > 1 else 1)
    if tr.seq_len % seq_len_divisor != 0:
        raise Failure(
            EXIT_REJECTED, "trainer",
            f"ValueError: Training sequence length ({tr.seq_len}) must be divisible by "
            f"{seq_len_divisor} for the configured sequence/context parallelism. (trainer.py:306-315)",
        )
    dist_utils.set_spmd_backend(p.spmd_backend)  # trainer.py:319
    model_config = spec.model
    try:
        model_config.update_from_config(config=config)  # trainer.py:346-348
        if config.override.imports:  # trainer.py:356-358
            apply_overrides(config.override, config)
        config._validate_cuda_graphs()  # trainer.py:359
    except (ValueError, NotImplementedError, AssertionError) as e:
        raise Failure(EXIT_REJECTED, "trainer", f"{type(e).__name__}: {e}")

    # batch sizes (trainer.py:414-439)
    batch_degree = pd.dp_replicate * pd.dp_shard if pd.dp_enabled else 1
    gbs = tr.global_batch_size if tr.global_batch_size >= 0 else tr.local_batch_size * batch_degree
    if not (gbs > 0 and gbs % (tr.local_batch_size * batch_degree) == 0):
        raise Failure(
            EXIT_REJECTED, "trainer",
            "AssertionError: global batch size must be multiple of local batch size times "
            f"data-parallel degree ({gbs} % ({tr.local_batch_size} * {batch_degree}) != 0) "
            "(trainer.py:420-427)",
        )
    grad_accum = gbs // (tr.local_batch_size * batch_degree)
    n_mb = tr.local_batch_size // p.pipeline_parallel_microbatch_size if pd.pp_enabled else 1
    info["batch"] = dict(
        local_batch_size=tr.local_batch_size, global_batch_size=gbs, dp_degree=batch_degree,
        gradient_accumulation_steps=grad_accum, pp_microbatch_size=(
            p.pipeline_parallel_microbatch_size if pd.pp_enabled else None),
        pp_microbatches=n_mb if pd.pp_enabled else None, seq_len=tr.seq_len,
        tokens_per_optimizer_step=gbs * tr.seq_len,
    )

    # 5. build the model on meta (trainer.py:363-375)
    try:
        with torch.device("meta"), tt_utils.set_default_dtype(TORCH_DTYPE_MAP[tr.dtype]):
            model = model_config.build()
        model.verify_module_protocol()
    except Exception as e:
        raise Failure(EXIT_REJECTED, "model", f"{type(e).__name__}: {e}")
    info["n_params"] = sum(t.numel() for t in model.parameters())
    if EXPECT_PARAMS is not None and info["n_params"] != EXPECT_PARAMS:
        raise Failure(EXIT_NEST_RULE, "model",
                      f"the model builds {info['n_params']} parameters, the plan was costed for {EXPECT_PARAMS}")

    # 5b. the precision the plan was costed in (--expect-precision): every routed-experts module and
    # the blocks' (and MTP modules') linear layers converted, the router gates and lm_head not
    # (nest prices those bf16)
    if EXPECT_PRECISION is not None:
        check_precision(model, EXPECT_PRECISION, info)

    # 6. module_fqns_per_model_part checks (nest rules; torchtitan itself does not check names)
    if pd.pp_enabled:
        check_pp_layout(model, model_config, p, pd, info)
    elif p.module_fqns_per_model_part is not None:
        info.setdefault("warnings", []).append(
            "module_fqns_per_model_part is ignored without pipeline parallelism")

    if level == "mesh":
        return

    # 7. apply the real parallelisation (per PP rank when PP is on)
    loss_fn = config.loss.build(compile_config=config.compile)  # trainer.py:410-412
    from torchtitan.components.loss import ChunkedLossWrapper

    if pd.pp_enabled:
        if not spec.pipelining_fn:
            raise Failure(EXIT_REJECTED, "pipeline",
                          f"RuntimeError: Pipeline Parallel is enabled but {spec.name} does not "
                          "support pipelining (trainer.py:444-448)")
        group = world_size // pd.pp  # pp is the outermost mesh dim (parallel_dims.py:284-288)
        per_rank = {}
        for r in [rank]:
            d = pd
            try:
                sched, parts, has_first, has_last = spec.pipelining_fn(
                    model, parallel_dims=d, training=tr, parallelism=p,
                    compile_config=config.compile, ac_config=config.activation_checkpoint,
                    dump_folder=config.dump_folder, device=torch.device("meta"),
                    model_config=model_config, parallelize_fn=spec.parallelize_fn, loss_fn=loss_fn,
                )
            except Failure:
                raise
            except Exception as e:
                raise Failure(EXIT_REJECTED, "pipeline",
                              f"(pp rank {r // group}) {type(e).__name__}: {e}")
            if isinstance(loss_fn, ChunkedLossWrapper) and has_last and getattr(parts[-1], "lm_head", None) is None:
                raise Failure(EXIT_REJECTED, "pipeline",
                              "AssertionError: Last PP stage must have lm_head for ChunkedLossWrapper "
                              "(trainer.py:513-519)")
            per_rank[str(r // group)] = dict(
                schedule=type(sched).__name__,
                stages=[getattr(s, "stage_index", None) for s in getattr(sched, "_stages", [])]
                or [getattr(getattr(sched, "_stage", None), "stage_index", None)],
                has_first=has_first, has_last=has_last,
            )
            del parts, sched
        info["pp_ranks"] = per_rank
        if all_pp_ranks and script_opts is not None:
            # Other PP ranks in fresh processes: torchtitan/spmd_types keep per-process mesh state,
            # so a second pipelining_fn call in the same process fails spuriously.
            run_other_pp_ranks(argv, world_size, pd.pp, group, rank, script_opts, info)
    else:
        try:
            spec.parallelize_fn(
                model, parallel_dims=pd, training=tr, parallelism=p,
                compile_config=config.compile, ac_config=config.activation_checkpoint,
                dump_folder=config.dump_folder,
            )
        except Exception as e:
            raise Failure(EXIT_REJECTED, "parallelize", f"{type(e).__name__}: {e}")
    if dist.is_initialized():
        dist.destroy_process_group()


def run_other_pp_ranks(argv, world_size, pp, group, rank, script_opts, info) -> None:
    import subprocess

    for k in range(pp):
        r = k * group
        if r == rank:
            continue
        cmd = [sys.executable, os.path.abspath(__file__), "--world-size", str(world_size),
               "--rank", str(r), "--single-pp-rank", "--json", *script_opts, "--", *argv]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        try:
            rep = json.loads(proc.stdout[proc.stdout.index("{"):])
        except ValueError:
            raise Failure(EXIT_INTERNAL, "pipeline",
                          f"(pp rank {k}) child failed: {proc.stderr.strip()[-2000:]}")
        if not rep.get("ok"):
            raise Failure(rep.get("exit_code", EXIT_REJECTED), rep.get("stage", "pipeline"),
                          rep.get("error", "child failed"))
        info["pp_ranks"].update(rep.get("pp_ranks", {}))


def check_pp_layout(model, model_config, p, pd, info) -> None:
    """nest-side checks of the PP split that torchtitan performs only partly (or not at all)."""
    from torch.distributed.pipelining.schedules import (
        PipelineScheduleSingle,
        ScheduleDualPipeV,
        ScheduleZBVZeroBubble,
        get_schedule_class,
    )
    from torchtitan.distributed.pipeline_parallel import (
        _generate_llm_fqn_per_model_part,
        _get_pipeline_metadata,
    )

    try:
        sched_cls = get_schedule_class(p.pipeline_parallel_schedule)
        nvs, n_layers, in_w, out_w = _get_pipeline_metadata(pd, p, model_config)
    except Exception as e:
        raise Failure(EXIT_REJECTED, "pipeline", f"{type(e).__name__}: {e}")
    single = issubclass(sched_cls, PipelineScheduleSingle)
    v_style = sched_cls in (ScheduleZBVZeroBubble, ScheduleDualPipeV)

    fqns = p.module_fqns_per_model_part
    generated = fqns is None
    if generated:
        try:
            fqns = _generate_llm_fqn_per_model_part(nvs, n_layers, in_w, out_w)
        except Exception as e:
            raise Failure(EXIT_REJECTED, "pipeline", f"{type(e).__name__}: {e}")
    elif p.pipeline_parallel_layers_per_stage is not None:
        info.setdefault("warnings", []).append(
            "pipeline_parallel_layers_per_stage is only used to validate; module_fqns_per_model_part "
            "decides the split (pipeline_parallel.py:88-92)")

    n_parts = len(fqns)
    info["pp_layout"] = dict(
        schedule=sched_cls.__name__, single_stage_schedule=single, num_stages=n_parts,
        stages_per_rank=n_parts / pd.pp, generated=generated,
        layers_per_part=[sum(1 for f in part if f.startswith("layers.")) for part in fqns],
        module_fqns_per_model_part=fqns,
    )
    if n_parts % pd.pp != 0:
        raise Failure(EXIT_REJECTED, "pipeline",
                      f"AssertionError: num_stages {n_parts} must be evenly divisible by pp_degree "
                      f"{pd.pp} (pipeline_parallel.py:563-565)")
    spr = n_parts // pd.pp
    if v_style and spr != 2:
        raise Failure(EXIT_REJECTED, "pipeline",
                      f"AssertionError: v schedules assume 2 stages per rank, got {spr} "
                      "(pipeline_parallel.py:570-572)")
    if single and spr != 1:
        # torchtitan builds the single-stage schedule from stages[0] only
        # (pipeline_parallel.py:339-345): the other local stages would never run.
        raise Failure(EXIT_NEST_RULE, "pipeline",
                      f"schedule {p.pipeline_parallel_schedule} is single-stage but "
                      f"module_fqns_per_model_part gives {n_parts} parts for pp={pd.pp} "
                      f"({spr} stages per rank); use exactly pp parts or a multi-stage schedule "
                      "(torchtitan rejects this only on the layers_per_stage path, pipeline_parallel.py:244-250)")
    if not single and spr < 2:
        info.setdefault("warnings", []).append(
            f"multi-stage schedule {p.pipeline_parallel_schedule} with {spr} stage per rank "
            "(torchtitan's own auto split uses >= 2, pipeline_parallel.py:252-262)")

    # names: every part entry must name a top-level child or one entry of a ModuleDict/List child,
    # and the union must cover the model exactly once (else modules are silently dropped, see
    # _split_module, pipeline_parallel.py:479-538).
    import torch.nn as nn

    valid: list[str] = []
    containers = set()
    for name, child in model.named_children():
        if isinstance(child, (nn.ModuleDict, nn.ModuleList)):
            containers.add(name)
            valid.extend(f"{name}.{k}" for k, _ in child.named_children())
        else:
            valid.append(name)
    seen: dict[str, int] = {}
    problems = []
    for i, part in enumerate(fqns):
        if not part:
            problems.append(f"part {i} is empty")
        for f in part:
            if f not in valid:
                problems.append(f"part {i}: '{f}' is not a module of {info.get('model')}")
            if f in seen:
                problems.append(f"'{f}' appears in part {seen[f]} and part {i}")
            seen.setdefault(f, i)
    missing = [v for v in valid if v not in seen]
    if missing:
        show = missing if len(missing) <= 8 else missing[:8] + [f"... ({len(missing)} in all)"]
        problems.append(f"modules in no part (would be dropped): {show}")
    # order: layers must be consecutive and ascending along the stage order
    order = []
    for part in fqns:
        for f in part:
            if f.startswith("layers.") and f.split(".", 1)[1].isdigit():
                order.append(int(f.split(".", 1)[1]))
    if order != sorted(order):
        problems.append("transformer layers are not in ascending order across parts")
    if fqns and fqns[0] and "tok_embeddings" in valid and "tok_embeddings" not in fqns[0]:
        problems.append("tok_embeddings must be in the first part")
    for name in ("norm", "lm_head"):
        if name in valid and fqns and name not in fqns[-1]:
            problems.append(f"{name} must be in the last part")
    if problems:
        raise Failure(EXIT_NEST_RULE, "module_fqns", "; ".join(problems))


def main() -> int:
    ap = argparse.ArgumentParser(
        description="Validate a torchtitan 0.3.x command line without GPUs (see module docstring).",
        usage="%(prog)s [--world-size N] [--cmd STR | --args STR | -- TRAINER_ARGS...]",
    )
    ap.add_argument("--world-size", "-n", type=int, help="total number of ranks (GPUs)")
    ap.add_argument("--cmd", help="full launch command containing '-m torchtitan.train ...'")
    ap.add_argument("--args", help="trainer arguments (those after -m torchtitan.train) as one string")
    ap.add_argument("--level", choices=["dims", "mesh", "full"], default="full",
                    help="dims: parse + ParallelDims; mesh: + fake-PG mesh, trainer checks, "
                         "model on meta, FQN checks; full (default): + real parallelize/pipeline split")
    ap.add_argument("--rank", type=int, default=0, help="global rank to simulate (default 0)")
    ap.add_argument("--single-pp-rank", "--first-pp-rank-only", dest="single_pp_rank", action="store_true",
                    help="run the pipeline split only for the PP rank of --rank (faster); by default "
                         "every PP rank is checked, each extra one in a child process")
    ap.add_argument("--json", action="store_true", help="print a JSON report instead of text")
    ap.add_argument("--verbose", "-v", action="store_true", help="show torchtitan's logs and tracebacks")
    ap.add_argument("--expect-params", type=int,
                    help="nest's parameter count of the model: the built model must have exactly as many (exit 4 otherwise)")
    ap.add_argument("--expect-precision", choices=["bf16", "fp8", "mxfp8", "nvfp4"],
                    help="the plan's precision: the blocks' linear layers and every experts module must be converted "
                         "to it, the router gates and lm_head not (exit 4 otherwise)")
    ap.add_argument("--assume-capability", metavar="MAJOR.MINOR",
                    help="answer the quantization converters' GPU check as this compute capability would "
                         "(e.g. 9.0 for float8 experts, 10.0 for MXFP8); see assume_capability()")
    ap.add_argument("rest", nargs=argparse.REMAINDER)
    ns = ap.parse_args()
    global EXPECT_PARAMS, ASSUME_CAPABILITY, EXPECT_PRECISION
    EXPECT_PARAMS = ns.expect_params
    EXPECT_PRECISION = ns.expect_precision
    if ns.assume_capability:
        try:
            major, minor = (int(x) for x in ns.assume_capability.split("."))
        except ValueError:
            ap.error("--assume-capability: expected MAJOR.MINOR, e.g. 9.0")
        ASSUME_CAPABILITY = (major, minor)

    world = ns.world_size
    if ns.cmd:
        argv, w = split_command(ns.cmd)
        world = world or w
    elif ns.args is not None:
        argv = shlex.split(ns.args)
    else:
        argv = ns.rest[1:] if ns.rest[:1] == ["--"] else ns.rest
        if argv[:2] == ["-m", "torchtitan.train"]:
            argv = argv[2:]
    if not world:
        ap.error("--world-size is required (or give --cmd with torchrun --nproc_per_node/--nnodes)")

    os.environ.setdefault("PYTORCH_CUDA_ALLOC_CONF", "expandable_segments:True")
    if not ns.verbose:
        warnings.filterwarnings("ignore")
        logging.disable(logging.WARNING)  # torchtitan logs INFO/WARNING to stdout

    info: dict = {"argv": argv}
    # what the children that check the other PP ranks are run with
    opts = ["--level", ns.level] + (["--verbose"] if ns.verbose else [])
    if ns.assume_capability:
        opts += ["--assume-capability", ns.assume_capability]
    code, stage, message = EXIT_OK, "", ""
    try:
        if ns.verbose:
            validate(argv, world, all_pp_ranks=not ns.single_pp_rank, level=ns.level, info=info,
                         rank=ns.rank, script_opts=opts)
        else:
            sink = io.StringIO()
            with contextlib.redirect_stdout(sink):
                validate(argv, world, all_pp_ranks=not ns.single_pp_rank, level=ns.level, info=info,
                         rank=ns.rank, script_opts=opts)
    except Failure as f:
        code, stage, message = f.code, f.stage, f.message
    except Exception as e:  # pragma: no cover
        code, stage, message = EXIT_INTERNAL, "internal", f"{type(e).__name__}: {e}"
        if ns.verbose:
            traceback.print_exc()

    if ns.json:
        info.update(ok=code == 0, exit_code=code, stage=stage, error=message)
        print(json.dumps(info, indent=2, default=str))
    else:
        for k in ("model", "n_params", "activation_checkpoint", "parallel_dims", "batch", "pp_layout", "pp_ranks"):
            if k in info:
                v = info[k]
                if k == "pp_layout":
                    v = {kk: vv for kk, vv in v.items() if kk != "module_fqns_per_model_part"}
                print(f"{k}: {v}")
        for w in info.get("warnings", []):
            print(f"warning: {w}")
        if code == 0:
            print("OK")
        else:
            print(f"ERROR [{stage}] {message}")
    return code


if __name__ == "__main__":
    sys.exit(main())
