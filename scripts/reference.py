#!/usr/bin/env python3
"""NumPy reference implementation of the DD2424 network family and fixture writer.

Writes one JSON fixture per case to Tests/NeuralNetworkTests/Fixtures/ (format: FORMAT.md there).
Every analytic gradient is checked against centered finite differences before anything is written.
The arithmetic is bit-reproducible on every CPU: matrix products and sums are explicit fixed-order
loops of exactly rounded IEEE-754 operations (no BLAS, no SIMD reductions) and exp/log are correctly
rounded, so --check compares bytes on any machine, whatever its BLAS kernel or instruction set.

    python3 scripts/reference.py            # (re)generate the fixtures
    python3 scripts/reference.py --check    # regenerate into a temp dir, compare, exit 1 on difference
"""
import argparse
import decimal
import json
import os
import re
import sys
import tempfile

import numpy as np

EPS, ALPHA, ETA, RHO = 1e-5, 0.9, 0.05, 0.9  # BN epsilon, running-average decay, learning rate, momentum
STEPS = 3
# Finite differences: step, relative and absolute tolerances. In float64 the quotient
# (f(t+h) - f(t-h)) / 2h carries a rounding error of about eps64*|cost|/2h (~1e-10..1e-9 here),
# so the absolute tolerance is max(FD_ABS, FD_ROUNDING * eps64 * |cost| / 2h).
FD_H, FD_REL, FD_ABS, FD_ROUNDING = 1e-6, 1e-7, 1e-10, 8.0
KINK = 1e-3  # minimum distance of ReLU inputs, hinge margins and top-2 logit gaps from their kinks
FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "NeuralNetworkTests", "Fixtures")

# name, sizes, batch size n, lambda, loss, batch norm, seed
CASES = [
    ("mlp1_ce", [6, 4], 5, 0.1, "cross-entropy", False, 1001),
    ("mlp1_svm", [6, 4], 5, 0.01, "svm", False, 1002),
    ("mlp2_ce", [7, 5, 4], 6, 0.01, "cross-entropy", False, 1003),
    ("mlp2_ce_bn", [7, 5, 4], 6, 0.01, "cross-entropy", True, 1004),
    ("mlp3_svm_bn", [8, 6, 5, 3], 9, 0.005, "svm", True, 1005),
    ("mlp4_ce_bn", [9, 7, 6, 5, 4], 8, 0.0, "cross-entropy", True, 1006),
]


# Bit-reproducible arithmetic. The fixtures are compared byte for byte, so every value must be a
# function of IEEE-754 alone, not of the CPU: BLAS kernels (numpy's @, dot, einsum) choose their
# summation order and FMA use per instruction set; numpy's float64 exp/log have AVX-512-only SIMD
# implementations and glibc's exp/log have FMA-only variants, all differing in the last bits. So
# products and sums below are explicit fixed-order loops of elementwise numpy operations (each
# exactly rounded, never contracted to FMA), and exp/log are correctly rounded via decimal.
def matmul(a, b):
    """a @ b, accumulating the products in the order k = 0, 1, ..., K-1."""
    c = a[:, :1] * b[:1, :]
    for k in range(1, a.shape[1]):
        c = c + a[:, k:k + 1] * b[k:k + 1, :]
    return c


def colsum(a):
    """Sum over axis 0 (the rows of a matrix, the entries of a vector), in order."""
    s = a[0].copy()
    for row in a[1:]:
        s = s + row
    return s


def rowsum(a):
    """Sum over axis 1, in order."""
    return colsum(a.T)


_CONTEXT = decimal.Context(prec=40)  # 40 digits, then one rounding to float64


def exp(a):
    """Elementwise e**a, correctly rounded (Decimal(x) is exact; Decimal.exp is correctly rounded)."""
    return np.vectorize(lambda x: float(decimal.Decimal(x).exp(_CONTEXT)), otypes=[np.float64])(a)


def log(a):
    """Elementwise natural logarithm, correctly rounded."""
    return np.vectorize(lambda x: float(decimal.Decimal(x).ln(_CONTEXT)), otypes=[np.float64])(a)


class Kink(Exception):
    """A sampled case comes too close to a non-differentiable point; resample it."""


