"""The PyTorch CPU reference of `lunghub bench learn`: lunghub-learn's network, data,
preprocessing, augmentation, loss, optimiser, schedule and early stopping, written in
PyTorch, trained and timed on the same release with the same number of threads.

usage: torch_reference.py SETTINGS_JSON OUT_JSON

SETTINGS_JSON: {"release": dir, "test_findings": {file: finding}, "side", "epochs",
"batch", "learning_rate", "weight_decay", "seed", "patience", "threads",
"latency_runs", "throughput_batches"}. OUT_JSON receives the figures and the test
split's probabilities; lunghub computes the AUC and its interval for both contenders with
the same code.
"""

import csv
import json
import math
import os
import random
import resource
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image
from sklearn.metrics import roc_auc_score

COVID = "Pneumonia/Viral/COVID-19"


def pixels(path, side):
    # PIL's bilinear resize widens its support when shrinking: the same triangle filter
    # lunghub uses (image::imageops::FilterType::Triangle).
    img = Image.open(path).convert("L").resize((side, side), Image.BILINEAR)
    a = np.asarray(img, dtype=np.float32) / 255.0
    return (a - 0.5) / 0.25


def read(settings):
    root = settings["release"]
    side = settings["side"]
    splits = {"train": [], "validation": [], "test": []}
    with open(os.path.join(root, "metadata.csv"), newline="") as f:
        for row in csv.DictReader(f):
            splits[row["split"]].append((row["filename"], int(row["finding"] == COVID)))
    with open(os.path.join(root, "test.csv"), newline="") as f:
        for row in csv.DictReader(f):
            finding = settings["test_findings"][row["filename"]]
            splits["test"].append((row["filename"], int(finding == COVID)))
    out = {}
    for name, rows in splits.items():
        x = np.stack([pixels(os.path.join(root, "images", f), side) for f, _ in rows])
        out[name] = (
            [f for f, _ in rows],
            torch.from_numpy(x).unsqueeze(1),
            torch.tensor([l for _, l in rows], dtype=torch.long),
        )
    return out


def conv(cin, cout, k, stride):
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False)


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = conv(cin, cout, 3, stride)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = conv(cout, cout, 3, 1)
        self.bn2 = nn.BatchNorm2d(cout)
        self.project = None
        if cin != cout or stride != 1:
            self.project = conv(cin, cout, 1, stride)
            self.project_bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        shortcut = x if self.project is None else self.project_bn(self.project(x))
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + shortcut)


class Net(nn.Module):
    """lunghub-learn's `Net`: stem, max pool, four residual blocks, global pooling, linear."""

    def __init__(self, widths=(16, 32, 64, 128), classes=2):
        super().__init__()
        w = widths
        self.stem = conv(1, w[0], 7, 2)
        self.stem_bn = nn.BatchNorm2d(w[0])
        self.blocks = nn.Sequential(
            Block(w[0], w[0], 1), Block(w[0], w[1], 2), Block(w[1], w[2], 2), Block(w[2], w[3], 2)
        )
        self.head = nn.Linear(w[3], classes)

    def forward(self, x):
        x = F.relu(self.stem_bn(self.stem(x)))
        x = F.max_pool2d(x, 3, stride=2, padding=1)
        x = self.blocks(x)
        return self.head(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def augment(x, rng):
    """A shift of up to side/16 with the edge repeated, and a gain and bias jitter."""
    n, _, side, _ = x.shape
    m = side // 16
    padded = F.pad(x, (m, m, m, m), mode="replicate")
    out = torch.empty_like(x)
    for i in range(n):
        dx, dy = rng.randint(-m, m), rng.randint(-m, m)
        gain = 0.9 + rng.randint(0, 200) / 1000.0
        bias = (rng.randint(0, 200) - 100) / 1000.0
        out[i] = padded[i, :, m - dy : m - dy + side, m - dx : m - dx + side] * gain + bias
    return out


def probabilities(net, x, batch):
    net.eval()
    with torch.inference_mode():
        return torch.cat([F.softmax(net(x[i : i + batch]), 1)[:, 1] for i in range(0, len(x), batch)])


def main():
    settings = json.load(open(sys.argv[1]))
    torch.set_num_threads(settings["threads"])
    torch.manual_seed(settings["seed"])
    rng = random.Random(settings["seed"])
    data = read(settings)
    _, xt, yt = data["train"]
    _, xv, yv = data["validation"]
    net = Net()
    counts = torch.bincount(yt, minlength=2).clamp(min=1).float()
    weights = len(yt) / (2 * counts)
    loss_fn = nn.CrossEntropyLoss(weight=weights)
    opt = torch.optim.AdamW(net.parameters(), lr=settings["learning_rate"], weight_decay=settings["weight_decay"])
    epochs, batch = settings["epochs"], settings["batch"]
    best, best_state, since, history = None, None, 0, []
    for epoch in range(epochs):
        started = time.perf_counter()
        for g in opt.param_groups:
            g["lr"] = settings["learning_rate"] * 0.5 * (1 + math.cos(math.pi * epoch / epochs))
        net.train()
        order = list(range(len(yt)))
        rng.shuffle(order)
        losses = []
        for i in range(0, len(order), batch):
            idx = torch.tensor(order[i : i + batch])
            loss = loss_fn(net(augment(xt[idx], rng)), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        p = probabilities(net, xv, batch)
        auc = roc_auc_score(yv.numpy(), p.numpy())
        val_loss = float(-torch.log(torch.where(yv == 1, p, 1 - p).clamp(min=1e-12)).mean())
        seconds = time.perf_counter() - started
        history.append({"epoch": epoch + 1, "loss": statistics.fmean(losses), "validation_auc": auc, "seconds": seconds})
        print(f"pytorch epoch {epoch + 1}/{epochs}: loss {history[-1]['loss']:.4f}, validation AUC {auc:.3f}, {seconds:.0f} s", file=sys.stderr, flush=True)
        score = (auc, -val_loss)
        if best is None or score > best:
            best, best_state, since = score, {k: v.clone() for k, v in net.state_dict().items()}, 0
        else:
            since += 1
            if since >= settings["patience"]:
                break
    net.load_state_dict(best_state)
    names, xs, _ = data["test"]
    test = probabilities(net, xs, 32)

    # Inference: latency of one image, and throughput in batches of 32.
    net.eval()
    one = xs[:1]
    latencies = []
    with torch.inference_mode():
        for _ in range(5):
            net(one)
        for _ in range(settings["latency_runs"]):
            t = time.perf_counter()
            F.softmax(net(one), 1)
            latencies.append(time.perf_counter() - t)
        chunk = xs[:32]
        net(chunk)
        t = time.perf_counter()
        for _ in range(settings["throughput_batches"]):
            F.softmax(net(chunk), 1)
        throughput = settings["throughput_batches"] * len(chunk) / (time.perf_counter() - t)
    json.dump(
        {
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "history": history,
            "latency_ms": statistics.median(latencies) * 1000,
            "throughput": throughput,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "test": dict(zip(names, test.tolist())),
        },
        open(sys.argv[2], "w"),
    )


if __name__ == "__main__":
    main()
