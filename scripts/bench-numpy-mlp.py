#!/usr/bin/env python3
"""NumPy peer of `dptrain benchmark --hidden 256,128 --batch-size 100 --blas-threads 1` (scripts/bench).

The same float32 training as dptrain's reference configuration, written the way a competent NumPy
user would write it to be fast (preallocated buffers, np.dot(..., out=), in-place ufuncs, float32
throughout, no autograd library), on ONE BLAS thread: MLP 784-256-128-10 (W stored [out, in],
forward X @ W.T), ReLU, softmax cross-entropy, He init, L2 penalty lambda * sum ||W||^2 (weights
only), momentum SGD v = rho*v + eta*g, W -= v (rho 0.9, constant eta 0.01), batch 100, on the
first 55,000 Fashion-MNIST training images (dptrain keeps the last 5,000 for validation), pixels
/ 255 normalized by the training set's per-feature mean and std, reshuffled every epoch.

    python3 scripts/bench-numpy-mlp.py [--epochs 3] [--hidden 256,128] [--batch-size 100] [--train 55000]

Prints one line per epoch, the last epoch's loss, the accuracy after training, and
    RESULT numpy s/epoch 0.962 samples/s 57173 blas openblas-0.3.31/Haswell numpy 2.4.6
where s/epoch is the best epoch (an epoch's time includes its shuffle and batch gathering).
"""
import os

# One BLAS thread; must be set before numpy loads OpenBLAS. OPENBLAS_CORETYPE is left alone.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse
import gzip
import sys
import time

try:
    import numpy as np
except ImportError:
    sys.exit("bench-numpy-mlp.py: numpy is not installed (python3 -m pip install numpy threadpoolctl)")


def read_idx(path, magic):
    """A gzip IDX file (big-endian header: magic, then one uint32 per dimension) as a uint8 array."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    header = np.frombuffer(raw, ">u4", count=1 + (magic & 0xFF))
    if header[0] != magic:
        sys.exit(f"bench-numpy-mlp.py: {path} is not an IDX file of magic {magic:#x}")
    return np.frombuffer(raw, np.uint8, offset=4 * len(header)).reshape(tuple(header[1:]))


def blas_kernel():
    """('openblas-<version>/<core>', threads) of the BLAS numpy runs, from threadpoolctl, else 'unknown'."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown", "?"
    for info in threadpool_info():
        if info.get("user_api") == "blas":
            name = f"{info.get('internal_api')}-{info.get('version')}/{info.get('architecture') or 'unknown'}"
            return name, info.get("num_threads")
    return "unknown", "?"


args = argparse.ArgumentParser(description=__doc__.split("\n")[0])
args.add_argument("--epochs", type=int, default=3)
args.add_argument("--hidden", default="256,128")
args.add_argument("--batch-size", type=int, default=100)
args.add_argument("--train", type=int, default=55000, help="training samples (the first N of the 60,000)")
args.add_argument("--seed", type=int, default=1)
args.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
a = args.parse_args()
if a.epochs < 1 or a.batch_size < 1 or a.train < 1:
    args.error("--epochs, --batch-size and --train must be positive")
ETA, RHO, LAMBDA, B = np.float32(0.01), np.float32(0.9), np.float32(1e-4), a.batch_size

