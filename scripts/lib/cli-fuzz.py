#!/usr/bin/env python3
"""Seeded command-line fuzzer for dptrain (standard library only).

    python3 scripts/lib/cli-fuzz.py DPTRAIN [--cases N] [--seed S] [--jobs J] [--timeout SECONDS]
                                    [--keep-going] [--only SUB,...] [--list] [--mem-limit-mb MB]

Reads the subcommands from `DPTRAIN --help` and each one's flags from `DPTRAIN SUB --help`, then
runs N cases. A case is a cheap valid baseline command of one subcommand (a tiny generated IDX
data set of 8x8 images, 300 training samples, one epoch, at most a few steps) in which 1-3 flags
get hostile values (0, -1, Int.max and Int.max + 1, 2^31, 2^32, 1e308, 1e-320, nan, inf, values
that round out of range in float32, empty strings and list items, 100 KB strings, non-ASCII text,
directories, FIFOs, missing files, ...): a hostile value replaces the baseline's value of the same
flag. Sweeps also get hostile spec files (base options, search ranges, strategy fields, budgets,
broken YAML); `train --resume`, `evaluate --model`, `--init-model`, `--data` and the sweep
directories of `sweep-status`/`top`/`report` also get corrupted files. A few cases use the
default data set (Fashion-MNIST), which is slower to load.

Every case runs in a fresh directory under a temporary root, in its own process group, with
RLIMIT_AS (--mem-limit-mb, default 4096) and no core files. Its outcome must be a documented
exit status (0, 1, 3, 4, 64). A signal or 128+signal (a Swift trap, abort, segfault) is `trap`,
a run longer than --timeout is `timeout` (its process group is killed), any other status (5 and
6 included) is `status N`. One line per failure, in case order:

    FAIL <trap SIG|timeout|status N> <subcommand> <shell-quoted command line>

followed by the last 3 lines of its stderr (and which generated files it read; the case's
directory is kept), then a summary. Exit status 1 when any case failed, 0 otherwise. Without
--keep-going the run stops at the first failure. The cases depend only on --seed (and the
dptrain help text): `--list` prints them without running anything.
"""

import argparse
import concurrent.futures
import gzip
import json
import os
import random
import re
import resource
import shlex
import shutil
import signal
import sqlite3
import struct
import subprocess
import sys
import tempfile
import threading
import time

INT_MAX = "9223372036854775807"
INT_MAX1 = "9223372036854775808"
INT_MIN = "-9223372036854775808"
DOCUMENTED = {0, 1, 3, 4, 64}


# --------------------------------------------------------------------------------------------
# Arguments that are too long to print: rendered as an equivalent shell expansion.


class Huge:
    """A long argument: `unit` repeated `count` times (printed as a $(python3 -c ...))."""

    def __init__(self, unit, count, prefix=""):
        self.unit, self.count, self.prefix = unit, count, prefix

    def value(self, subst):
        return subst(self.prefix) + self.unit * self.count

    def shell(self, subst):
        code = "import sys; sys.stdout.write(%r * %d)" % (self.unit, self.count)
        return '"%s$(python3 -c %s)"' % (subst(self.prefix).replace('"', '\\"'), shlex.quote(code))


def token_value(t, subst):
    return t.value(subst) if isinstance(t, Huge) else subst(t)


def token_shell(t, subst):
    return t.shell(subst) if isinstance(t, Huge) else shlex.quote(subst(t))


# --------------------------------------------------------------------------------------------
# The help text: subcommands, flags, positionals.


def run_help(binary, *args):
    p = subprocess.run([binary, *args, "--help"], capture_output=True, text=True, timeout=30)
    if p.returncode != 0:
        sys.exit("cli-fuzz: %s %s --help exited %d: %s" % (binary, " ".join(args), p.returncode, p.stderr.strip()))
    return p.stdout


def parse_subcommands(text):
    subs, section = [], None
    for line in text.splitlines():
        if re.match(r"^[A-Z][A-Z ]*:$", line):
            section = line[:-1]
            continue
        m = re.match(r"^  ([a-z][\w-]*)(?: \(default\))?(?:\s|$)", line)
        if section == "SUBCOMMANDS" and m and m.group(1) != "help":
            subs.append(m.group(1))
    return subs


def parse_flags(text):
    """{flag: {"metavar": str or None, "values": [...] or None}} and the positionals' metavars."""
    flags, positionals, current, section = {}, [], None, None
    for line in text.splitlines():
        if re.match(r"^[A-Z][A-Z ]*:$", line):
            section, current = line[:-1], None
            continue
        m = re.match(r"^  (-{1,2}[A-Za-z0-9][\w-]*)(?: <([^>]*)>)?(?:\s|$)", line)
        if m:
            name = m.group(1)
            current = None
            if name in ("--help", "-h", "--version"):
                continue
            current = flags[name] = {"metavar": m.group(2), "values": None, "text": line[len(m.group(0)):]}
            continue
        m = re.match(r"^  <([^>]+)>", line)
        if m and section == "ARGUMENTS":
            positionals.append(m.group(1))
            current = None
            continue
        if current is not None and line.startswith("   "):
            current["text"] += " " + line.strip()
    for info in flags.values():
        m = re.search(r"\(values: ([^;)]+)", info["text"])
        if m:
            info["values"] = [v.strip() for v in m.group(1).split(",")]
        elif info["metavar"] and "|" in info["metavar"]:
            info["values"] = [v for v in info["metavar"].split("|") if v.islower() or v.isdigit()]
    return flags, positionals


# --------------------------------------------------------------------------------------------
# Hostile values. "{T}" is the case's directory, "{S}" the shared directory of templates.

NUMBERS = ["0", "-1", INT_MAX, INT_MAX1, INT_MIN, "-9223372036854775809", "2147483648", "2147483647",
           "4294967296", "4294967295", "1e308", "1e-320", "nan", "inf", "-inf", "-0", "1.5", "0x10", "+5",
           " 3", "3 ", "1_000", "1e3"]
FLOATS = ["0", "-0", "-1", "1e308", "-1e308", "1e-320", "4.9e-324", "nan", "-nan", "NaN", "inf", "-inf",
          "Infinity", INT_MAX, INT_MAX1, "2147483648", "4294967296", "3.5e38", "1e39", "1e-46", "1e-45",
          "0.9999999999", "0.99999999", "1", "1.0000001", "0x1p-149", "1e", ".", "1,2", "1e-5 "]
FLOAT32_EDGES = {  # values a Double accepts that float32 rounds to the edge or out of the range
    "momentum": ["0.9999999999", "0.99999999", "0.99999997", "1e-46", "-1e-46"],
    "bn-alpha": ["0.9999999999", "0.99999999", "1e-46", "-1e-46"],
    "eta": ["1e-46", "3.5e38", "1e39", "1e-320"],
    "lambda": ["1e-46", "3.5e38", "1e39", "1e-320"],
    "decay": ["1e-46", "3.5e38", "0.9999999999", "1.0000000001"],
}
STRINGS = ["", " ", "ünïcødé ✓ 🙂 日本", "-", "--", "-1e", "%s%n%x", "true", "\\", "\t", "a,b", "null",
           "1 2", "$(id)", "\u202e\u0000x".replace("\u0000", "")]
HIDDEN = ["", ",", ",,", "50,,20", ",8", "8,", "-5", "0", "8,-1", "8,0", INT_MAX, INT_MAX1, "2147483648",
          "4294967296,8", "100000000", "8 ,8", "1e3", "8.5", "nan", "-0", "8;8", " 8", "１２",
          "8," * 200 + "8", INT_MIN]
CYCLICAL = ["1e-5", "1e-5,1e-1,0", "1e-5,1e-1,-1", "1e-1,1e-5", "nan,1", "0,0", "0,0.1", "-1,0.1",
            "1e-5,1e-1," + INT_MAX, "1e-5,1e-1," + INT_MAX1, "1e-5,1e-1,1e308", "1e-5,1e-1,2.5",
            "1e-5,1e-1,nan", ",,", "1e-5,,1", "1e-46,1e-45", "1e-5,1e39", "1,2,3,4", "", ",", "inf,inf",
            "1e-5,inf", "1e-5,1e-1,4294967296", "1e-320,1e-319", "0.1,0.1", "1e-5,1e-1,1"]