def trainable_names(sizes, bn):
    names = []
    for l in range(1, len(sizes)):
        names += [f"layer{l}.weight", f"layer{l}.bias"]
        if bn and l < len(sizes) - 1:
            names += [f"layer{l}.gamma", f"layer{l}.beta"]
    return names


def init_parameters(rng, sizes, bn):
    p = {}
    for l in range(1, len(sizes)):
        fan_in, fan_out = sizes[l - 1], sizes[l]
        p[f"layer{l}.weight"] = rng.standard_normal((fan_out, fan_in)) * np.sqrt(2.0 / fan_in)
        p[f"layer{l}.bias"] = 0.1 * rng.standard_normal(fan_out)
        if bn and l < len(sizes) - 1:
            p[f"layer{l}.gamma"] = 1.0 + 0.1 * rng.standard_normal(fan_out)
            p[f"layer{l}.beta"] = 0.1 * rng.standard_normal(fan_out)
            p[f"layer{l}.running_mean"] = np.zeros(fan_out)
            p[f"layer{l}.running_var"] = np.ones(fan_out)
    return p


def forward(p, x, sizes, bn, training):
    """Returns logits, per-layer caches and the batch statistics {layer: (mean, biased var)}."""
    caches, stats, h = [], {}, x
    for l in range(1, len(sizes)):
        z = matmul(h, p[f"layer{l}.weight"].T) + p[f"layer{l}.bias"]
        cache = {"h_prev": h}
        caches.append(cache)
        if l == len(sizes) - 1:
            return z, caches, stats
        if bn:
            if training:
                n = z.shape[0]
                mu = colsum(z) / n
                var = colsum((z - mu) * (z - mu)) / n
                stats[l] = (mu, var)
            else:
                mu, var = p[f"layer{l}.running_mean"], p[f"layer{l}.running_var"]
            cache["invstd"] = 1.0 / np.sqrt(var + EPS)
            cache["xhat"] = (z - mu) * cache["invstd"]
            s = p[f"layer{l}.gamma"] * cache["xhat"] + p[f"layer{l}.beta"]
        else:
            s = z
        cache["s"] = s
        h = np.maximum(s, 0.0)


def loss_and_grad(logits, y, loss):
    """Mean loss over the batch and its gradient with respect to the logits."""
    n, rows = logits.shape[0], np.arange(logits.shape[0])
    if loss == "cross-entropy":
        shifted = logits - logits.max(axis=1, keepdims=True)
        lse = log(rowsum(exp(shifted)))
        value = float(colsum(lse - shifted[rows, y]) / n)
        d = exp(shifted - lse[:, None])
        d[rows, y] -= 1.0
    elif loss == "svm":
        margins = logits - logits[rows, y][:, None] + 1.0
        margins[rows, y] = 0.0
        value = float(colsum(rowsum(np.maximum(margins, 0.0))) / n)
        d = (margins > 0).astype(np.float64)
        d[rows, y] = -rowsum(d)
    else:
        raise ValueError(loss)
    return value, d / n


def penalty(p, sizes, lam):
    total = 0.0  # not sum(): Python >= 3.12 sums floats with compensation, older versions do not
    for l in range(1, len(sizes)):
        W = p[f"layer{l}.weight"].ravel()
        total += float(colsum(W * W))
    return lam * total


def backward(p, caches, dlogits, sizes, bn, lam):
    """Analytic gradient of the cost with respect to every trainable parameter."""
    g, L = {}, len(sizes) - 1
    dz = dlogits
    for l in range(L, 0, -1):
        c = caches[l - 1]
        if l < L:  # hidden layer: dz holds dH here; back through ReLU (and BN)
            ds = dz * (c["s"] > 0)
            if bn:
                xhat, invstd = c["xhat"], c["invstd"]
                n = ds.shape[0]
                g[f"layer{l}.gamma"] = colsum(ds * xhat)
                g[f"layer{l}.beta"] = colsum(ds)
                dxhat = ds * p[f"layer{l}.gamma"]
                dz = invstd * (dxhat - colsum(dxhat) / n - xhat * (colsum(dxhat * xhat) / n))
                g[f"layer{l}.bias"] = np.zeros_like(p[f"layer{l}.bias"])  # cancels exactly under BN
            else:
                dz = ds
        if f"layer{l}.bias" not in g:
            g[f"layer{l}.bias"] = colsum(dz)
        W = p[f"layer{l}.weight"]
        g[f"layer{l}.weight"] = matmul(dz.T, c["h_prev"]) + 2.0 * lam * W
        dz = matmul(dz, W)
    return {name: g[name] for name in trainable_names(sizes, bn)}


