#!/usr/bin/env python3
"""Style transfer in PyTorch and in nst, side by side: the losses must agree iteration by iteration.

Both sides get the same real VGG19 weights (../shared, conv1_1..conv3_4, Caffe preprocessing),
the same pixels (crops of the shared photo and painting, decoded with the same libstb that nst
uses and handed to nst as lossless PNG), the losses exactly as nst defines them

    content: w_c * mean((F - P)^2)            at relu2_2
    style:   w_s * sum_l mean((G_l - A_l)^2)   G = F F^T / (C*H*W), at relu1_1, relu2_1, relu3_1
    tv:      w_tv * sum (x[.., j+1] - x[.., j])^2 + (x[.., i+1, .] - x[.., i, .])^2

and torch.optim.Adam on the network input x, initialised from the content. nst logs each
iteration with --log-json; this script asserts that every logged loss is within 1e-4 relative of
PyTorch's.

Usage: torch_reference.py NST_BINARY SHARED_DIR [WORK_DIR]
Exit status: 0 agree, 1 disagree, 77 skipped (no torch, or no ../shared).
"""
import ctypes
import json
import os
import struct
import subprocess
import sys
import tempfile
import zlib

SKIP = 77
ITERATIONS = 8
WEIGHTS = dict(content=5.0, style=100.0, tv=1e-3)
CONTENT_LAYERS = ["relu2_2"]
STYLE_LAYERS = ["relu1_1", "relu2_1", "relu3_1"]
CAFFE_MEAN_BGR = [103.939, 116.779, 123.68]
CONVS = [("conv1_1", 1), ("conv1_2", 1), ("pool", 1), ("conv2_1", 2), ("conv2_2", 2), ("pool", 2),
         ("conv3_1", 3), ("conv3_2", 3), ("conv3_3", 3), ("conv3_4", 3)]

try:
    import numpy as np
    import torch
except ImportError:
    print("skipped: PyTorch (Debian's python3-torch) is not installed")
    sys.exit(SKIP)


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", name
        begin, end = info["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[begin:end], dtype="<f4").reshape(info["shape"]).copy())
    return out


def stb_load_rgb(path):
    """Decodes an image with Debian's libstb, as nst does, into an HxWx3 uint8 array."""
    stb = ctypes.CDLL("libstb.so")
    stb.stbi_load.restype = ctypes.POINTER(ctypes.c_ubyte)
    w, h, c = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
    pixels = stb.stbi_load(path.encode(), ctypes.byref(w), ctypes.byref(h), ctypes.byref(c), 3)
    if not pixels:
        raise RuntimeError("libstb could not decode " + path)
    array = np.ctypeslib.as_array(pixels, shape=(h.value, w.value, 3)).copy()
    stb.stbi_image_free(pixels)
    return array


def write_png(path, rgb):
    height, width, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(height))

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(raw)))
        f.write(chunk(b"IEND", b""))


def to_network(rgb_uint8):
    """HxWx3 uint8 RGB -> [1,3,H,W] Caffe input: BGR, 0..255, minus the mean pixel."""
    x = torch.from_numpy(rgb_uint8.astype(np.float32) / 255.0).permute(2, 0, 1).flip(0) * 255.0
    return (x - torch.tensor(CAFFE_MEAN_BGR).view(3, 1, 1)).unsqueeze(0)


def features(weights, x, wanted):
    """VGG19 (Caffe weights) up to the deepest wanted relu; returns {name: activation}."""
    out = {}
    for name, block in CONVS:
        if all(k in out for k in wanted):
            break
        if name == "pool":
            x = torch.nn.functional.max_pool2d(x, 2, 2)
            continue
        x = torch.relu(torch.nn.functional.conv2d(x, weights[name + ".weight"], weights[name + ".bias"], padding=1))
        out["relu" + name[4:]] = x
    return {k: out[k] for k in wanted}


