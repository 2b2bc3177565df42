#!/usr/bin/env python3
"""Which full-size buffers torch.compile allocates in two compiled language-model losses.

1. Megatron-Core's `--cross-entropy-loss-fusion` loss (megatron/core/fusions/fused_cross_entropy.py,
the same steps at core_r0.11.0 and core_v0.19.0) runs four functions under `jit_fuser`, which is
`torch.compile` from PyTorch 2.2 on (megatron/core/jit.py). Each step below is the operation the
Megatron function performs, in its order and with its in-place writes (tensor_parallel/
cross_entropy.py: calculate_logits_max, calculate_predicted_logits, calculate_cross_entropy_loss,
prepare_gradient_calculation_operands + calculate_gradients), at tensor parallel 1 and written
here from their description, not copied.
2. torchtitan's loss when compiled with the model (compile.components "loss"): F.cross_entropy of
the fp32 upcast of the bf16 logits (torchtitan/components/loss.py), forward and backward through
autograd.

The script compiles them with Inductor on the CPU and prints, per compiled graph, every buffer of
the logits' size that the generated code allocates (and, for the autograd graph, whether the
forward keeps the bf16 logits for the backward): bytes per logit that the loss holds beside the
tensors it keeps.

What it showed (PyTorch 2.6.0 and 2.9.1, CPU Inductor, 2026-12-06):
- Megatron: the forward allocates the fp32 copy only (its in-place steps write into it); the
  backward allocates a second fp32 buffer of the logits' size (the functional copy that the
  in-place index_put on the softmax becomes) beside the bf16 gradient it returns, while the saved
  fp32 softmax is alive: 4 + 4 + 2 = 10 bytes per logit at the backward's peak, against 2 + 4 = 6
  in the forward. nest counts 10 (host/src/framework/megatron.cpp, apply_cross_entropy).
  Inductor keeps that buffer on the CPU even where it fuses the whole backward into one kernel,
  because the index_put writes into it; on a GPU, where a scatter is a kernel of its own, it has
  to exist as well (reasoned, not run: no GPU here).
- torchtitan: the forward keeps the bf16 logits and per-token fp32 statistics, no fp32 logits;
  the backward allocates only the bf16 gradient: 2 + 2 = 4 bytes per logit, what nest counts
  (host/src/framework/torchtitan.cpp).
The kernels that fill the buffers differ by device and are not what this script reads.

usage: compiled_loss_buffers.py   (needs `torch`; python -m pip install torch)
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


def torchtitan_loss(pred, labels):
    return torch.nn.functional.cross_entropy(pred.flatten(0, 1).float(), labels.flatten(0, 1))


def full_size(codes, shapes):
    found = [f"{b} {dtype.replace('torch.', '')}" for c in codes for b, shape, dtype in allocations(c) if shape in shapes]
    return ", ".join(found) or "none"


def main():
    tokens, vocab = 256, 4096
    logits = torch.randn(tokens, 1, vocab, dtype=torch.bfloat16)
    target = torch.randint(0, vocab, (tokens, 1))
    shapes = (f"{tokens}, 1, {vocab}", f"{tokens}, {vocab}", f"1, {tokens}, {vocab}")
    print(f"torch {torch.__version__}; logits {tokens} x {vocab}; full-size buffers per compiled graph:")
    with torch.no_grad():  # an autograd.Function's forward and backward run without grad
        (upcast, maximum), code = run_and_get_code(torch.compile(logits_max), logits)
        print(f"  megatron forward, logits_max:       {full_size(code, shapes)}")
        (outside, index, picked_and_total, exps), code = run_and_get_code(
            torch.compile(predicted_logits), upcast, target, maximum, 0, vocab)
        print(f"  megatron forward, predicted_logits: {full_size(code, shapes)}")
        (softmax, _), code = run_and_get_code(torch.compile(loss_of), exps, picked_and_total)
        print(f"  megatron forward, loss:             {full_size(code, shapes)}")
        _, code = run_and_get_code(torch.compile(gradient), softmax, torch.ones(tokens, 1), outside, index)
        print(f"  megatron backward, gradient:        {full_size(code, shapes)}")
    assert softmax.data_ptr() == upcast.data_ptr(), "the in-place steps should keep one fp32 copy"

    pred = torch.randn(1, tokens, vocab, dtype=torch.bfloat16, requires_grad=True)
    compiled = torch.compile(torchtitan_loss)

    def forward_backward():
        loss = compiled(pred, target.view(1, tokens))
        loss.backward()
        return loss

    _, codes = run_and_get_code(forward_backward)
    forward, backward = codes[0], codes[1:]
    keeps = any("primals_1" in line for line in forward.splitlines() if line.strip().startswith("return ("))
    print(f"  torchtitan forward:                 {full_size([forward], shapes)}"
          f" (keeps the bf16 logits for the backward: {keeps})")
    print(f"  torchtitan backward:                {full_size(backward, shapes)}")


if __name__ == "__main__":
    main()