# ---- data: first N samples, pixels / 255, normalized by the training set's mean/std (untimed)
files = [os.path.join(a.data, f) for f in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")]
missing = [f for f in files if not os.path.isfile(f)]
if missing:
    sys.exit("bench-numpy-mlp.py: missing " + ", ".join(missing) + " (apt-get install dataset-fashion-mnist)")
images, labels = read_idx(files[0], 0x803), read_idx(files[1], 0x801)
N = min(a.train, len(labels))
X = images[:N].reshape(N, -1).astype(np.float32) / np.float32(255)
mean, std = X.mean(axis=0), X.std(axis=0)
std[std < 1e-6] = 1  # constant features are only centered (as dptrain does)
X -= mean
X /= std
Y = labels[:N].astype(np.intp)

# ---- parameters (He init, zero biases) and momentum buffers, float32
sizes = [X.shape[1]] + [int(h) for h in a.hidden.split(",") if h] + [10]
L = len(sizes) - 1
rng = np.random.default_rng(a.seed)
W = [(rng.standard_normal((sizes[l + 1], sizes[l])) * np.sqrt(2.0 / sizes[l])).astype(np.float32) for l in range(L)]
b = [np.zeros(sizes[l + 1], np.float32) for l in range(L)]
vW, vb = [np.zeros_like(w) for w in W], [np.zeros_like(x) for x in b]
dW, db, tmpW = [np.empty_like(w) for w in W], [np.empty_like(x) for x in b], [np.empty_like(w) for w in W]

# ---- activations and gradients for a full batch; a smaller last batch uses leading rows (views)
H = [np.empty((B, n), np.float32) for n in sizes]  # H[0] = input batch, H[l] = ReLU(Z_l), H[L] = softmax
dH = [np.empty((B, n), np.float32) for n in sizes]  # dH[l] = dJ/dZ_l, scaled by eta (see below)
mask = [np.empty((B, n), np.bool_) for n in sizes]
rowmax, rowsum, rows = np.empty(B, np.float32), np.empty(B, np.float32), np.arange(B)


def step(idx):
    """One momentum SGD step on the samples idx; returns the batch's summed cross-entropy."""
    m = len(idx)
    h = [x[:m] for x in H]
    g = [x[:m] for x in dH]
    np.take(X, idx, axis=0, out=h[0])
    y = Y[idx]
    for l in range(L):  # forward: Z = H W^T + b, ReLU in place (not on the scores)
        np.dot(h[l], W[l].T, out=h[l + 1])
        h[l + 1] += b[l]
        if l < L - 1:
            np.maximum(h[l + 1], 0, out=h[l + 1])
    s, mx, sm = h[L], rowmax[:m], rowsum[:m]
    np.max(s, axis=1, out=mx)
    s -= mx[:, None]
    zy = s[rows[:m], y]  # correct class's shifted score (a copy)
    np.exp(s, out=s)
    np.sum(s, axis=1, out=sm)
    loss = float(np.log(sm).sum() - zy.sum())  # sum_i log(sum_j exp z_ij) - z_iy
    s /= sm[:, None]  # softmax P
    # dJ/dZ_L = (P - onehot) / m; scaled by eta here, every gradient below is eta * gradient
    s[rows[:m], y] -= 1
    np.multiply(s, ETA / m, out=g[L])
    for l in range(L - 1, -1, -1):  # backward
        np.dot(g[l + 1].T, h[l], out=dW[l])
        np.sum(g[l + 1], axis=0, out=db[l])
        if l > 0:  # dJ/dZ_{l} = (dJ/dZ_{l+1} W) * [Z_l > 0]
            np.dot(g[l + 1], W[l], out=g[l])
            np.greater(h[l], 0, out=mask[l][:m])
            np.multiply(g[l], mask[l][:m], out=g[l])
    for l in range(L):  # v = rho v + eta (dW + 2 lambda W); W -= v (biases: no penalty)
        vW[l] *= RHO
        vW[l] += dW[l]
        np.multiply(W[l], ETA * 2 * LAMBDA, out=tmpW[l])
        vW[l] += tmpW[l]
        W[l] -= vW[l]
        vb[l] *= RHO
        vb[l] += db[l]
        b[l] -= vb[l]
    return loss


def evaluate(Xe, Ye):
    """(mean cross-entropy, accuracy) of the current parameters, in chunks (untimed)."""
    loss, correct = 0.0, 0
    for i in range(0, len(Ye), 5000):
        z = Xe[i:i + 5000]
        for l in range(L):
            z = z @ W[l].T + b[l]
            if l < L - 1:
                np.maximum(z, 0, out=z)
        z = z.astype(np.float64) - z.max(axis=1, keepdims=True)
        y = Ye[i:i + 5000]
        loss += float((np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(y)), y]).sum())
        correct += int((z.argmax(axis=1) == y).sum())
    return loss / len(Ye), correct / len(Ye)


kernel, threads = blas_kernel()
print(f"numpy MLP {'-'.join(map(str, sizes))}, float32, batch {B}, {N} training samples, "
      f"momentum {float(RHO):g} eta {float(ETA):g} lambda {float(LAMBDA):g}, BLAS threads {threads}, blas {kernel}, numpy {np.__version__}", flush=True)
best, shuffle = float("inf"), np.random.default_rng(a.seed + 1)
for e in range(a.epochs):
    t0 = time.perf_counter()
    order = shuffle.permutation(N)
    epoch_loss = sum(step(order[i:i + B]) for i in range(0, N, B)) / N
    t = time.perf_counter() - t0
    best = min(best, t)
    print(f"  epoch {e + 1}: {t:.3f} s  mean training cross-entropy {epoch_loss:.4f}", flush=True)
train_loss, train_acc = evaluate(X, Y)
penalty = float(LAMBDA) * sum(float(np.square(w, dtype=np.float64).sum()) for w in W)
print(f"  after training: training cross-entropy {train_loss:.4f} (+ L2 term {penalty:.4f}), training accuracy {100 * train_acc:.2f}%")
print(f"RESULT numpy s/epoch {best:.3f} samples/s {N / best:.0f} blas {kernel} numpy {np.__version__}")