def evaluate(p, x, y, cfg, check_kinks=True):
    sizes, bn, loss, lam = cfg["sizes"], cfg["batch_norm"], cfg["loss"], cfg["lambda"]
    logits, caches, stats = forward(p, x, sizes, bn, training=True)
    value, dlogits = loss_and_grad(logits, y, loss)
    if check_kinks:
        if any(np.min(np.abs(c["s"])) < KINK for c in caches[:-1]):
            raise Kink("ReLU input")
        top2 = np.sort(logits, axis=1)[:, -2:]
        if np.min(top2[:, 1] - top2[:, 0]) < KINK:
            raise Kink("argmax tie")
        if loss == "svm":
            rows = np.arange(len(y))
            margins = logits - logits[rows, y][:, None] + 1.0
            margins[rows, y] = 1.0  # excluded from the sum
            if np.min(np.abs(margins)) < KINK:
                raise Kink("hinge margin")
    return {
        "logits": logits,
        "loss": value,
        "cost": value + penalty(p, sizes, lam),
        "accuracy": float(np.mean(np.argmax(logits, axis=1) == y)),
        "gradients": backward(p, caches, dlogits, sizes, bn, lam),
        "stats": stats,
    }


def check_gradients(p, x, y, cfg, grads, label):
    """Centered finite differences of the cost for every entry of every trainable parameter."""
    q = {k: v.copy() for k, v in p.items()}
    worst = 0.0
    for name, analytic in grads.items():
        numeric, scale = np.zeros_like(analytic), np.zeros_like(analytic)
        for idx in np.ndindex(analytic.shape):
            old = q[name][idx]
            q[name][idx] = old + FD_H
            plus = evaluate(q, x, y, cfg, check_kinks=False)["cost"]
            q[name][idx] = old - FD_H
            minus = evaluate(q, x, y, cfg, check_kinks=False)["cost"]
            q[name][idx] = old
            numeric[idx] = (plus - minus) / (2 * FD_H)
            scale[idx] = max(abs(plus), abs(minus))
        abs_err = np.abs(analytic - numeric)
        rel_err = abs_err / np.maximum(np.maximum(np.abs(analytic), np.abs(numeric)), 1e-300)
        abs_tol = np.maximum(FD_ABS, FD_ROUNDING * np.finfo(np.float64).eps * scale / (2 * FD_H))
        ok = (rel_err < FD_REL) | (abs_err < abs_tol)
        if not ok.all():
            sys.exit(f"gradient check FAILED: {label} {name}: max abs error {abs_err[~ok].max():.3e} "
                     f"(tolerance {abs_tol[~ok].min():.3e}), max rel error {rel_err[~ok].max():.3e}")
        worst = max(worst, float(abs_err.max()))
    return worst


def simulate(p0, batches, cfg):
    """Initial evaluation on batch 1, then STEPS momentum steps on the batches (one per step)."""
    p = {k: v.copy() for k, v in p0.items()}
    names = trainable_names(cfg["sizes"], cfg["batch_norm"])
    v = {name: np.zeros_like(p[name]) for name in names}
    initial, losses, costs, checks = None, [], [], []
    for x, y in batches:
        r = evaluate(p, x, y, cfg)
        initial = r if initial is None else initial
        checks.append(({k: a.copy() for k, a in p.items()}, x, y, r["gradients"]))
        losses.append(r["loss"])
        costs.append(r["cost"])
        for name in names:
            v[name] = RHO * v[name] + ETA * r["gradients"][name]
            p[name] = p[name] - v[name]
        for l, (mu, var) in r["stats"].items():
            p[f"layer{l}.running_mean"] = ALPHA * p[f"layer{l}.running_mean"] + (1 - ALPHA) * mu
            p[f"layer{l}.running_var"] = ALPHA * p[f"layer{l}.running_var"] + (1 - ALPHA) * var
    inference, _, _ = forward(p, batches[0][0], cfg["sizes"], cfg["batch_norm"], training=False)
    steps = {"loss": losses, "cost": costs, "parameters": p, "velocities": v, "inference_logits": inference}
    return initial, steps, checks


