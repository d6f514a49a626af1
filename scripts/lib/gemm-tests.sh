#!/usr/bin/env bash
# GEMM backends end to end: what `dptrain env` shows, the kernel named in the header, the run
# files, the benchmark and sweep records; the self-check's fallback from a deliberately wrong
# backend; OpenBLAS's generic-kernel fallback corrected by re-running with OPENBLAS_CORETYPE;
# the user's OPENBLAS_CORETYPE respected; bit-identical repeats with each backend.
# Usage: gemm-tests.sh PATH/TO/dptrain. Exits 1 if any check failed.
set -uo pipefail
DPTRAIN="$1"
source "$(dirname "$0")/checks.sh"
use_mpirun
CHECK_FIGURES="^matrix products|^  matrix products|^RESULT|^warning"

echo "==> GEMM backends"

"$DPTRAIN" env --format json > "$work/env.json"
onednn=$(python3 -c "import json; e=json.load(open('$work/env.json')); print(int(any(b['name']=='onednn' and b['built_in'] for b in e['backends'])))")
best_core=$(python3 -c "import json; print(json.load(open('$work/env.json'))['openblas_runnable_cores'][-1])")

check "dptrain env names the CPU, each backend with version, kernel and a passed self-check, Open MPI and the data set" bash -c "
  '$DPTRAIN' env | tee '$work/env.txt' &&
  grep -qE '^CPU: .*family [0-9]+ model [0-9]+' '$work/env.txt' &&
  grep -qE '^  openblas: OpenBLAS 0\.[0-9.]+, [A-Za-z]+ kernel' '$work/env.txt' &&
  grep -q 'self-check float64: passed' '$work/env.txt' &&
  grep -qE '^MPI: Open MPI v[0-9]' '$work/env.txt' &&
  grep -q 'fashion-mnist.*found' '$work/env.txt' &&
  python3 -c \"
import json; e = json.load(open('$work/env.json'))
assert e['cores'] >= 1 and e['cpu']['vendor'] and 'sse2' in e['cpu']['features'], e['cpu']
for b in e['backends']:
    assert not b['built_in'] or all(v.startswith('passed') for v in b['self_check'].values()), b
assert e['auto_double'] == 'openblas' and e['openblas_core'] in e['openblas_config'], e\"
  if [ $onednn = 1 ]; then grep -qE '^  onednn: oneDNN [0-9.]+, [a-z0-9_]+ kernels' '$work/env.txt'; fi"

run="$work/run"
check "train: the header names the kernel and CPU; config.json, summary.json and the report record them" bash -c "
  '$DPTRAIN' train --hidden 30 --epochs 1 --train-limit 2000 --out '$run' > '$work/train.txt' &&
  cat '$work/train.txt' | head -3 &&
  expected=\$([ $onednn = 1 ] && echo oneDNN || echo OpenBLAS) &&
  grep -qE \"^matrix products: \$expected [0-9.]+ \\(.* kernels?\\).*thread\\(s\\) per rank; CPU: \" '$work/train.txt' &&
  python3 -c \"
import json; c = json.load(open('$run/config.json')); s = json.load(open('$run/summary.json'))
assert c['gemm'] == ('onednn' if $onednn else 'openblas') and c['gemmKernel']['backend'] == c['gemm'], c
assert s['gemm'].startswith(c['gemmKernel']['library']) and 'family' in s['cpu'], s\" &&
  grep -q 'matrix products' '$run/report.html'"

check "--precision double: OpenBLAS, named with its core and where the core came from" bash -c "
  '$DPTRAIN' train --hidden 20 --epochs 1 --train-limit 1000 --precision double --out '$work/dbl' | head -3 | tee '$work/dbl.txt' &&
  grep -qE '^matrix products: OpenBLAS 0\.[0-9.]+ \\([A-Za-z]+ kernel\\) \\(core detected by OpenBLAS\\)' '$work/dbl.txt'"

