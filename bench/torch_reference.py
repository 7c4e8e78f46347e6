#!/usr/bin/env python3
"""PyTorch running exactly the workload of nst_bench (see nst_bench.cpp for the cases).

Same cases, sizes, thread counts, timing rule (two warm-ups, then the fastest of up to --reps runs,
fewer once --budget seconds are spent) and peak-memory rule (each case in its own forked child,
VmHWM from /proc/self/status). The parent imports torch but computes nothing, so no thread pool
exists when it forks. Weights are Kaiming-uniform with VGG19's shapes, as in nst_bench.

Run it with Debian's /usr/bin/python3 (python3-torch 1.13). bench/run.sh adds what makes PyTorch
fastest here: tcmalloc preloaded, OpenBLAS hints unset.

Usage: torch_reference.py [--sizes 256,512] [--threads 1,2] [--large] [--reps 3] [--budget 3]
                          [--cases layers,network,iteration,optimizer] [--filter TEXT]
"""
import argparse
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

WIDTHS = [64, 128, 256, 512, 512]
CONVS_PER_BLOCK = [2, 2, 4, 4, 4]
CONVS_TO_RELU5_1 = 13
STYLE_LAYERS = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
CONTENT_LAYERS = ["relu4_2"]


def conv_table():
    """(name, block, out, in) for conv1_1 .. conv5_4."""
    table, previous = [], 3
    for block, count in enumerate(CONVS_PER_BLOCK, start=1):
        for i in range(1, count + 1):
            out = WIDTHS[block - 1]
            table.append((f"conv{block}_{i}", block, out, previous))
            previous = out
    return table


CONVS = conv_table()


def uniform(shape, scale, seed):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=g) * 2 - 1) * scale


def weight(conv):
    _, _, out, inp = CONVS[conv]
    return uniform((out, inp, 3, 3), (6.0 / (inp * 9)) ** 0.5, 100 + conv)


def bias(conv):
    return uniform((CONVS[conv][2],), 0.01, 200 + conv)


def features(x, params, wanted):
    """VGG19 up to the deepest wanted relu; returns {name: activation}. In-place ReLU as torchvision."""
    out, deepest = {}, max(wanted, key=lambda n: (int(n[4]), int(n[6])))
    for conv, (name, block, _, _) in enumerate(CONVS):
        if conv > 0 and CONVS[conv - 1][1] != block:
            x = F.max_pool2d(x, 2, 2)
        x = F.relu_(F.conv2d(x, params[conv][0], params[conv][1], padding=1))
        relu = "relu" + name[4:]
        if relu in wanted:
            out[relu] = x
        if relu == deepest:
            return out
    return out


def gram(f):
    n, c, h, w = f.shape
    m = f.reshape(n, c, h * w)
    return torch.bmm(m, m.transpose(1, 2)) / (c * h * w)


def total_variation(x):
    return ((x[:, :, :, 1:] - x[:, :, :, :-1]) ** 2).sum() + ((x[:, :, 1:, :] - x[:, :, :-1, :]) ** 2).sum()


def time_runs(run, args):
    run()  # warm-up, twice as nst_bench (whose memory plan is made in the first call)
    run()
    best, spent, runs = float("inf"), 0.0, 0
    for i in range(args.reps):
        if i > 0 and spent >= args.budget:
            break
        start = time.perf_counter()
        run()
        seconds = time.perf_counter() - start
        best, spent, runs = min(best, seconds), spent + seconds, runs + 1
    return best, runs


def layer_case(conv, size, input_grad, args):
    _, block, out, inp = CONVS[conv]
    side = size >> (block - 1)
    w, b = weight(conv), bias(conv)
    x = uniform((1, inp, side, side), 1.0, 1)
    if not input_grad:
        def run():
            with torch.inference_mode():
                F.conv2d(x, w, b, padding=1)
        return time_runs(run, args)
    dy = uniform((1, out, side, side), 1.0, 2)

    def run():
        torch.ops.aten.convolution_backward(dy, x, w, None, [1, 1], [1, 1], [1, 1], False, [0, 0], 1,
                                            [True, False, False])
    return time_runs(run, args)


def network_params():
    return [(weight(c), bias(c)) for c in range(CONVS_TO_RELU5_1)]


def network_case(size, args):
    params = network_params()
    image = uniform((1, 3, size, size), 1.0, 3)

    def run():
        x = image.clone().requires_grad_()
        features(x, params, ["relu5_1"])["relu5_1"].sum().backward()
        return x.grad
    return time_runs(run, args)