def build_case(name, sizes, n, lam, loss, bn, seed):
    cfg = {"sizes": sizes, "batch_norm": bn, "loss": loss, "lambda": lam,
           "eps": EPS, "alpha": ALPHA, "eta": ETA, "rho": RHO}
    rng = np.random.default_rng(seed)
    for _ in range(1000):
        p0 = init_parameters(rng, sizes, bn)
        batches = [(rng.standard_normal((n, sizes[0])), rng.integers(0, sizes[-1], n)) for _ in range(STEPS)]
        try:
            initial, steps, checks = simulate(p0, batches, cfg)
            break
        except Kink:
            continue
    else:
        raise RuntimeError(f"{name}: could not sample a case away from kinks")
    worst = max(check_gradients(p, x, y, cfg, grads, f"{name} step {i + 1}")
                for i, (p, x, y, grads) in enumerate(checks))
    print(f"{name}: gradient check passed at all {STEPS} steps (max abs error {worst:.1e})", file=sys.stderr)
    tensor = lambda a: {"shape": list(np.shape(a)), "data": np.asarray(a, dtype=np.float64).ravel().tolist()}
    tensors = lambda d: {k: tensor(a) for k, a in d.items()}
    return {
        "name": name,
        "config": cfg,
        "x": tensor(batches[0][0]),
        "labels": batches[0][1].tolist(),
        "parameters": tensors(p0),
        "expected": {
            "logits": tensor(initial["logits"]),
            "loss": initial["loss"],
            "cost": initial["cost"],
            "accuracy": initial["accuracy"],
            "gradients": tensors(initial["gradients"]),
        },
        "steps": {
            "batches": [{"x": tensor(x), "labels": y.tolist()} for x, y in batches],
            "loss": steps["loss"],
            "cost": steps["cost"],
            "parameters": tensors(steps["parameters"]),
            "velocities": tensors(steps["velocities"]),
            "inference_logits": tensor(steps["inference_logits"]),
        },
    }


def to_json(obj):
    text = json.dumps(obj, indent=2)
    # Put lists of plain numbers (shapes, data, labels, per-step values) on one line each.
    flat = re.compile(r"\[\s*([-+0-9.eE]+(?:,\s*[-+0-9.eE]+)*)\s*\]")
    return flat.sub(lambda m: "[" + ", ".join(s.strip() for s in m.group(1).split(",")) + "]", text) + "\n"


def write_all(directory):
    cases = [build_case(*spec) for spec in CASES]  # all gradient checks pass before anything is written
    os.makedirs(directory, exist_ok=True)
    for case in cases:
        with open(os.path.join(directory, case["name"] + ".json"), "w") as f:
            f.write(to_json(case))
    return [case["name"] + ".json" for case in cases]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="regenerate into a temp dir and compare")
    parser.add_argument("--out", default=FIXTURES, help="fixture directory (default: %(default)s)")
    args = parser.parse_args()
    if not args.check:
        for f in write_all(args.out):
            print("wrote", os.path.normpath(os.path.join(args.out, f)))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        files, bad = write_all(tmp), []
        for f in files:
            existing = os.path.join(args.out, f)
            fresh = open(os.path.join(tmp, f), "rb").read()
            if not os.path.exists(existing) or open(existing, "rb").read() != fresh:
                bad.append(f)
    extra = sorted(set(n for n in os.listdir(args.out) if n.endswith(".json")) - set(files))
    for f in bad:
        print("DIFFERS or missing:", f)
    for f in extra:
        print("unexpected fixture:", f)
    print("fixtures up to date" if not (bad or extra) else "fixtures out of date; rerun scripts/reference.py")
    return 1 if bad or extra else 0


if __name__ == "__main__":
    sys.exit(main())