check "--gemm onednn with --precision double, and an unknown --gemm, are refused naming the flag (exit 64)" bash -c "
  '$DPTRAIN' train --gemm onednn --precision double --train-limit 1000 --out '$work/x1' > '$work/o.txt' 2>&1; rc=\$?
  test \$rc -eq 64 && grep -q -- '--gemm onednn: oneDNN has no double-precision GEMM' '$work/o.txt' && test ! -e '$work/x1' || { cat '$work/o.txt'; exit 1; }
  '$DPTRAIN' train --gemm mkl --train-limit 1000 --out '$work/x2' > '$work/o.txt' 2>&1; rc=\$?
  test \$rc -eq 64 && grep -q -- \"--gemm: 'mkl' should be auto, onednn or openblas\" '$work/o.txt' || { cat '$work/o.txt'; exit 1; }"

if [ "$onednn" = 1 ]; then
  check "a wrong oneDNN (test seam) fails the self-check: a warning names both, training runs on OpenBLAS, the files say so" bash -c "
    '$DPTRAIN' train --hidden 20 --epochs 1 --train-limit 1000 --gemm-fault onednn --out '$work/fault' > '$work/fault.txt' 2>&1 || { cat '$work/fault.txt'; exit 1; }
    grep -E '^warning: GEMM self-check: oneDNN .* computed a wrong float32 product .*; using OpenBLAS .* instead' '$work/fault.txt' &&
    grep -q '^matrix products: OpenBLAS' '$work/fault.txt' && grep -q 'test accuracy' '$work/fault.txt' &&
    python3 -c \"import json; c = json.load(open('$work/fault/config.json')); assert c['gemm'] == 'openblas', c\""
  check "a wrong OpenBLAS in double precision: nothing trains (exit 64), the message says why" bash -c "
    '$DPTRAIN' train --precision double --gemm-fault openblas --train-limit 1000 --out '$work/fault2' > '$work/f2.txt' 2>&1; rc=\$?
    test \$rc -eq 64 && grep -q 'not training on a broken kernel' '$work/f2.txt' && test ! -e '$work/fault2' || { cat '$work/f2.txt'; exit 1; }"
fi

check "OpenBLAS fell back to Prescott (simulated): dptrain re-runs itself with OPENBLAS_CORETYPE=$best_core and says so" bash -c "
  OPENBLAS_CORETYPE=Prescott DPTRAIN_TEST_CORETYPE_IS_DETECTED=1 '$DPTRAIN' train --gemm openblas --hidden 20 --epochs 1 --train-limit 1000 --out '$work/reexec' > '$work/reexec.txt' 2>&1 || { cat '$work/reexec.txt'; exit 1; }
  head -3 '$work/reexec.txt'
  grep -qE '^matrix products: OpenBLAS [0-9.]+ \\($best_core kernel\\) \\(core set by dptrain: OpenBLAS [0-9.]+ detected Prescott' '$work/reexec.txt' &&
  python3 -c \"import json; c = json.load(open('$work/reexec/config.json')); assert c['gemmKernel']['kernel'] == '$best_core', c\" &&
  OPENBLAS_CORETYPE=Prescott DPTRAIN_TEST_CORETYPE_IS_DETECTED=1 '$DPTRAIN' env | grep -q 'OpenBLAS core $best_core: set by dptrain'"

check "a user's OPENBLAS_CORETYPE is respected and shown, even a generic one" bash -c "
  OPENBLAS_CORETYPE=Prescott '$DPTRAIN' train --gemm openblas --hidden 20 --epochs 1 --train-limit 1000 --out '$work/user' | head -3 > '$work/user.txt'
  grep -qE '^matrix products: OpenBLAS [0-9.]+ \\(Prescott kernel\\) \\(core OPENBLAS_CORETYPE=Prescott from the environment\\)' '$work/user.txt' || { cat '$work/user.txt'; exit 1; }"