def gram(f):
    _, c, h, w = f.shape
    m = f.reshape(c, h * w)
    return m @ m.t() / (c * h * w)


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    nst_binary, shared = sys.argv[1], sys.argv[2]
    weights_path = os.path.join(shared, "weights", "vgg19-conv1_1-conv3_4.safetensors")
    images = [os.path.join(shared, "images", n) for n in ("tubingen.jpg", "starry_night.jpg")]
    if not all(os.path.exists(p) for p in [weights_path] + images):
        print("skipped: ../shared (weights and images) is absent")
        return SKIP
    work = sys.argv[3] if len(sys.argv) > 3 else tempfile.mkdtemp(prefix="nst-torch-reference-")
    os.makedirs(work, exist_ok=True)

    content = stb_load_rgb(images[0])[300:396, 400:528]   # 96x128 crops: the longer side is 128
    style = stb_load_rgb(images[1])[100:196, 200:328]
    paths = {k: os.path.join(work, k + ".png") for k in ("content", "style", "output")}
    write_png(paths["content"], np.ascontiguousarray(content))
    write_png(paths["style"], np.ascontiguousarray(style))
    log = os.path.join(work, "log.json")

    command = [nst_binary, "stylize", "--content", paths["content"], "--style", paths["style"],
               "--output", paths["output"], "--weights", weights_path, "--image-size", "128",
               "--iterations", str(ITERATIONS), "--optimizer", "adam", "--learning-rate", "10",
               "--init", "content", "--content-weight", str(WEIGHTS["content"]),
               "--style-weight", str(WEIGHTS["style"]), "--tv-weight", str(WEIGHTS["tv"]),
               "--content-layers", ",".join(CONTENT_LAYERS), "--style-layers", ",".join(STYLE_LAYERS),
               "--log-json", log, "--print-every", "0"]
    run = subprocess.run(command, capture_output=True, text=True)
    if run.returncode != 0:
        print("nst failed:", run.stderr)
        return 1
    nst_losses = [json.loads(line) for line in open(log)]

    torch.set_num_threads(2)
    weights = load_safetensors(weights_path)
    content_x, style_x = to_network(content), to_network(style)
    with torch.no_grad():
        targets_p = features(weights, content_x, CONTENT_LAYERS)
        targets_a = {k: gram(v) for k, v in features(weights, style_x, STYLE_LAYERS).items()}
    x = content_x.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([x], lr=10.0)
    # nst reports, after iteration k, the loss at the new point x_k; PyTorch's loop below
    # evaluates x_0 .. x_N, stepping after each evaluation but the last.
    worst = 0.0
    for evaluation in range(ITERATIONS + 1):
        optimizer.zero_grad()
        f = features(weights, x, CONTENT_LAYERS + STYLE_LAYERS)
        parts = {
            "content": WEIGHTS["content"] * sum(torch.mean((f[l] - targets_p[l]) ** 2) for l in CONTENT_LAYERS),
            "style": WEIGHTS["style"] * sum(torch.mean((gram(f[l]) - targets_a[l]) ** 2) for l in STYLE_LAYERS),
            "tv": WEIGHTS["tv"] * (((x[..., :, 1:] - x[..., :, :-1]) ** 2).sum()
                                   + ((x[..., 1:, :] - x[..., :-1, :]) ** 2).sum()),
        }
        loss = parts["content"] + parts["style"] + parts["tv"]
        if evaluation > 0:
            ours = nst_losses[evaluation - 1]
            line = "iteration %2d" % evaluation
            for key in ("loss", "content", "style", "tv"):
                theirs = float(loss if key == "loss" else parts[key])
                error = abs(ours[key] - theirs) / max(abs(theirs), 1e-12)
                worst = max(worst, error)
                line += "  %s %.6g vs %.6g (%.1e)" % (key, ours[key], theirs, error)
            print(line)
        if evaluation < ITERATIONS:
            loss.backward()
            optimizer.step()
    print("worst relative difference: %.2e (limit 1e-4)" % worst)
    return 0 if worst <= 1e-4 and len(nst_losses) == ITERATIONS else 1


if __name__ == "__main__":
    sys.exit(main())