INITS = ["gaussian:", "gaussian:nan", "gaussian:-1", "gaussian:0", "gaussian:1e308", "gaussian:1e-320",
         "gaussian:1e-46", "gaussian:inf", "gaussian:1e39", "GAUSSIAN:1", "he ", "Xavier", "gaussian",
         "gaussian:1:2", "gaussian: 1", ":", "uniform"]
VALIDATIONS = ["0", "-1", "299", "300", "301", "1", INT_MAX, INT_MAX1, "2147483648", "batch2", "BATCH2",
               "batch3", "", "1e2", "nan", "100.0"]
STEPS = ["0", "-1", INT_MAX, INT_MAX1, "2147483648", "epoch", "never", "EPOCH", "epochs", "", "1", "1.5",
         "nan", "never,epoch"]
SEEDS = ["0", "-1", "18446744073709551615", "18446744073709551616", INT_MAX, INT_MAX1, "1e3", "nan", ""]
INT_NAMES = {"epochs", "cycles", "max-steps", "eval-every", "batch-size", "blas-threads", "train-limit",
             "samples", "dims", "k", "ranks-per-trial", "synthetic"}
FLOAT_NAMES = {"eta", "decay", "momentum", "lambda", "bn-alpha", "h", "eps", "tolerance", "stall-timeout"}
IN_PATHS = ["", "{T}/nonexistent/x", "{T}", "{T}/fifo", "/dev/null", "/dev/zero", "{T}/file.txt",
            "{T}/file.txt/sub", "{T}/" + "x" * 300, "{T}/loop", "{T}/dangling", "{T}/ünï 🙂", "/",
            "/proc/self/status", "{T}/empty"]
OUT_PATHS = ["", "{T}/nonexistent/deeper/x", "{T}", "{T}/fifo", "/dev/null", "/dev/full", "{T}/file.txt",
             "{T}/file.txt/sub", "{T}/" + "x" * 300, "{T}/loop", "{T}/dangling", "{T}/ünï 🙂 out",
             "{T}/" + "d/" * 2100 + "x", "{T}/emptydir"]
DIR_ARGS = ["", "{T}/nonexistent", "{T}/emptydir", "{T}/file.txt", "{T}/fifo", "/dev/null", "{T}/loop",
            "{T}/dangling", "{T}/" + "x" * 300, "{T}/run", "{T}/ünï 🙂"]


def pick(rng, pool):
    return rng.choice(pool)