# repeat_identical GEMM: the same seed twice, with 1 and with 2 threads, gives the same bits.
repeat_identical() {
  for t in 1 2; do
    for r in a b; do
      "$DPTRAIN" train --gemm "$1" --blas-threads "$t" --hidden 64,32 --batch-norm --epochs 1 --train-limit 3000 \
        --out "$work/det-$1-$t-$r" --quiet --no-report > /dev/null || return 1
    done
    cmp "$work/det-$1-$t-a/model.safetensors" "$work/det-$1-$t-b/model.safetensors" || return 1
  done
}
for gemm in onednn openblas; do
  [ "$gemm" = onednn ] && [ "$onednn" != 1 ] && continue
  check "--gemm $gemm: the same seed twice gives bit-identical models (1 thread and 2 threads)" repeat_identical "$gemm"
done

# sigterm_anytime: 20 runs stopped by SIGTERM at random moments (start-up, mid-product,
# evaluation) each exit 5 (or 0 if they finished) with no heap corruption. Before the stop
# handlers ran on their own stack, about 1 run in 8 died in malloc with oneDNN.
sigterm_anytime() {
  for t in $(seq 20); do
    "$DPTRAIN" train --hidden 128,64 --batch-norm --epochs 12 --train-limit 20000 --blas-threads 1 --quiet --no-report \
      --checkpoint-every never --out "$work/term-$t" > "$work/term-$t.txt" 2>&1 &
    local pid=$!
    sleep "$(python3 -c "import random; print(round(random.uniform(0.2, 1.4), 2))")"
    kill -TERM "$pid"
    wait "$pid"
    local status=$?
    if [ "$status" -ne 5 ] && [ "$status" -ne 0 ]; then echo "run $t: exit $status"; cat "$work/term-$t.txt"; return 1; fi
    if grep -qiE "corrupt|malloc|free\(\)" "$work/term-$t.txt"; then cat "$work/term-$t.txt"; return 1; fi
    rm -rf "$work/term-$t"
  done
}
check "SIGTERM at any moment of 20 runs with the default backend: every run stops cleanly (exit 5), no heap corruption" sigterm_anytime

check "benchmark names the kernel in its header and its RESULT line" bash -c "
  '$DPTRAIN' benchmark --hidden 20 --epochs 1 --train-limit 2000 > '$work/bench.txt' &&
  grep -q '^  matrix products: ' '$work/bench.txt' && grep -qE '^RESULT .* gemm (oneDNN|OpenBLAS)-[0-9.]+/[A-Za-z0-9_]+\$' '$work/bench.txt' || { cat '$work/bench.txt'; exit 1; }"

cat > "$work/sweep.yaml" <<'EOF'
seed: 3
metric: val_accuracy
base: {hidden: "20", train-limit: 1000, validation: 500, epochs: 1}
search:
  eta: { log_uniform: [1.0e-3, 1.0e-1] }
strategy: { kind: random, trials: 2 }
EOF
check "a sweep with --gemm openblas: every trial's command names it and its record names the kernel" bash -c "
  '$DPTRAIN' sweep '$work/sweep.yaml' --gemm openblas --out '$work/sweep' --quiet --no-report > '$work/sweep.txt' 2>&1 || { cat '$work/sweep.txt'; exit 1; }
  python3 -c \"
import sqlite3, json; rows = sqlite3.connect('$work/sweep/sweep.sqlite').execute('SELECT arguments_json, gemm FROM trial').fetchall()
assert len(rows) == 2, rows
for arguments, gemm in rows:
    a = json.loads(arguments); assert a[a.index('--gemm') + 1] == 'openblas', a
    assert gemm.startswith('OpenBLAS 0.'), gemm\" &&
  '$DPTRAIN' sweep-status '$work/sweep' --csv '$work/trials.csv' > /dev/null && head -1 '$work/trials.csv' | grep -q ',gemm,' && grep -q 'OpenBLAS 0\.' '$work/trials.csv'"

echo "gemm: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
