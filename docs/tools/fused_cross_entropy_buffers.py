#!/usr/bin/env python3
"""Which full-size buffers torch.compile allocates in Megatron-Core's fused cross entropy.

Megatron-Core's `--cross-entropy-loss-fusion` loss (megatron/core/fusions/fused_cross_entropy.py,
the same steps at core_r0.11.0 and core_v0.19.0) runs four functions under `jit_fuser`, which is
`torch.compile` from PyTorch 2.2 on (megatron/core/jit.py). Each step below is the operation the
Megatron function performs, in its order and with its in-place writes (tensor_parallel/
cross_entropy.py: calculate_logits_max, calculate_predicted_logits, calculate_cross_entropy_loss,
prepare_gradient_calculation_operands + calculate_gradients), at tensor parallel 1 and written
here from their description, not copied. The script compiles them with Inductor on the CPU and
prints, per compiled graph, every buffer the generated code allocates: a buffer of the logits'
size is bytes per logit that the loss holds beside the tensors it keeps.

What it showed (PyTorch 2.6.0 and 2.9.1, CPU Inductor, 2026-12-06): the forward allocates the
fp32 copy only (its in-place steps write into it); the backward allocates a second fp32 buffer
of the logits' size (the functional copy that the in-place index_put on the softmax becomes)
beside the bf16 gradient it returns, while the saved fp32 softmax is alive: 4 + 4 + 2 = 10 bytes
per logit at the backward's peak, against 2 + 4 = 6 in the forward. nest counts 10
(host/src/framework/megatron.cpp, apply_cross_entropy). Inductor keeps that buffer on the CPU
even where it fuses the whole backward into one kernel, because the index_put writes into it; on
a GPU, where a scatter is a kernel of its own, it has to exist as well (reasoned, not run: no GPU
here). The kernels that fill the buffers differ by device and are not what this script reads.

usage: fused_cross_entropy_buffers.py   (needs `torch`; python -m pip install torch)
"""
import re

import torch
from torch._inductor.utils import run_and_get_code


def logits_max(logits):
    upcast = logits.float()  # the fp32 copy
    return upcast, torch.max(upcast, dim=-1)[0]


def predicted_logits(upcast, target, maximum, first: int, last: int):
    upcast -= maximum.unsqueeze(dim=-1)  # in place
    outside = (target < first) | (target >= last)
    local = target.clone() - first
    local[outside] = 0
    rows = upcast.view(-1, upcast.size(-1))
    index = local.view(-1)
    picked = rows[torch.arange(rows.size(0)), index].clone().contiguous().view_as(target)
    picked[outside] = 0.0
    torch.exp(upcast, out=upcast)  # in place: the exponentials
    total = upcast.sum(dim=-1)
    return outside, index, torch.cat((picked, total)), upcast


def loss_of(exponentials, picked_and_total):
    picked, total = torch.split(picked_and_total, picked_and_total.size(0) // 2)
    loss = torch.log(total) - picked
    exponentials.div_(total.unsqueeze(dim=-1))  # in place: the softmax the backward reads
    return exponentials, loss


def gradient(softmax, grad_output, outside, index):
    rows = softmax.view(-1, softmax.size(-1))
    update = 1.0 - outside.view(-1).float()
    rows[torch.arange(rows.size(0)), index] -= update  # in place on the saved softmax
    softmax.mul_(grad_output.unsqueeze(dim=-1))  # in place
    return softmax.to(torch.bfloat16)


def allocations(code):
    return re.findall(r"(buf\d+) = empty_strided_\w+\(\(([^)]*)\), \([^)]*\), (torch\.\w+)\)", code)


def main():
    tokens, vocab = 256, 4096
    logits = torch.randn(tokens, 1, vocab, dtype=torch.bfloat16)
    target = torch.randint(0, vocab, (tokens, 1))
    full = f"{tokens}, 1, {vocab}"
    flat = f"{tokens}, {vocab}"
    with torch.no_grad():  # an autograd.Function's forward and backward run without grad
        steps = []
        (upcast, maximum), code = run_and_get_code(torch.compile(logits_max), logits)
        steps.append(("forward: logits_max", code))
        (outside, index, picked_and_total, exps), code = run_and_get_code(
            torch.compile(predicted_logits), upcast, target, maximum, 0, vocab)
        steps.append(("forward: predicted_logits", code))
        (softmax, _), code = run_and_get_code(torch.compile(loss_of), exps, picked_and_total)
        steps.append(("forward: loss", code))
        grad, code = run_and_get_code(torch.compile(gradient), softmax, torch.ones(tokens, 1), outside, index)
        steps.append(("backward: gradient", code))
    assert softmax.data_ptr() == upcast.data_ptr(), "the in-place steps should keep one fp32 copy"
    print(f"torch {torch.__version__}; logits {tokens} x {vocab}; full-size buffers per compiled graph:")
    for name, codes in steps:
        found = [(b, shape, dtype) for c in codes for b, shape, dtype in allocations(c) if shape in (full, flat)]
        listed = ", ".join(f"{b} {dtype.replace('torch.', '')}" for b, _, dtype in found) or "none"
        print(f"  {name:28s} {listed}")


if __name__ == "__main__":
    main()
