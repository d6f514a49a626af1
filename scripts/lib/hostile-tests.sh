#!/usr/bin/env bash
# Hostile but realistic inputs against the release binary (issue 15): values that overflow or
# round out of range, run directories that would be overwritten, checkpoints and configurations
# that do not belong together, non-finite models, BatchNorm shards too small, sweeps that cannot
# train, long gradient checks, file-system surprises; each gets a clear error with the documented
# exit status, and nothing computed is lost. Then the command-line fuzzer (scripts/lib/cli-fuzz.py).
# Usage: hostile-tests.sh PATH/TO/dptrain. Exits 1 if any check failed.
set -uo pipefail
DPTRAIN="$(realpath "$1")"
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/checks.sh"
use_mpirun
CHECK_FIGURES="^cli-fuzz: "

echo "==> hostile inputs"
small=(--train-limit 500 --validation 100 --epochs 2 --hidden 20 --blas-threads 1 --quiet --no-report)

# Values that passed validation and then trapped (overflow, a 13 TB allocation) or rounded.
for c in "--hidden 9223372036854775807|--hidden: a width of 9223372036854775807 is above the maximum, 65536" \
  "--hidden 4294967296|--hidden: a width of 4294967296 is above the maximum" \
  "--hidden 60000,60000|--hidden: the network 784-60000-60000-10 has 3647760010 parameters, above the maximum" \
  "--epochs 922337203685477580|--epochs must be at most 1000000" \
  "--cyclical 1e-5,0.1,10 --cycles 9223372036854775807 --epochs|--cycles must be at most 1000000" \
  "--cyclical 1e-5,0.1,4611686018427387904|--cyclical: N_S must be at most" \
  "--blas-threads 2147483648|--blas-threads must be at most 1024" \
  "--momentum 0.9999999999|--momentum .*which is 1 in float precision" \
  "--eta 1e-320|--eta is 1e-320, out of float precision's range" \
  "--eta inf|--eta must be a finite number > 0, got inf" \
  "--seed -1|The value '-1' is invalid for '--seed" \
  "--batch-norm --batch-size 1|--batch-size 1 leaves 1 sample\(s\) in every batch: BatchNorm needs at least 2" \
  "--batch-norm --batch-size 499|the epoch's last batch has 1 of the 500 samples" \
  "--validation 60000|invalid --validation: 60000 validation samples leave no training samples"; do
  args="${c%%|*}"
  # "--epochs" alone at the end drops the baseline's --epochs (exclusive with --cycles).
  if [[ "$args" == *" --epochs" ]]; then
    args="${args% --epochs}"
    base=(--train-limit 500 --validation 100 --hidden 20 --blas-threads 1 --quiet --no-report)
  else
    base=("${small[@]}")
  fi
  # shellcheck disable=SC2086
  check "train $args: exit 64, '${c#*|}'" expect_exit 64 "${c#*|}" "$DPTRAIN" train "${base[@]}" $args --out "$work/refused"
done
check "no refused run left a directory behind" bash -c "[ ! -e '$work/refused' ]"
check "the same data error under mpirun -np 2: exit 64, as one process" \
  expect_exit 64 "invalid --validation" "${MPIRUN[@]}" -np 2 "$DPTRAIN" train "${small[@]}" --validation 60000 --out "$work/refused-mpi"

