#!/usr/bin/env python3
"""NumPy reference implementation of the DD2424 network family and fixture writer.

Writes one JSON fixture per case to Tests/NeuralNetworkTests/Fixtures/ (format: FORMAT.md there).
Every analytic gradient is checked against centered finite differences before anything is written.

    python3 scripts/reference.py            # (re)generate the fixtures
    python3 scripts/reference.py --check    # regenerate into a temp dir, compare, exit 1 on difference
"""
import argparse
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
        z = h @ p[f"layer{l}.weight"].T + p[f"layer{l}.bias"]
        cache = {"h_prev": h}
        caches.append(cache)
        if l == len(sizes) - 1:
            return z, caches, stats
        if bn:
            if training:
                mu = z.mean(axis=0)
                var = ((z - mu) ** 2).mean(axis=0)
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
        lse = np.log(np.exp(shifted).sum(axis=1))
        value = float(np.mean(lse - shifted[rows, y]))
        d = np.exp(shifted - lse[:, None])
        d[rows, y] -= 1.0
    elif loss == "svm":
        margins = logits - logits[rows, y][:, None] + 1.0
        margins[rows, y] = 0.0
        value = float(np.maximum(margins, 0.0).sum(axis=1).mean())
        d = (margins > 0).astype(np.float64)
        d[rows, y] = -d.sum(axis=1)
    else:
        raise ValueError(loss)
    return value, d / n


def penalty(p, sizes, lam):
    return lam * sum(float(np.sum(p[f"layer{l}.weight"] ** 2)) for l in range(1, len(sizes)))


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
                g[f"layer{l}.gamma"] = (ds * xhat).sum(axis=0)
                g[f"layer{l}.beta"] = ds.sum(axis=0)
                dxhat = ds * p[f"layer{l}.gamma"]
                dz = invstd * (dxhat - dxhat.mean(axis=0) - xhat * (dxhat * xhat).mean(axis=0))
                g[f"layer{l}.bias"] = np.zeros_like(p[f"layer{l}.bias"])  # cancels exactly under BN
            else:
                dz = ds
        if f"layer{l}.bias" not in g:
            g[f"layer{l}.bias"] = dz.sum(axis=0)
        W = p[f"layer{l}.weight"]
        g[f"layer{l}.weight"] = dz.T @ c["h_prev"] + 2.0 * lam * W
        dz = dz @ W
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