def huge(rng, prefix=""):
    """About 100 KB (one argument may not exceed 128 KiB)."""
    unit = rng.choice(["A", "é", "9", ",", "8,"])
    return Huge(unit, rng.choice([100000, 50000]) // len(unit.encode()), prefix)


def hostile_value(rng, sub, flag, info, case):
    """A hostile value for `flag` (a token) of subcommand `sub`; may add files to `case`."""
    name = flag.lstrip("-")
    r = rng.random()
    if r < 0.08:
        return huge(rng)
    if r < 0.16:
        return pick(rng, STRINGS)
    if name == "hidden":
        return pick(rng, HIDDEN)
    if name == "cyclical":
        return pick(rng, CYCLICAL)
    if name == "init":
        return pick(rng, INITS)
    if name == "validation":
        return pick(rng, VALIDATIONS)
    if name in ("check-every", "checkpoint-every"):
        return pick(rng, STEPS)
    if name == "seed":
        return pick(rng, SEEDS)
    if name == "data":
        return hostile_data(rng, case)
    if name in ("out", "csv"):
        return pick(rng, OUT_PATHS)
    if name in ("model", "init-model"):
        return hostile_model(rng, case, "init" if name == "init-model" else "model")
    if name == "resume":
        return hostile_resume(rng, case)
    if name in FLOAT32_EDGES and rng.random() < 0.4:
        return pick(rng, FLOAT32_EDGES[name])
    if name in FLOAT_NAMES:
        return pick(rng, FLOATS)
    if name in INT_NAMES:
        return pick(rng, NUMBERS)
    if info and info.get("values"):
        vals = info["values"]
        return pick(rng, ["", " ", vals[0].upper(), vals[0] + " ", vals[0] + "," + vals[-1], "none", "1",
                          rng.choice(vals)])
    return pick(rng, NUMBERS + STRINGS)


# --------------------------------------------------------------------------------------------
# Generated files. A case lists (kind, dest, params); they are made just before it runs.

SIMPLE_FILES = {"{T}/fifo": ("fifo",), "{T}/file.txt": ("text",), "{T}/loop": ("loop",),
                "{T}/dangling": ("dangling",), "{T}/emptydir": ("dir",), "{T}/empty": ("empty",)}


def hostile_data(rng, case):
    r = rng.random()
    if r < 0.3:
        return rng.choice(["idx:", "mnist:", "cifar10:", "fashion-mnist:", "", "idx", "svhn:{T}", "IDX:{S}/idx",
                           "idx:{S}/idx:x", "cifar10:{S}/idx", "mnist:{S}/idx/", "idx:" + INT_MAX])
    if r < 0.5:
        return rng.choice(["idx:", "mnist:", "cifar10:"]) + pick(rng, IN_PATHS)
    if r < 0.85:
        kind = rng.choice(IDX_MUTATIONS)
        case["files"].append(("idx", "{T}/hidx", kind))
        case["notes"].append("hidx: IDX files %s" % kind)
        return "idx:{T}/hidx"
    kind = rng.choice(CIFAR_MUTATIONS)
    case["files"].append(("cifar", "{T}/hcifar", kind))
    case["notes"].append("hcifar: CIFAR-10 files %s" % kind)
    return "cifar10:{T}/hcifar"


IDX_MUTATIONS = ["n0", "rows0", "huge-header", "count-mismatch", "label-10", "label-255", "truncated",
                 "trailing", "bad-magic", "corrupt-gz", "one-sample", "1x1", "no-test", "gz-valid",
                 "two-gz-members", "wide-1x4096", "labels-dims2", "header-only"]
CIFAR_MUTATIONS = ["valid", "empty-batch", "partial-record", "label-255", "missing-test", "nested"]


def write_idx(d, prefix, n, rows, cols, rng, label_max=10, magic=0x803, gz=False, label_n=None,
              extra=b"", truncate=0):
    os.makedirs(d, exist_ok=True)
    images = struct.pack(">IIII", magic, n, rows, cols) + bytes(rng.randrange(256) for _ in range(max(0, min(n * rows * cols, 1 << 20))))
    labels = struct.pack(">II", 0x801, n if label_n is None else label_n) + bytes(rng.randrange(label_max) for _ in range(n if label_n is None else label_n))
    images = images[: len(images) - truncate] + extra
    suffix = ".gz" if gz else ""
    op = (lambda p, b: open(p, "wb").write(gzip.compress(b, mtime=0))) if gz else (lambda p, b: open(p, "wb").write(b))
    op(os.path.join(d, prefix + "-images-idx3-ubyte" + suffix), images)
    op(os.path.join(d, prefix + "-labels-idx1-ubyte" + suffix), labels)


def make_idx(d, kind, rng):
    t = dict(n=600, rows=8, cols=8)
    write_test = True
    if kind == "n0":
        write_idx(d, "train", 0, 8, 8, rng)
    elif kind == "rows0":
        write_idx(d, "train", 600, 0, 8, rng)
    elif kind == "huge-header":
        write_idx(d, "train", 65535, 65535, 65535, rng)
    elif kind == "count-mismatch":
        write_idx(d, "train", 600, 8, 8, rng, label_n=599)
    elif kind == "label-10":
        write_idx(d, "train", 600, 8, 8, rng, label_max=11)
    elif kind == "label-255":
        write_idx(d, "train", 600, 8, 8, rng, label_max=256)
    elif kind == "truncated":
        write_idx(d, "train", 600, 8, 8, rng, truncate=5)
    elif kind == "trailing":
        write_idx(d, "train", 600, 8, 8, rng, extra=b"\0\0\0")
    elif kind == "bad-magic":
        write_idx(d, "train", 600, 8, 8, rng, magic=0x80D)
    elif kind == "corrupt-gz":
        write_idx(d, "train", 600, 8, 8, rng, gz=True)
        p = os.path.join(d, "train-images-idx3-ubyte.gz")
        b = bytearray(open(p, "rb").read())
        for i in range(20, len(b), 97):
            b[i] ^= 0x5A
        open(p, "wb").write(bytes(b))
    elif kind == "one-sample":
        write_idx(d, "train", 1, 8, 8, rng)
    elif kind == "1x1":
        write_idx(d, "train", 600, 1, 1, rng)
        write_idx(d, "t10k", 50, 1, 1, rng)
        write_test = False
    elif kind == "no-test":
        write_idx(d, "train", 600, 8, 8, rng)
        write_test = False
    elif kind == "gz-valid":
        write_idx(d, "train", 600, 8, 8, rng, gz=True)
    elif kind == "two-gz-members":
        write_idx(d, "train", 600, 8, 8, rng)
        p = os.path.join(d, "train-images-idx3-ubyte")
        b = open(p, "rb").read()
        open(p + ".gz", "wb").write(gzip.compress(b[:100], mtime=0) + gzip.compress(b[100:], mtime=0))
        os.remove(p)
    elif kind == "wide-1x4096":
        write_idx(d, "train", 400, 1, 4096, rng)
        write_idx(d, "t10k", 20, 1, 4096, rng)
        write_test = False
    elif kind == "labels-dims2":
        write_idx(d, "train", 600, 8, 8, rng)
        p = os.path.join(d, "train-labels-idx1-ubyte")
        open(p, "wb").write(struct.pack(">IIII", 0x802, 600, 1, 1) + bytes(600))
    elif kind == "header-only":
        os.makedirs(d, exist_ok=True)
        open(os.path.join(d, "train-images-idx3-ubyte"), "wb").write(struct.pack(">III", 0x803, 600, 8))
        open(os.path.join(d, "train-labels-idx1-ubyte"), "wb").write(struct.pack(">I", 0x801))
    if write_test:
        write_idx(d, "t10k", 200, t["rows"] if kind != "rows0" else 0, t["cols"], rng)


def make_cifar(d, kind, rng):
    base = os.path.join(d, "cifar-10-batches-bin") if kind == "nested" else d
    os.makedirs(base, exist_ok=True)
    names = ["data_batch_%d.bin" % i for i in range(1, 6)] + ["test_batch.bin"]
    for i, name in enumerate(names):
        if kind == "missing-test" and name == "test_batch.bin":
            continue
        records = 40
        body = b"".join(bytes([rng.randrange(10)]) + bytes(rng.randrange(256) for _ in range(3072)) for _ in range(records))
        if kind == "empty-batch" and i == 2:
            body = b""
        if kind == "partial-record" and i == 0:
            body = body[:-100]
        if kind == "label-255" and i == 1:
            body = b"\xff" + body[1:]
        open(os.path.join(base, name), "wb").write(body)


MODEL_MUTATIONS = ["empty", "4-bytes", "len-huge", "len-2^64-1", "len-beyond", "len-zero", "not-json",
                   "json-array", "missing-tensor", "shape-zero", "shape-negative", "shape-overflow",
                   "shape-wrong", "dtype-f16", "dtype-i64", "offsets-reversed", "offsets-beyond",
                   "offsets-huge", "truncated-data", "trailing", "nan-weights", "meta-eps-nan",
                   "meta-loss", "meta-missing", "784-model", "bn-model", "checkpoint-as-model",
                   "extra-layer", "dtype-f64-mismatch", "header-non-utf8"]


def mutate_safetensors(src, dst, kind, shared):
    b = open(src, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    header = json.loads(b[8:8 + n])
    data = b[8 + n:]
    tensors = sorted(k for k in header if k != "__metadata__")
    first = tensors[0]
    raw = None
    if kind == "empty":
        raw = b""
    elif kind == "4-bytes":
        raw = b[:4]
    elif kind == "len-huge":
        raw = struct.pack("<Q", 1 << 62) + b[8:]
    elif kind == "len-2^64-1":
        raw = struct.pack("<Q", (1 << 64) - 1) + b[8:]
    elif kind == "len-beyond":
        raw = struct.pack("<Q", len(b) + 10) + b[8:]
    elif kind == "len-zero":
        raw = struct.pack("<Q", 0) + b[8:]
    elif kind == "not-json":
        h = b"{not json" + b" " * (n - 9)
        raw = b[:8] + h + data
    elif kind == "json-array":
        h = b"[1,2,3]" + b" " * (n - 7)
        raw = b[:8] + h + data
    elif kind == "header-non-utf8":
        h = b'{"\xff\xfe": 1}' + b" " * (n - 11)
        raw = b[:8] + h + data
    elif kind == "missing-tensor":
        del header[[t for t in tensors if t.endswith("weight")][0]]
    elif kind == "shape-zero":
        header[first]["shape"] = [0] * len(header[first]["shape"])
    elif kind == "shape-negative":
        header[first]["shape"] = [-1] + header[first]["shape"][1:]
    elif kind == "shape-overflow":
        header[first]["shape"] = [1 << 62, 1 << 62][: max(1, len(header[first]["shape"]))] + [4] * (len(header[first]["shape"]) - 2)
    elif kind == "shape-wrong":
        header[first]["shape"] = [s + 1 for s in header[first]["shape"]]
    elif kind == "dtype-f16":
        header[first]["dtype"] = "F16"
    elif kind == "dtype-i64":
        header[first]["dtype"] = "I64"
    elif kind == "dtype-f64-mismatch":
        header[first]["dtype"] = "F64"
    elif kind == "offsets-reversed":
        a, z = header[first]["data_offsets"]
        header[first]["data_offsets"] = [z, a]
    elif kind == "offsets-beyond":
        a, z = header[first]["data_offsets"]
        header[first]["data_offsets"] = [a, len(data) + 4096]
    elif kind == "offsets-huge":
        header[first]["data_offsets"] = [(1 << 63) - 8, (1 << 63) - 1]
    elif kind == "truncated-data":
        raw = b[:-10]
    elif kind == "trailing":
        raw = b + b"\0" * 16
    elif kind == "nan-weights":
        raw = b[:8 + n] + b"\xff" * len(data)
    elif kind == "meta-eps-nan":
        header.setdefault("__metadata__", {})["batch_norm_epsilon"] = "nan"
    elif kind == "meta-loss":
        header.setdefault("__metadata__", {})["loss"] = "hinge²"
    elif kind == "meta-missing":
        header.pop("__metadata__", None)
    elif kind == "extra-layer":
        header["layer9.weight"] = dict(header[first])
    if raw is None:
        h = json.dumps(header, separators=(",", ":")).encode()
        h += b" " * ((8 - len(h) % 8) % 8)
        raw = struct.pack("<Q", len(h)) + h + data
    open(dst, "wb").write(raw)


def hostile_model(rng, case, role):
    if rng.random() < 0.35:
        return pick(rng, IN_PATHS)
    kind = rng.choice(MODEL_MUTATIONS)
    if kind == "784-model":
        return "{S}/run784/model.safetensors"
    if kind == "bn-model":
        return "{S}/runbn/model.safetensors"
    if kind == "checkpoint-as-model":
        return "{S}/run64/checkpoint.safetensors"
    case["files"].append(("model", "{T}/%s.safetensors" % role, kind))
    case["notes"].append("%s.safetensors: the 64-8-10 model with %s" % (role, kind))
    return "{T}/%s.safetensors" % role


CONFIG_KEYS = {
    "epochs": ["0", "-1", INT_MAX, INT_MAX1, "1e308", '"1"', "null", "1.5"],
    "cycles": ["0", "-1", INT_MAX, "1"],
    "maxSteps": ["0", "-1", INT_MAX, INT_MAX1],
    "evalEvery": ["0", "-1", INT_MAX, "1"],
    "batchSize": ["0", "-1", INT_MAX, "2147483648", "1e308"],
    "momentum": ["1", "-1", "1e308", "0.9999999999", '"nan"', "1e-320"],
    "lambda": ["-1", "1e308", "1e-320", "1e39"],
    "bnAlpha": ["1", "-1", "1e308", "0.9999999999"],
    "seed": ["-1", "18446744073709551616", "1e308"],
    "trainLimit": ["0", "-1", INT_MAX, "1"],
    "validation": ["0", "-1", INT_MAX, '"batch2"', '"x"', "300"],
    "blasThreads": ["0", "-1", INT_MAX, "2147483648"],
    "ranks": ["0", "-1", INT_MAX, "2"],
    "schedule": ['{"cyclical": [0, 0, 0]}', '{"cyclical": [1e-5, 0.1, -1]}', '{"cyclical": [1e-5, 0.1, 1e308]}',
                 '{"cyclical": [1e-5]}', '{"cyclical": []}', '{"eta": -1}', '{"eta": 1e308, "decay": 1e308}',
                 '{"decay": 0.9}', "{}", '"x"', '{"cyclical": [1e-5, 0.1, 9.3e18]}', '{"eta": 1e-46}'],
    "architecture.hidden": ["[0]", "[-1]", "[%s]" % INT_MAX, "[]", "[8, 8]", "[9]", '"8"', "[2147483648]"],
    "architecture.inputSize": ["0", "-1", "65", INT_MAX, "784"],
    "architecture.classes": ["0", "1", "11", "-1", INT_MAX],
    "architecture.batchNormEpsilon": ["0", "-1", "1e308", "1e-320"],
    "architecture.batchNorm": ["true", '"yes"'],
    "architecture.loss": ['"x"', '"svm"', '""'],
    "architecture": ["null", "{}", "[]"],
    "init": ['"gaussian:-1"', '"gaussian:1e308"', '"gaussian:"', '"x"'],
    "precision": ['"half"', '"double"', "1"],
    "checkpointEvery": ["0", "-1", '"x"', INT_MAX],
    "checkEvery": ["0", "-1", '"x"', INT_MAX],
    "data": ['"idx:/nonexistent"', '"cifar10:{S}/idx"', '""', '"fashion-mnist"', "1"],
    "gemm": ['"x"', '"openblas"', "null"],
    "gemmKernel": ['{"backend": "x", "kernel": "y", "library": "z"}', "[]"],
    "version": ['""', '"99.0.0"', "1"],
    "shuffle": ['"yes"', "false"],
    "initModel": ['"/nonexistent"', '"{S}/run784/model.safetensors"'],
    "update": ['"x"', '"replicated"'],
    "bnSync": ['"x"', '"local"'],
    "whole": ["", "{", "[]", "null", '{"initialization": {"he": {}}}', '{"initialization": 5}'],
}
CHECKPOINT_MUTATIONS = ["step--1", "step-huge", "step-x", "step-beyond", "ranks-0", "ranks-huge", "local-samples-x",
                        "metrics-garbage", "metrics-huge-epoch", "parameters-short", "velocity-missing",
                        "state-huge", "format", "empty", "truncated", "len-huge", "nan-parameters"]


def hostile_resume(rng, case):
    r = rng.random()
    if r < 0.25:
        return pick(rng, DIR_ARGS)
    template = rng.choice(["run64", "run64", "runbn"])
    case["files"].append(("copy", "{T}/rc", template))
    if r < 0.7:
        key = rng.choice(sorted(CONFIG_KEYS))
        value = rng.choice(CONFIG_KEYS[key])
        case["files"].append(("config", "{T}/rc/config.json", (key, value)))
        case["notes"].append("rc: a copy of %s (a finished run with a checkpoint), config.json %s = %s"
                             % (template, key, value or "(empty file)"))
    else:
        kind = rng.choice(CHECKPOINT_MUTATIONS)
        case["files"].append(("checkpoint", "{T}/rc/checkpoint.safetensors", kind))
        case["notes"].append("rc: a copy of %s, checkpoint.safetensors %s" % (template, kind))
    return "{T}/rc"


def mutate_config(path, key, value, shared):
    value = value.replace("{S}", shared)
    if key == "whole":
        open(path, "w").write(value)
        return
    text = open(path).read()
    cfg = json.loads(text)
    parts = key.split(".")
    target = cfg
    for p in parts[:-1]:
        target = target.setdefault(p, {})
    target[parts[-1]] = "@@HOSTILE@@"
    out = json.dumps(cfg, indent=2).replace('"@@HOSTILE@@"', value)
    open(path, "w").write(out)


def mutate_checkpoint(path, kind):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    header = json.loads(b[8:8 + n])
    data = b[8 + n:]
    meta = header.setdefault("__metadata__", {})
    raw = None
    if kind == "step--1":
        meta["step"] = "-1"
    elif kind == "step-huge":
        meta["step"] = INT_MAX
    elif kind == "step-x":
        meta["step"] = "x"
    elif kind == "step-beyond":
        meta["step"] = "1000000"
    elif kind == "ranks-0":
        meta["ranks"] = "0"
    elif kind == "ranks-huge":
        meta["ranks"] = INT_MAX
    elif kind == "local-samples-x":
        meta["local_samples"] = "-5"
    elif kind == "metrics-garbage":
        meta["metrics"] = "[{"
    elif kind == "metrics-huge-epoch":
        meta["metrics"] = json.dumps([{"values": ["1e308", INT_MAX1, "nan", "x"]}])
    elif kind == "parameters-short":
        header["parameters"]["shape"] = [header["parameters"]["shape"][0] - 1]
    elif kind == "velocity-missing":
        header.pop("velocity", None)
    elif kind == "state-huge":
        for k in header:
            if k.startswith("state."):
                header[k]["shape"] = [1 << 61]
    elif kind == "format":
        meta["format"] = "dptrain"
    elif kind == "empty":
        raw = b""
    elif kind == "truncated":
        raw = b[: len(b) // 2]
    elif kind == "len-huge":
        raw = struct.pack("<Q", 1 << 62) + b[8:]
    elif kind == "nan-parameters":
        raw = b[:8 + n] + b"\xff" * len(data)
    if raw is None:
        h = json.dumps(header, separators=(",", ":")).encode()
        h += b" " * ((8 - len(h) % 8) % 8)
        raw = struct.pack("<Q", len(h)) + h + data
    open(path, "wb").write(raw)


DB_VALUES = [None, -1, 0, 9223372036854775807, -9223372036854775808, 1e308, float("inf"), float("-inf"), "", "x",
             "{}", "[]", "{\"a\":", "null", b"\xff\xfe", "ünï", 2.5, "9" * 40]
DB_JSON = {
    ("sweep", "spec_json"): ['{}', '{"strategy": {"random": {"trials": -1}}}', '{"base": 5}', "null"],
    ("round", "plan_json"): ['{"configurations": [], "index": 0, "label": "x"}', '{"configurations": [{"key": -1}]}',
                             '{"configurations": [{"key": 0, "parameters": {"eta": "x"}}], "index": 99}'],
    ("trial", "parameters_json"): ['{"eta": "x"}', '{"hidden": [-1]}', "{}", '{"eta": 1e999}', "[1]"],
    ("trial", "arguments_json"): ['["--epochs", "-1"]', "[]", '[1, 2]', '["' + "x" * 1000 + '"]'],
    ("trial", "last_json"): ['{"epoch": "x"}', "{}", '{"step": -1}'],
    ("trial", "ranks"): ["-1", "0,0,0", "x", "9" * 30, ""],
    ("trial", "status"): ["queued", "running", "diverged", "failed"],
    ("sweep", "status"): ["running", "interrupted", "x", ""],
}
DB_MUTATIONS = ["value", "value", "json", "json", "delete-rows", "drop-table", "garbage-file", "empty-file",
                "truncated-file", "not-sqlite-wal"]


def mutate_db(path, kind, rng_seed):
    rng = random.Random(rng_seed)
    if kind == "garbage-file":
        open(path, "wb").write(b"SQLite format 3\0" + bytes(rng.randrange(256) for _ in range(4096)))
        return
    if kind == "empty-file":
        open(path, "wb").close()
        return
    if kind == "truncated-file":
        b = open(path, "rb").read()
        open(path, "wb").write(b[: len(b) // 3])
        return
    if kind == "not-sqlite-wal":
        open(path + "-wal", "wb").write(b"garbage" * 100)
        return
    c = sqlite3.connect(path)
    c.execute("PRAGMA ignore_check_constraints = ON")
    c.execute("PRAGMA foreign_keys = OFF")
    tables = [r[0] for r in c.execute("select name from sqlite_master where type='table' and name != 'grdb_migrations'")]
    try:
        if kind == "value":
            t = rng.choice(tables)
            cols = [r[1] for r in c.execute("PRAGMA table_info(%s)" % t)]
            col = rng.choice(cols)
            v = rng.choice(DB_VALUES)
            c.execute("UPDATE %s SET %s = ?" % (t, col), (v,))
        elif kind == "json":
            (t, col) = rng.choice(sorted(DB_JSON))
            c.execute("UPDATE %s SET %s = ?" % (t, col), (rng.choice(DB_JSON[(t, col)]),))
        elif kind == "delete-rows":
            c.execute("DELETE FROM %s" % rng.choice(tables))
        elif kind == "drop-table":
            c.execute("DROP TABLE %s" % rng.choice(tables))
        c.commit()
    except sqlite3.Error as e:  # a constraint (NOT NULL, UNIQUE): the database stays valid
        c.rollback()
    c.close()


# --------------------------------------------------------------------------------------------
# Sweep specs: nested dicts whose leaves are YAML fragments (str).


def yq(s):
    return json.dumps(s, ensure_ascii=False)


def emit_yaml(d, indent=0):
    out = []
    for k, v in d.items():
        if isinstance(v, dict):
            if not v:
                out.append(" " * indent + "%s: {}" % k)
            else:
                out.append(" " * indent + "%s:" % k)
                out.extend(emit_yaml(v, indent + 2))
        else:
            out.append(" " * indent + "%s: %s" % (k, v))
    return out


def base_spec(rng):
    spec = {
        "seed": "1",
        "metric": "val_accuracy",
        "base": {"data": '"idx:{S}/idx"', "hidden": '"8"', "train-limit": "300", "validation": "100",
                 "epochs": "1", "max-steps": "6", "blas-threads": "1"},
        "search": {"eta": "{ log_uniform: [1.0e-4, 1.0e-1] }", "lambda": "{ log_uniform: [1.0e-6, 1.0e-1] }"},
    }
    kind = rng.choice(["random", "random", "grid", "coarse-to-fine", "successive-halving", "asha"])
    if kind == "random":
        spec["strategy"] = {"kind": "random", "trials": "2"}
    elif kind == "grid":
        spec["search"] = {"eta": "{ grid: [0.01, 0.1] }", "batch-size": "{ choice: [50, 100] }"}
        spec["strategy"] = "grid"
    elif kind == "coarse-to-fine":
        spec["strategy"] = {"kind": "coarse-to-fine", "stages": "2", "trials": "2", "top_k": "1", "margin": "0.1"}
    else:
        spec["strategy"] = {"kind": kind, "trials": "3", "min_budget": "1", "max_budget": "3", "reduction": "3",
                            "unit": "epochs"}
        if rng.random() < 0.3:
            spec["strategy"]["unit"] = "cycles"
            spec["base"]["cyclical"] = '"1e-4,1e-1,3"'
            del spec["base"]["epochs"]
            del spec["search"]["eta"]
            spec["search"]["eta-max"] = "{ log_uniform: [1.0e-2, 1.0e-1] }"
    if rng.random() < 0.2:
        spec["search"]["hidden"] = '{ choice: ["8", "4,4"] }' if kind != "grid" else '{ grid: ["8"] }'
        del spec["base"]["hidden"]
    if rng.random() < 0.15:
        spec["final"] = {"validation": "100", "epochs": "1"}
    return spec


SPEC_NUMBERS = ["0", "-1", "1", INT_MAX, INT_MAX1, INT_MIN, "2147483648", "4294967296", "1e308", "-1e308",
                "1e-320", ".nan", "nan", ".inf", "-.inf", "1.5", '""', "~", "[]", "{}", '"x"', "true", "0x10",
                "1e3", '"1"', "18446744073709551616"]
RANGE_ENDS = ["0", "-1", "1e-320", "4.9e-324", "1e308", ".nan", "nan", ".inf", "-.inf", "1e-46", "3.5e38", "1",
              INT_MAX, INT_MAX1, '"a"', "~", "[]", "0.1", "1e-5", "-0.0"]
SEARCH_NAMES = ["eta", "lambda", "momentum", "batch-size", "hidden", "eta-min", "eta-max", "n-s", "bn-alpha",
                "decay", "epochs", "cycles", "max-steps", "seed", "init", "batch-norm", "train-limit",
                "validation", "data", "out", "resume", "blas-threads", "no-such-option", "", "ünï",
                "cyclical", "eval-every", "checkpoint-every", "loss", "precision", "gemm", "quiet", "eta_min"]


def hostile_domain(rng):
    r = rng.random()
    if r < 0.45:
        dom = rng.choice(["log_uniform", "uniform"])
        lo, hi = rng.choice(RANGE_ENDS), rng.choice(RANGE_ENDS)
        return "{ %s: [%s, %s] }" % (dom, lo, hi)
    if r < 0.6:
        lo, hi = rng.choice([(INT_MIN, INT_MAX), ("0", INT_MAX), ("-1", "1"), (INT_MAX, INT_MAX),
                             ("2147483648", "4294967296"), ("1.5", "2"), ("5", "1"), ("0", "0"), (INT_MAX1, INT_MAX1),
                             ("-9223372036854775807", INT_MAX), ("1", "1e308"), ("1", ".nan")])
        return "{ int_uniform: [%s, %s] }" % (lo, hi)
    if r < 0.8:
        dom = rng.choice(["grid", "choice"])
        vals = rng.choice(["[]", "[~]", "[[]]", "[{}]", '[1, "a", true, [1, 2]]', "[.nan, .inf]", "[-1, 0]",
                           "[%s]" % INT_MAX, '["", ","]', "[1e-320, 1e308]", "[0.9999999999]", "[1e-46]",
                           "[%s]" % ", ".join(str(i + 1) for i in range(rng.choice([300, 2000]))),
                           '["50,,20"]', "[[8, -1]]", "[[%s]]" % INT_MAX, '["8"]', "5", '"x"'])
        return "{ %s: %s }" % (dom, vals)
    return rng.choice(["{}", "~", "5", '"log_uniform"', "[1, 2]", "{ log_uniform: [1e-3, 1e-1], grid: [1] }",
                       "{ normal: [0, 1] }", "{ log_uniform: 5 }", "{ log_uniform: [1e-3] }",
                       "{ log_uniform: [1e-3, 1e-2, 1e-1] }", "{ uniform: {low: 0, high: 1} }"])


def mutate_spec(rng, spec, case):
    """One hostile change to `spec`; returns a short description."""
    r = rng.random()
    if r < 0.12:
        key = rng.choice(["seed", "repeats", "metric"])
        if key == "metric":
            v = rng.choice(['""', '"val_acc"', '"test_accuracy"', "5", "~", "[val_loss]", '"VAL_LOSS"', "val_cost"])
        elif key == "repeats" and rng.random() < 0.3:
            v = rng.choice(["1000000", "100000000"])
        else:
            v = rng.choice(SPEC_NUMBERS)
        spec[key] = v
        return "%s: %s" % (key, v)
    if r < 0.40:
        base = spec.setdefault("base", {})
        if not isinstance(base, dict):
            return "base"
        name = rng.choice(TRAIN_FLAG_NAMES + ["no-such-option", "train_limit", "--epochs", "", "ünï", "help"])
        if rng.random() < 0.5:
            tok = hostile_value(rng, "train", "--" + name, None, case)
            v = yq(tok.value(lambda s: s) if isinstance(tok, Huge) else tok)
        else:
            v = rng.choice(SPEC_NUMBERS + ["[8, -1]", "[%s]" % INT_MAX, "[]", "[0]", "[[8]]", "{a: 1}"])
        key = name if name else '""'
        base[key] = v
        return "base.%s: %s" % (name, v[:80])
    if r < 0.62:
        search = spec.get("search")
        if not isinstance(search, dict):
            search = spec["search"] = {}
        name = rng.choice(list(search) + SEARCH_NAMES) if rng.random() < 0.5 else rng.choice(SEARCH_NAMES)
        v = hostile_domain(rng)
        search[name if name else '""'] = v
        if isinstance(spec.get("base"), dict) and name in spec["base"] and rng.random() < 0.8:
            del spec["base"][name]
        return "search.%s: %s" % (name, v[:80])
    if r < 0.88:
        strat = spec.get("strategy")
        if not isinstance(strat, dict):
            strat = spec["strategy"] = {"kind": "random", "trials": "2"}
        fields = ["kind", "trials", "trials", "stages", "top_k", "margin", "min_budget", "max_budget",
                  "reduction", "reduction", "unit", "budget-combo", "no_such_field"]
        own = [f for f in fields if f in strat or f in ("kind", "budget-combo")]
        field = rng.choice(own if rng.random() < 0.85 else fields)
        if field == "kind":
            v = rng.choice(['""', "RANDOM", '"asha "', "none", "[random]", "~", "grid", "successive_halving", "asha",
                            "coarse-to-fine", "successive-halving"])
        elif field == "unit":
            v = rng.choice(["cycles", "steps", '""', "~", "EPOCHS", "1"])
        elif field == "budget-combo":
            combo = rng.choice([("1", INT_MAX, "2"), (INT_MAX, INT_MAX, "3"), ("4611686018427387904", INT_MAX, "2"),
                                ("1", "3", INT_MAX), ("0", "0", "1"), ("1", "1", "1"), ("1", "9", "1"),
                                ("3", "1", "3"), ("1", "2147483648", "2"), ("-1", "3", "3"), ("1", "3", "0"),
                                ("1", "3", "-3"), ("1", "1000001", "2")])
            strat.setdefault("kind", "successive-halving")
            if strat["kind"] not in ("successive-halving", "asha"):
                strat.clear()
                strat.update({"kind": rng.choice(["successive-halving", "asha"]), "trials": "3", "unit": "epochs"})
            strat["min_budget"], strat["max_budget"], strat["reduction"] = combo
            return "strategy budgets min %s max %s reduction %s" % combo
        elif field == "margin":
            v = rng.choice(SPEC_NUMBERS)
        elif field == "trials" and rng.random() < 0.25:
            v = rng.choice(["100000000", "1000000", INT_MAX])
        else:
            v = rng.choice(SPEC_NUMBERS)
        strat[field] = v
        return "strategy.%s: %s" % (field, v)
    v = rng.choice(["~", "{}", "[]", '"x"', {"validation": rng.choice(SPEC_NUMBERS)},
                    {"epochs": rng.choice(SPEC_NUMBERS)}, {"batch-size": rng.choice(SPEC_NUMBERS)},
                    {"no-such": "1"}, {"hidden": rng.choice(['"50,,20"', "[-1]", "[%s]" % INT_MAX, '""'])},
                    {"train-limit": rng.choice(SPEC_NUMBERS)}, {"max-steps": rng.choice(SPEC_NUMBERS)}])
    spec["final"] = v
    return "final: %s" % (v if isinstance(v, str) else json.dumps(v))


def alias_bomb():
    lines = ['lol0: &l0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for i in range(1, 9):
        lines.append("lol%d: &l%d [%s]" % (i, i, ", ".join(["*l%d" % (i - 1)] * 10)))
    return "\n".join(lines) + "\n"


STRUCTURAL = ["empty", "doc-marker", "null", "list", "number", "string", "invalid-utf8", "bom", "dup-key",
              "deep-list", "deep-map", "alias-bomb", "huge-key", "tabs", "yaml-directive", "binary-tag",
              "json-nan", "recursive-alias", "base-list", "search-list", "unterminated", "nul-byte"]


def structural_spec(rng, kind, valid_text):
    if kind == "empty":
        return b""
    if kind == "doc-marker":
        return b"---\n...\n"
    if kind == "null":
        return b"~\n"
    if kind == "list":
        return b"[]\n"
    if kind == "number":
        return b"42\n"
    if kind == "string":
        return b'"x"\n'
    if kind == "invalid-utf8":
        return valid_text.encode() + b"# \xff\xfe\xc0\x80\n"
    if kind == "bom":
        return "\ufeff".encode() + valid_text.encode()
    if kind == "dup-key":
        return (valid_text + "seed: 2\n").encode()
    if kind == "deep-list":
        return b"seed: 1\nbase: " + b"[" * 100000 + b"]" * 100000 + b"\n"
    if kind == "deep-map":
        return b"x: " + b"{a: " * 50000 + b"1" + b"}" * 50000 + b"\n"
    if kind == "alias-bomb":
        return (alias_bomb() + valid_text).encode()
    if kind == "huge-key":
        return (valid_text + "k" * 100000 + ": 1\n").encode()
    if kind == "tabs":
        return valid_text.replace("  ", "\t").encode()
    if kind == "yaml-directive":
        return ("%YAML 9.9\n---\n" + valid_text).encode()
    if kind == "binary-tag":
        return valid_text.replace('"8"', "!!binary AAAA", 1).encode()
    if kind == "json-nan":
        return b'{"seed": NaN, "base": {"hidden": "8"}, "search": {"eta": {"log_uniform": [NaN, Infinity]}}, "strategy": {"kind": "random", "trials": 1}}'
    if kind == "recursive-alias":
        return b"base: &a\n  hidden: *a\n" + valid_text.split("\n", 1)[1].encode()
    if kind == "base-list":
        return valid_text.replace("base:", "base: []\nbase_ignored:", 1).encode()
    if kind == "search-list":
        return valid_text.replace("search:", "search: [eta]\nsearch_ignored:", 1).encode()
    if kind == "unterminated":
        return b'seed: "1\nbase: {hidden: [8\n'
    if kind == "nul-byte":
        return valid_text.encode() + b"\0\n"
    return valid_text.encode()


# --------------------------------------------------------------------------------------------
# Baselines and cases.

TRAIN_FLAG_NAMES = []  # filled from the help text (for spec base options)


def baseline(sub, default_data):
    """(positionals, [(flag, value or None)]) of a cheap valid run of `sub`."""
    data = [] if default_data else [("--data", "idx:{S}/idx")]
    if sub == "train":
        return [], data + [("--hidden", "8"), ("--epochs", "1"), ("--max-steps", "6"), ("--train-limit", "300"),
                           ("--validation", "100"), ("--blas-threads", "1"), ("--quiet", None), ("--no-report", None),
                           ("--out", "{T}/run")]
    if sub == "evaluate":
        model = "{S}/run784/model.safetensors" if default_data else "{S}/run64/model.safetensors"
        return [], [("--model", model)] + data + [("--validation", "100"), ("--train-limit", "300")]
    if sub == "gradcheck":
        return [], data + [("--validation", "100"), ("--train-limit", "300"), ("--hidden", "8"), ("--samples", "5"),
                           ("--dims", "5"), ("--out", "{T}/gc")]
    if sub == "benchmark":
        return [], data + [("--validation", "100"), ("--train-limit", "300"), ("--hidden", "8"), ("--epochs", "1"),
                           ("--blas-threads", "1")]
    if sub == "sweep":
        return ["{T}/spec.yaml"], [("--out", "{T}/sw"), ("--blas-threads", "1"), ("--quiet", None),
                                   ("--no-report", None)]
    if sub == "sweep-status":
        return ["{T}/sw"], [("--csv", "{T}/trials.csv")]
    if sub == "top":
        return ["{T}/sw"], [("-k", "3"), ("--csv", "{T}/top.csv")]
    if sub == "report":
        return ["{T}/sw"], [("-k", "5")]
    if sub == "env":
        return [], [("--format", "text")]
    return [], []


DATA_SUBS = {"train", "evaluate", "gradcheck", "benchmark"}
WEIGHTS = {"train": 30, "sweep": 22, "evaluate": 9, "gradcheck": 9, "benchmark": 6, "sweep-status": 6, "top": 6,
           "report": 7, "env": 2}


def make_case(index, seed, subs, helps):
    rng = random.Random("cli-fuzz:%d:%d" % (seed, index))
    names = list(subs)
    sub = rng.choices(names, weights=[WEIGHTS.get(s, 1) for s in names])[0]
    flags, positionals = helps[sub]
    case = {"index": index, "sub": sub, "files": [], "notes": []}
    default_data = sub in DATA_SUBS and rng.random() < 0.05
    if default_data:
        case["notes"].append("default data (Fashion-MNIST)")
    pos, opts = baseline(sub, default_data)
    opts = [list(o) for o in opts]
    # Files a hostile path may name: always present, cheap to make.
    for dest, spec in SIMPLE_FILES.items():
        case["files"].append((spec[0], dest, None))
    resume_mode = sub == "train" and rng.random() < 0.15
    if resume_mode:
        target = hostile_resume(rng, case) if rng.random() < 0.8 else "{T}/rc"
        if target == "{T}/rc" and not any(f[0] == "copy" for f in case["files"]):
            case["files"].append(("copy", "{T}/rc", "run64"))
        opts = [["--resume", target], ["--quiet", None], ["--no-report", None]]
        case["notes"].append("train --resume")
    if sub == "sweep":
        spec = base_spec(rng)
        r = rng.random()
        if r < 0.08:
            kind = rng.choice(STRUCTURAL)
            case["files"].append(("spec-bytes", "{T}/spec.yaml", (kind, "\n".join(emit_yaml(spec)) + "\n")))
            case["notes"].append("spec: " + kind)
            k_flags = 0
        elif r < 0.55:
            for _ in range(rng.choice([1, 1, 1, 2, 3])):
                case["notes"].append("spec " + mutate_spec(rng, spec, case))
            k_flags = 0 if rng.random() < 0.8 else 1
        else:
            k_flags = None
        if any(f[0] == "spec-bytes" for f in case["files"]):
            pass
        elif rng.random() < 0.05 and not case["notes"]:  # resume a finished sweep with its own spec
            case["files"].append(("copy", "{T}/sw", "sweep"))
            case["files"].append(("copyfile", "{T}/spec.yaml", "sweep.yaml"))
            opts.append(["--resume", None])
            case["notes"].append("sweep --resume of a finished sweep")
        else:
            case["files"].append(("spec", "{T}/spec.yaml", "\n".join(emit_yaml(spec)) + "\n"))
    else:
        k_flags = None
    if sub in ("sweep-status", "top", "report"):
        template = rng.choice(["sweep", "sweep", "sweepsh", "run64"] if sub == "report" else ["sweep", "sweep", "sweepsh"])
        case["files"].append(("copy", "{T}/sw", template))
        if rng.random() < 0.4 and template != "run64":
            kind = rng.choice(DB_MUTATIONS)
            case["files"].append(("db", "{T}/sw/sweep.sqlite", (kind, rng.randrange(1 << 30))))
            case["notes"].append("sw: a copy of %s, sweep.sqlite %s" % (template, kind))
            k_flags = 0 if rng.random() < 0.7 else 1
        elif rng.random() < 0.2 and template == "run64":
            key = rng.choice(sorted(CONFIG_KEYS))
            case["files"].append(("config", "{T}/sw/config.json", (key, rng.choice(CONFIG_KEYS[key]))))
            case["notes"].append("config.json %s = %s" % (key, case["files"][-1][2][1]))
            k_flags = 0 if rng.random() < 0.7 else 1
    if sub == "train" and not resume_mode and rng.random() < 0.05:
        opts.append(["--init-model", "{S}/run64/model.safetensors"])
    # Hostile flags.
    candidates = sorted(flags) + ["<%d>" % i for i in range(len(pos))]
    if resume_mode:  # the --resume directory is already hostile (or a valid run to resume)
        candidates = [c for c in candidates if c != "--resume"]
    if k_flags is None:
        k_flags = rng.choices([1, 2, 3], weights=[50, 35, 15])[0]
    chosen = []
    while len(chosen) < min(k_flags, len(candidates)):
        c = rng.choice(candidates)
        if c not in chosen:
            chosen.append(c)
    for c in chosen:
        if c.startswith("<"):
            i = int(c[1:-1])
            r = rng.random()
            if sub == "sweep" and i == 0:
                v = pick(rng, IN_PATHS) if r < 0.85 else huge(rng)
            else:
                v = pick(rng, DIR_ARGS) if r < 0.85 else huge(rng, "{T}/")
            if rng.random() < 0.05:
                pos[i] = None
                case["notes"].append("positional %d dropped" % i)
            else:
                pos[i] = v
            continue
        info = flags[c]
        if info["metavar"] is None:  # a flag without value: add it (or give it a value: a usage error)
            if rng.random() < 0.1:
                opts.append(["%s=%s" % (c, rng.choice(["true", "", "1"])), "="])
            elif not any(o[0] == c for o in opts):
                opts.append([c, None])
            continue
        v = hostile_value(rng, sub, c, info, case)
        existing = [o for o in opts if o[0] == c]
        if existing and rng.random() < 0.05:
            opts.append([c, v])  # given twice: the last one counts
        elif existing:
            existing[0][1] = v
        else:
            opts.append([c, v])
    args = [sub]
    for flag, value in opts:
        if value == "=":
            args.append(flag)
        elif value is None:
            args.append(flag)
        elif rng.random() < 0.05 and isinstance(value, str) and flag.startswith("--"):
            args.append("%s=%s" % (flag, value))
        else:
            args += [flag, value]
    args += [p for p in pos if p is not None]
    case["args"] = args
    case["hostile"] = chosen
    return case


# --------------------------------------------------------------------------------------------
# Running.


def materialize(case, tdir, shared):
    subst = lambda s: s.replace("{T}", tdir).replace("{S}", shared)
    for kind, dest, param in case["files"]:
        dest = subst(dest)
        try:
            if kind == "fifo":
                os.mkfifo(dest)
            elif kind == "text":
                open(dest, "w").write("just text\n")
            elif kind == "loop":
                os.symlink(dest, dest)
            elif kind == "dangling":
                os.symlink(os.path.join(tdir, "nowhere"), dest)
            elif kind == "dir":
                os.makedirs(dest, exist_ok=True)
            elif kind == "empty":
                open(dest, "w").close()
            elif kind == "copy":
                shutil.copytree(os.path.join(shared, param), dest, symlinks=True)
            elif kind == "copyfile":
                shutil.copyfile(os.path.join(shared, param), dest)
            elif kind == "spec":
                open(dest, "w").write(subst(param))
            elif kind == "spec-bytes":
                k, text = param
                open(dest, "wb").write(structural_spec(random.Random(k), k, subst(text)))
            elif kind == "idx":
                make_idx(dest, param, random.Random(param))
            elif kind == "cifar":
                make_cifar(dest, param, random.Random(param))
            elif kind == "model":
                mutate_safetensors(os.path.join(shared, "run64", "model.safetensors"), dest, param, shared)
            elif kind == "config":
                mutate_config(dest, param[0], param[1], shared)
            elif kind == "checkpoint":
                mutate_checkpoint(dest, param)
            elif kind == "db":
                mutate_db(dest, param[0], param[1])
        except OSError:
            pass  # e.g. a config.json mutation in a copy without one, a name too long for a FIFO


def classify(rc, timed_out):
    if timed_out:
        return "timeout"
    if rc < 0:
        try:
            return "trap " + signal.Signals(-rc).name
        except ValueError:
            return "trap signal %d" % -rc
    if rc in DOCUMENTED:
        return None
    if rc > 128 and rc - 128 in (4, 5, 6, 7, 8, 9, 11, 24, 25, 31):
        return "trap %s (status %d)" % (signal.Signals(rc - 128).name, rc)
    return "status %d" % rc


def remove_tree(path):
    # rm, not shutil.rmtree: a case may leave a directory nested thousands deep (mkdir -p of a
    # hostile --out), deeper than Python's recursion limit.
    subprocess.run(["rm", "-rf", "--", path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stderr_tail(text):
    """The last 3 lines of stderr; for a Swift crash report, its 3 telling lines instead (the
    fatal error, the crash, the first frame in dptrain's own sources)."""
    lines = [l.rstrip() for l in text.splitlines() if l.strip()]
    if not any(l.startswith("*** Signal") or "Backtracing from" in l for l in lines):
        return [l[:300] for l in lines[-3:]]
    key = [l for l in lines if l.startswith("Fatal error") or "fatal error" in l.lower()][:1]
    frames = [l for l in lines if re.search(r"/Sources/\S+\.swift:\d+", l)]
    if frames:
        m = re.search(r"^\s*\d+\s+(?:\[[^\]]*\]\s*)*0x[0-9a-f]+ (.*?) in dptrain at \S*?(Sources/\S+)$", frames[0])
        key.append("at " + (m.group(2) + " (" + m.group(1)[:120] + ")" if m else frames[0].strip()[:200]))
    key += [l.strip("* ") for l in lines if l.startswith("*** ") and "Backtracing" not in l][:1]
    return [l[:300] for l in (key or lines[-3:])][:3]


def run_case(case, binary, root, shared, timeout, stop):
    if stop.is_set():
        return None
    tdir = os.path.join(root, "case-%05d" % case["index"])
    os.makedirs(tdir)
    materialize(case, tdir, shared)
    subst = lambda s: s.replace("{T}", tdir).replace("{S}", shared)
    argv = [binary] + [token_value(t, subst) for t in case["args"]]
    start = time.monotonic()
    timed_out = False
    p = subprocess.Popen(argv, cwd=tdir, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = p.communicate()
    elapsed = time.monotonic() - start
    kind = classify(p.returncode, timed_out)
    # Nothing of the case may survive it (a child left in its process group).
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    command = " ".join([shlex.quote(binary)] + [token_shell(t, subst) for t in case["args"]])
    if kind is None:
        remove_tree(tdir)
    tail = stderr_tail(err.decode("utf-8", "replace"))
    return {"kind": kind, "rc": p.returncode, "elapsed": elapsed, "command": command, "stderr": tail, "dir": tdir}


def setup_shared(binary, shared):
    """Templates: a tiny IDX data set, trained runs with checkpoints, finished sweeps."""
    rng = random.Random(12345)
    write_idx(os.path.join(shared, "idx"), "train", 600, 8, 8, rng)
    write_idx(os.path.join(shared, "idx"), "t10k", 200, 8, 8, rng)
    idx = "idx:" + os.path.join(shared, "idx")
    common = ["--hidden", "8", "--epochs", "2", "--train-limit", "300", "--validation", "100", "--blas-threads", "1",
              "--quiet", "--no-report"]

    def must(argv, what):
        p = subprocess.run([binary] + argv, cwd=shared, capture_output=True, text=True, timeout=300)
        if p.returncode != 0:
            sys.exit("cli-fuzz: setup (%s) failed with status %d:\n%s" % (what, p.returncode, p.stderr))

    must(["train", "--data", idx, "--out", os.path.join(shared, "run64")] + common, "run64")
    must(["train", "--data", idx, "--batch-norm", "--out", os.path.join(shared, "runbn")] + common, "runbn")
    must(["train", "--out", os.path.join(shared, "run784")] + common, "run784 (Fashion-MNIST)")
    for name, strategy in (("sweep", "{ kind: random, trials: 2 }"),
                           ("sweepsh", "{ kind: successive-halving, trials: 3, min_budget: 1, max_budget: 3, reduction: 3 }")):
        text = ("seed: 1\nmetric: val_accuracy\nbase:\n  data: %s\n  hidden: \"8\"\n  train-limit: 300\n"
                "  validation: 100\n  epochs: 1\n  max-steps: 6\n  blas-threads: 1\nsearch:\n"
                "  eta: { log_uniform: [1.0e-4, 1.0e-1] }\n  lambda: { log_uniform: [1.0e-6, 1.0e-1] }\n"
                "strategy: %s\n" % (yq(idx), strategy))
        open(os.path.join(shared, name + ".yaml"), "w").write(text)
        must(["sweep", os.path.join(shared, name + ".yaml"), "--out", os.path.join(shared, name), "--blas-threads", "1",
              "--quiet"], name)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dptrain")
    ap.add_argument("--cases", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=20)
    ap.add_argument("--keep-going", action="store_true", help="run every case (default: stop at the first failure)")
    ap.add_argument("--only", help="comma-separated subcommands to fuzz (default: all)")
    ap.add_argument("--list", action="store_true", help="print the cases and exit")
    ap.add_argument("--show-status", type=int, action="append", default=[],
                    help="also print the cases that exit with this (documented) status, as INFO lines")
    ap.add_argument("--mem-limit-mb", type=int, default=4096, help="RLIMIT_AS of each case (default 4096)")
    a = ap.parse_args()
    binary = os.path.abspath(a.dptrain)

    subs = parse_subcommands(run_help(binary))
    if not subs:
        sys.exit("cli-fuzz: no subcommands in %s --help" % binary)
    if a.only:
        wanted = a.only.split(",")
        unknown = [s for s in wanted if s not in subs]
        if unknown:
            sys.exit("cli-fuzz: unknown subcommand(s) %s; %s --help lists %s" % (unknown, binary, ", ".join(subs)))
        subs = [s for s in subs if s in wanted]
    helps = {s: parse_flags(run_help(binary, s)) for s in parse_subcommands(run_help(binary))}
    TRAIN_FLAG_NAMES[:] = [f.lstrip("-") for f in sorted(helps.get("train", ({}, []))[0])]
    cases = [make_case(i, a.seed, subs, helps) for i in range(a.cases)]

    print("cli-fuzz: seed %d, %d cases, subcommands %s, %d job(s), timeout %g s"
          % (a.seed, a.cases, ", ".join(subs), a.jobs, a.timeout), flush=True)
    if a.list:
        subst = lambda s: s.replace("{T}", "$CASE").replace("{S}", "$SHARED")
        for c in cases:
            files = [(k, d, p if not isinstance(p, tuple) or k != "spec-bytes" else p[0]) for k, d, p in c["files"]
                     if k not in ("fifo", "text", "loop", "dangling", "dir", "empty")]
            print("%05d %s  %s" % (c["index"], " ".join(token_shell(t, subst) for t in c["args"]),
                                  "; ".join(c["notes"])))
            for k, d, p in files:
                if k == "spec":
                    print("      %s %s: %s" % (k, d, p.replace("\n", " | ")[:2000]))
                else:
                    print("      %s %s: %s" % (k, d, str(p)[:200]))
        return 0

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    limit = a.mem_limit_mb << 20
    resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
    root = tempfile.mkdtemp(prefix="cli-fuzz.")
    shared = os.path.join(root, "shared")
    os.makedirs(shared)
    start = time.monotonic()
    setup_shared(binary, shared)
    stop = threading.Event()
    failures, ok, ran, slow, statuses, errors = {}, 0, 0, [], {}, 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, a.jobs)) as pool:
        futures = [pool.submit(run_case, c, binary, root, shared, a.timeout, stop) for c in cases]
        for c, f in zip(cases, futures):
            try:
                r = f.result()
            except Exception as e:  # the fuzzer's own failure (making a case's files): say which case
                print("cli-fuzz: case %d (%s) could not run: %r" % (c["index"], c["sub"], e), flush=True)
                errors += 1
                continue
            if r is None:
                continue
            ran += 1
            slow.append((r["elapsed"], c["index"]))
            st = "timeout" if r["kind"] == "timeout" else str(r["rc"])
            statuses.setdefault(c["sub"], {}).setdefault(st, 0)
            statuses[c["sub"]][st] += 1
            if r["kind"] is None:
                ok += 1
                if r["rc"] in a.show_status:
                    print("INFO status %d %s %s" % (r["rc"], c["sub"], r["command"]))
                    for line in r["stderr"]:
                        print("    | " + line)
                    if c["notes"]:
                        print("    case %d: %s" % (c["index"], "; ".join(c["notes"])))
                continue
            key = r["kind"].split(" (")[0]
            failures[key] = failures.get(key, 0) + 1
            print("FAIL %s %s %s" % (r["kind"], c["sub"], r["command"]), flush=True)
            for line in r["stderr"]:
                print("    | " + line)
            extra = [n for n in c["notes"]]
            if extra:
                print("    case %d: %s" % (c["index"], "; ".join(extra)))
            print("    case directory kept: %s" % r["dir"], flush=True)
            if not a.keep_going:
                stop.set()
    elapsed = time.monotonic() - start
    slow.sort(reverse=True)
    print("cli-fuzz: exit statuses: " + "; ".join(
        "%s %s" % (sub, " ".join("%s:%d" % kv for kv in sorted(st.items()))) for sub, st in sorted(statuses.items())))
    print("cli-fuzz: slowest cases: " + ", ".join("#%d %.1f s" % (i, t) for t, i in slow[:5]))
    nfail = sum(failures.values())
    by = ", ".join("%s %d" % (k, n) for k, n in sorted(failures.items(), key=lambda kv: -kv[1]))
    print("cli-fuzz: %d cases in %.0f s: %d ok, %d failed%s (seed %d)"
          % (ran, elapsed, ok, nfail, " (by kind: %s)" % by if nfail else "", a.seed))
    if nfail:
        print("cli-fuzz: failing cases' directories are kept under %s" % root)
    else:
        remove_tree(root)
    if errors:
        print("cli-fuzz: %d case(s) could not run (a fuzzer error)" % errors)
    return 1 if nfail or errors else 0


if __name__ == "__main__":
    sys.exit(main())