def iteration_case(size, args):
    """What nst::stylize's objective does once (content 5, style 100, tv 1e-3)."""
    params = network_params()
    with torch.no_grad():
        content_target = features(uniform((1, 3, size, size), 1.0, 4), params, CONTENT_LAYERS)
        style_features = features(uniform((1, 3, size, size), 1.0, 5), params, STYLE_LAYERS)
        style_targets = {name: gram(f) for name, f in style_features.items()}
        del style_features
    at = uniform((1, 3, size, size), 1.0, 6)

    def run():
        x = at.clone().requires_grad_()
        acts = features(x, params, CONTENT_LAYERS + STYLE_LAYERS)
        content = sum(F.mse_loss(acts[n], content_target[n]) for n in CONTENT_LAYERS)
        style = sum(F.mse_loss(gram(acts[n]), style_targets[n]) for n in STYLE_LAYERS)
        loss = 5.0 * content + 100.0 * style + 1e-3 * total_variation(x)
        loss.backward()
        return x.grad
    return time_runs(run, args)


def peak_rss_mb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def lbfgs_iterations_case(size, args):
    """L-BFGS's own work in ten iterations (history 100, full): nst_bench's lbfgs.10_iterations."""
    curvature = 10 ** (-6 * uniform((1, 3, size, size), 1.0, 7).abs())
    x = uniform((1, 3, size, size), 1.0, 8).requires_grad_()

    def closure():
        with torch.no_grad():
            x.grad = curvature * x
            return 0.5 * (x * x.grad).sum()
    fill = torch.optim.LBFGS([x], lr=1, max_iter=101, max_eval=1000, tolerance_grad=-1, tolerance_change=-1,
                             history_size=100)
    fill.step(closure)
    optimizer = torch.optim.LBFGS([x], lr=1, max_iter=10, tolerance_grad=-1, tolerance_change=-1, history_size=100)
    optimizer.state[x] = fill.state[x]
    if len(optimizer.state[x]["old_dirs"]) != 100:
        raise RuntimeError("lbfgs.10_iterations: the history did not fill")
    return time_runs(lambda: optimizer.step(closure), args)


def run_case(case, args):
    torch.set_num_threads(case["threads"])
    name = case["case"]
    if "conv" in case:
        seconds, runs = layer_case(case["conv"], case["size"], name.endswith("input_grad"), args)
    elif name == "vgg19.fwd_bwd":
        seconds, runs = network_case(case["size"], args)
    elif name == "lbfgs.10_iterations":
        seconds, runs = lbfgs_iterations_case(case["size"], args)
    else:
        seconds, runs = iteration_case(case["size"], args)
    return dict(seconds=seconds, runs=runs, peak_rss_mb=peak_rss_mb())


def run_in_child(case, args):
    read_end, write_end = os.pipe()
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        status = 1
        try:
            os.write(write_end, json.dumps(run_case(case, args)).encode())
            status = 0
        except Exception as e:  # report and let the parent go on with the next case
            print(f"torch_reference: {case['case']} (size {case['size']}): {e}", file=sys.stderr)
        os._exit(status)
    os.close(write_end)
    data = b""
    while chunk := os.read(read_end, 4096):
        data += chunk
    os.close(read_end)
    _, status = os.waitpid(pid, 0)
    return json.loads(data) if status == 0 and data else None


def plan(args):
    cases = []
    for size in args.sizes:
        for threads in args.threads:
            if "layers" in args.cases:
                for conv in range(CONVS_TO_RELU5_1):
                    for what in ("forward", "input_grad"):
                        cases.append(dict(case=f"{CONVS[conv][0]}.{what}", conv=conv, size=size, threads=threads))
            if "network" in args.cases:
                cases.append(dict(case="vgg19.fwd_bwd", size=size, threads=threads))
            if "iteration" in args.cases:
                cases.append(dict(case="style.iteration", size=size, threads=threads))
            if "optimizer" in args.cases:
                cases.append(dict(case="lbfgs.10_iterations", size=size, threads=threads))
    return [c for c in cases if args.filter in c["case"]]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ints = lambda text: [int(v) for v in text.split(",")]
    parser.add_argument("--sizes", type=ints, default=[256, 512])
    parser.add_argument("--threads", type=ints, default=[1, 2])
    parser.add_argument("--large", action="store_true", help="add 1024 to the sizes")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--budget", type=float, default=3.0)
    parser.add_argument("--cases", type=lambda t: t.split(","), default=["layers", "network", "iteration"])
    parser.add_argument("--filter", default="")
    args = parser.parse_args()
    if args.large:
        args.sizes.append(1024)
    ok = True
    rows = []
    for case in plan(args):
        r = run_in_child(case, args)
        if r is None:
            ok = False
            continue
        line = dict(impl="torch", case=case["case"], size=case["size"], threads=case["threads"],
                    seconds=round(r["seconds"], 6), runs=r["runs"], peak_rss_mb=round(r["peak_rss_mb"], 1))
        print(json.dumps(line), flush=True)
        rows.append(line)
    print(f"\n{'case':<22} {'size':>6} {'threads':>7} {'ms':>12} {'runs':>6} {'peak RSS MB':>12}")
    for r in rows:
        print(f"{r['case']:<22} {r['size']:>6} {r['threads']:>7} {r['seconds'] * 1e3:>12.2f} {r['runs']:>6} "
              f"{r['peak_rss_mb']:>12.1f}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
