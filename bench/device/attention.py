# FlashAttention through torch SDPA (flash = FlashAttention-2, cudnn) on the GPU it runs on, bf16,
# head dim 128, 16 heads, 16,384 tokens per batch (the FlashAttention papers' setting), and torch.mm
# on randn at some of llama3-70b's shapes. Each run is synchronised, so short ones include the host's
# dispatch: docs/tools/device_kernel_rows.py keeps the rows of 1 ms and more.
import torch, sys, statistics
from torch.nn.attention import sdpa_kernel, SDPBackend
import torch.nn.functional as F
print(torch.__version__, torch.version.cuda, torch.backends.cudnn.version(), torch.cuda.get_device_name())
H, D, TOK = 16, 128, 16384
def timeit(fn, warm=5, it=20):
    for _ in range(warm): fn()
    ts = []
    for _ in range(it):
        a = torch.cuda.Event(enable_timing=True); b = torch.cuda.Event(enable_timing=True)
        a.record(); fn(); b.record(); b.synchronize(); ts.append(a.elapsed_time(b) / 1e3)
    return statistics.median(ts)
rows = []
for name, be in [("flash2", SDPBackend.FLASH_ATTENTION), ("cudnn", SDPBackend.CUDNN_ATTENTION)]:
    for S in [512, 1024, 2048, 4096, 8192, 16384]:
        B = TOK // S
        for causal in [False, True]:
            q, k, v = (torch.randn(B, H, S, D, device="cuda", dtype=torch.bfloat16, requires_grad=True) for _ in range(3))
            flops = 4 * B * S * S * H * D * (0.5 if causal else 1)
            try:
                with sdpa_kernel([be]):
                    tf = timeit(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal))
                    o = F.scaled_dot_product_attention(q, k, v, is_causal=causal); g = torch.randn_like(o)
                    def fb():
                        out = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
                        torch.autograd.grad(out, (q, k, v), g)
                    tfb = timeit(fb)
                tb = tfb - tf
                print(f"ATTN,{name},{S},{B},{H},{D},{'yes' if causal else 'no'},{flops/tf/1e12:.1f},{2.5*flops/tb/1e12:.1f},{3.5*flops/tfb/1e12:.1f}", flush=True)
            except Exception as e:
                print(f"ATTN,{name},{S},fail,{type(e).__name__}: {str(e)[:80]}", flush=True)
# torch.mm on randn for the profiler's cross-check: a few of llama3-70b's shapes.
for (m, n, k) in [(8192, 8192, 8192), (8192, 10240, 8192), (16384, 10240, 8192), (8192, 1280, 8192), (8192, 8192, 1024), (8192, 57344, 8192), (8192, 8192, 28672), (4096, 4096, 4096), (2048, 2048, 2048)]:
    a = torch.randn(m, k, device="cuda", dtype=torch.bfloat16); b = torch.randn(k, n, device="cuda", dtype=torch.bfloat16)
    t = timeit(lambda: a @ b, 10, 50)
    print(f"MM,{m},{n},{k},{2*m*n*k/t/1e12:.1f}", flush=True)