# --- Run directories ----------------------------------------------------------------------
"$DPTRAIN" train "${small[@]}" --out "$work/run" > /dev/null
before="$(cd "$work/run" && md5sum ./*)"
check "train --out on a run directory is refused and names --resume, another --out and --overwrite; nothing changes" bash -c "
  out=\$('$DPTRAIN' train ${small[*]} --hidden 30 --out '$work/run' 2>&1); rc=\$?
  [ \$rc -eq 64 ] && grep -q -- '--out $work/run already holds a run (config.json, metrics.csv, summary.json, model.safetensors, checkpoint.safetensors); continue it with --resume $work/run, choose another --out, or pass --overwrite' <<<\"\$out\" || { echo \"\$rc \$out\"; exit 1; }
  [ \"\$(cd '$work/run' && md5sum ./*)\" = '$before' ]"
check "--overwrite removes the old run's files, its checkpoint included, and trains afresh" bash -c "
  '$DPTRAIN' train ${small[*]} --hidden 30 --checkpoint-every never --out '$work/run' --overwrite > /dev/null &&
  [ ! -e '$work/run/checkpoint.safetensors' ] &&
  python3 -c \"import json; c = json.load(open('$work/run/config.json')); assert c['architecture']['hidden'] == [30], c\""
check "--resume DIR --out OTHER is refused (the run continues in DIR)" \
  expect_exit 64 "--out $work/other with --resume $work/run: a resumed run continues in its own directory" \
  "$DPTRAIN" train --resume "$work/run" --out "$work/other"
check "two runs started in the same second get two default directories" bash -c "
  mkdir -p '$work/same' && cd '$work/same' &&
  { '$DPTRAIN' train ${small[*]} > a.txt 2>&1 & '$DPTRAIN' train ${small[*]} > b.txt 2>&1; wait; } &&
  ls runs | tee /dev/stderr | wc -l | grep -qx 2"
cat > "$work/tiny.yaml" <<'EOF'
seed: 1
base: { hidden: "8", train-limit: 300, validation: 100, epochs: 1 }
search:
  lambda: { log_uniform: [1.0e-5, 1.0e-3] }
strategy: { kind: random, trials: 2 }
EOF
"$DPTRAIN" sweep "$work/tiny.yaml" --out "$work/tiny-sweep" --quiet --no-report > /dev/null
check "train refuses a sweep's directory" expect_exit 64 "--out $work/tiny-sweep holds a sweep \(sweep.sqlite\)" \
  "$DPTRAIN" train "${small[@]}" --out "$work/tiny-sweep"
check "sweep refuses a run's directory" expect_exit 64 "--out $work/run holds a training run .*not a sweep" \
  "$DPTRAIN" sweep "$work/tiny.yaml" --out "$work/run"
check "sweep --out FILE: says it is a file (no Foundation error text)" expect_exit 64 "--out $work/tiny.yaml is a file; expected a directory" \
  "$DPTRAIN" sweep "$work/tiny.yaml" --out "$work/tiny.yaml"

# --- Resume: the checkpoint and config.json must belong together ----------------------------
"$DPTRAIN" train "${small[@]}" --hidden 30 --out "$work/other" > /dev/null
"$DPTRAIN" train "${small[@]}" --out "$work/mixed" > /dev/null && cp "$work/other/checkpoint.safetensors" "$work/mixed/"
check "--resume with another network's checkpoint: refused, naming both files (exit 1)" \
  expect_exit 1 "$work/mixed/checkpoint.safetensors: holds 23860 parameters .* where the network has 15910; the run's configuration \($work/mixed/config.json\) describes 784-20-10" \
  "$DPTRAIN" train --resume "$work/mixed"
cp -r "$work/other" "$work/badconfig"
python3 -c "
import json; p = '$work/badconfig/config.json'; c = json.load(open(p)); c['momentum'] = 7; json.dump(c, open(p, 'w'))"
check "--resume with a config.json out of range (momentum 7): refused, naming the file and the field" \
  expect_exit 1 "$work/badconfig/config.json: --momentum must be in \[0, 1\), got 7" "$DPTRAIN" train --resume "$work/badconfig"

# --- Models in and out are finite -------------------------------------------------------------
python3 - "$work/other/model.safetensors" "$work/nan.safetensors" <<'PY'
import json, struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
start = h["layer2.weight"]["data_offsets"][0] + 8 + n + 4 * 7
out = bytearray(b)
out[start:start + 4] = struct.pack("<f", float("nan"))
open(sys.argv[2], "wb").write(out)
PY
check "--init-model with a NaN weight: refused naming the tensor and index" \
  expect_exit 1 "nan.safetensors: tensor 'layer2.weight' holds a non-finite value \(nan in float32\) at index 7" \
  "$DPTRAIN" train "${small[@]}" --hidden 30 --init-model "$work/nan.safetensors" --out "$work/from-nan"
check "evaluate of a model with a NaN weight: refused the same way" \
  expect_exit 1 "tensor 'layer2.weight' holds a non-finite value" "$DPTRAIN" evaluate --model "$work/nan.safetensors"

# --- Sweeps -------------------------------------------------------------------------------
cat > "$work/cycles.yaml" <<'EOF'
base: { hidden: "8", train-limit: 300, validation: 100 }
search:
  lambda: { log_uniform: [1.0e-5, 1.0e-3] }
strategy: { kind: successive-halving, trials: 3, max_budget: 3, unit: cycles }
EOF
check "successive halving in cycles without a cyclical schedule: refused before any work, naming the budget" \
  expect_exit 64 "strategy.min_budget \(1 cycles\).*--cycles needs" "$DPTRAIN" sweep "$work/cycles.yaml" --out "$work/cycles"
sed 's/max_budget: 3, unit: cycles/max_budget: 100000000/' "$work/cycles.yaml" > "$work/huge.yaml"
check "a huge max_budget: refused before any work" \
  expect_exit 64 "huge.yaml:4: strategy.max_budget: expected an integer <= 1000000 \(epochs or cycles of the last rung\), got 100000000" "$DPTRAIN" sweep "$work/huge.yaml" --out "$work/huge"
cat > "$work/failing.yaml" <<'EOF'
base: { hidden: "8", train-limit: 300, validation: 100, epochs: 1 }
search:
  batch-size: { choice: [400, 500] }
strategy: { kind: grid }
EOF
check "a sweep in which every trial failed exits 1 after its table" \
  expect_exit 1 "no trial of the sweep finished \(2 failed or diverged; the first: --batch-size 400 exceeds the [0-9]+ training samples" \
  "$DPTRAIN" sweep "$work/failing.yaml" --out "$work/failing" --no-report

# --- Long checks say how long -------------------------------------------------------------------
check "gradcheck --hidden 2000,2000: refused at once with its estimate, naming what to reduce" bash -c "
  start=\$(date +%s); out=\$('$DPTRAIN' gradcheck --hidden 2000,2000 2>&1); rc=\$?
  echo \"\$out\" | tail -2; [ \$rc -eq 64 ] && [ \$((\$(date +%s) - start)) -lt 30 ] &&
  grep -qE 'gradcheck would take about [0-9]+m[0-9]+s: [0-9]+ passes over 20 samples .*above --max-minutes 60.*--dims' <<<\"\$out\""
: > "$work/a-file"
check "gradcheck --out under a file fails before the check runs" \
  expect_exit 1 "--out $work/a-file/sub: cannot create the directory" "$DPTRAIN" gradcheck --hidden 10 --out "$work/a-file/sub"

# --- Files that are not what they seem -------------------------------------------------------
mkdir -p "$work/fifo-data"
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
  [ "$f" = train-images-idx3-ubyte ] && mkfifo "$work/fifo-data/$f" || : > "$work/fifo-data/$f"
done
check "an IDX file that is a FIFO is named as one (not 'not found', no hang)" \
  expect_exit 1 "train-images-idx3-ubyte: is not a regular file \(a FIFO" timeout 20 "$DPTRAIN" train --data "idx:$work/fifo-data" --epochs 1
rm -f "$work/run/report.html" && mkdir "$work/run/report.html"
check "report.html that is a directory: the message says so (no NSCocoaErrorDomain)" \
  expect_exit 1 "report.html: cannot write the report \(Is a directory\)" "$DPTRAIN" report "$work/run"

# --- The command-line fuzzer --------------------------------------------------------------------
check "cli-fuzz: 2,000 seeded hostile command lines and specs, no trap, no hang, only documented exit statuses" \
  python3 "$here/cli-fuzz.py" "$DPTRAIN" --cases 2000 --seed 1 --jobs 2

echo "hostile inputs: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
