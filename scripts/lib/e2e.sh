#!/usr/bin/env bash
# End-to-end checks of the release binary. Usage: e2e.sh PATH/TO/dptrain
# Prints one line per check and a closing "N passed, N failed"; exits 1 if any failed.
set -uo pipefail
DPTRAIN="$1"
source "$(dirname "$0")/checks.sh"

echo "==> end-to-end checks of $DPTRAIN"

# --- Acceptance: gradient check -------------------------------------------------------------
check "gradcheck --hidden 50,30 --batch-norm --lambda 0.01 exits 0, all max rel < 1e-6" \
  bash -c "'$DPTRAIN' gradcheck --hidden 50,30 --batch-norm --lambda 0.01 | tee '$work/gc.txt' | grep -q 'gradient check passed'"
check "gradcheck table has every tensor of the 3-layer BN net" \
  bash -c "for t in layer1.weight layer1.bias layer1.gamma layer1.beta layer2.weight layer2.gamma layer3.weight layer3.bias; do grep -q \"^\$t \" '$work/gc.txt' || exit 1; done"
check "gradcheck --method forward, svm, 1-layer runs" \
  bash -c "'$DPTRAIN' gradcheck --hidden '' --loss svm --method forward --tolerance 1 | grep -q 'layer1.weight'"
check "gradcheck 784-64-32-10 BatchNorm, lambda 0 passes with the automatic eps (it failed with eps 1e-6 on a 2.7e-7 gradient within rounding)" \
  bash -c "'$DPTRAIN' gradcheck --hidden 64,32 --batch-norm | tee '$work/gc64.txt' | grep -q 'gradient check passed' && grep -q 'automatic: rounding floor' '$work/gc64.txt'"
check "gradcheck fails (exit 4) when the tolerance is impossible" \
  expect_exit 4 "gradient check FAILED" "$DPTRAIN" gradcheck --hidden 10 --tolerance 1e-30

# --- A short training run and its outputs -------------------------------------------------------
run="$work/run"
check "train writes config.json, metrics.csv, summary.json, model.safetensors" \
  bash -c "'$DPTRAIN' train --hidden 50 --epochs 2 --train-limit 3000 --eval-every 10 --out '$run' > '$work/train.txt' && test -s '$run/config.json' -a -s '$run/metrics.csv' -a -s '$run/summary.json' -a -s '$run/model.safetensors'"
check "metrics.csv: the documented header and one row per evaluation point" \
  bash -c "head -1 '$run/metrics.csv' | grep -qx 'epoch,step,eta,train_cost,train_loss,train_accuracy,val_cost,val_loss,val_accuracy' && test \$(tail -n +2 '$run/metrics.csv' | wc -l) -eq 6"
check "summary.json has every documented key" \
  python3 -c "
import json; s = json.load(open('$run/summary.json'))
for k in ['test_accuracy','test_loss','val_accuracy','epochs','steps','ranks','train_seconds','samples_per_second','train_cost','val_cost']:
    assert k in s, k
assert s['steps'] == 60 and s['ranks'] == 1 and 0.5 < s['test_accuracy'] <= 1, s"
check "config.json is fully resolved (seed, data, architecture, schedule, version)" \
  python3 -c "
import json; c = json.load(open('$run/config.json'))
assert c['seed'] == 1 and c['architecture']['inputSize'] == 784 and c['architecture']['classes'] == 10 and c['version'], c
assert 'cyclical' in c['schedule'] and c['batchSize'] == 100 and c['trainLimit'] == 3000, c"
check "model.safetensors: NumPy reads it; weights [out, in]; input.mean/std present" \
  python3 -c "
import json, struct, numpy as np
b = open('$run/model.safetensors','rb').read(); n = struct.unpack('<Q', b[:8])[0]; h = json.loads(b[8:8+n])
assert h['layer1.weight']['shape'] == [50, 784] and h['layer2.weight']['shape'] == [10, 50], h
assert h['input.mean']['shape'] == [784] and h['input.std']['shape'] == [784]
s, e = h['layer2.bias']['data_offsets']; v = np.frombuffer(b[8+n+s:8+n+e], dtype='<f4'); assert v.shape == (10,) and np.isfinite(v).all()"
check "evaluate --model reproduces the run's test accuracy" \
  bash -c "acc=\$(python3 -c \"import json;print('%.4f' % json.load(open('$run/summary.json'))['test_accuracy'])\"); '$DPTRAIN' evaluate --model '$run/model.safetensors' | grep -q \"test accuracy \$acc\""
check "README's NumPy lines reproduce the run's test accuracy from model.safetensors alone (within 2 of 10,000 images; NumPy in double, dptrain in float)" \
  bash -c "sed -n '/<!-- numpy-model-begin -->/,/<!-- numpy-model-end -->/p' '$(dirname "$0")/../../README.md' | sed '1,2d;\$d' | sed '\$d' > '$work/numpy_model.py' &&
    grep -q 'np.frombuffer' '$work/numpy_model.py' && python3 '$work/numpy_model.py' '$run/model.safetensors' | tee '$work/numpy_model.txt' && python3 -c \"
import json; s = json.load(open('$run/summary.json')); a = float(open('$work/numpy_model.txt').read().split()[-1])
assert abs(a - s['test_accuracy']) <= 2e-4 and a > 0.5, (a, s['test_accuracy'])\""
check "model.safetensors metadata says how to use the model" \
  python3 -c "
import json, struct; b = open('$run/model.safetensors','rb').read(); n = struct.unpack('<Q', b[:8])[0]; m = json.loads(b[8:8+n])['__metadata__']
assert 'pixels / 255' in m['input_transform'] and 'input.std' in m['input_transform'] and 'running_var' in m['forward'], m"
check "--init-model starts from the saved model (a negligible step keeps its test accuracy)" \
  bash -c "'$DPTRAIN' train --hidden 50 --max-steps 1 --eta 1e-12 --momentum 0 --train-limit 3000 --init-model '$run/model.safetensors' --out '$work/cont' --quiet && python3 -c \"
import json; a=json.load(open('$work/cont/summary.json')); b=json.load(open('$run/summary.json'))
assert abs(a['test_accuracy'] - b['test_accuracy']) < 2e-4 and a['test_accuracy'] > 0.5, (a, b)\""
check "same seed, same run: bit-identical models" \
  bash -c "'$DPTRAIN' train --hidden 30 --epochs 1 --train-limit 2000 --out '$work/s1' --quiet && '$DPTRAIN' train --hidden 30 --epochs 1 --train-limit 2000 --out '$work/s2' --quiet && cmp '$work/s1/model.safetensors' '$work/s2/model.safetensors'"
check "--precision double trains and saves float64" \
  bash -c "'$DPTRAIN' train --hidden 30 --epochs 1 --train-limit 2000 --precision double --out '$work/d' --quiet && python3 -c \"
import json, struct; b=open('$work/d/model.safetensors','rb').read(); n=struct.unpack('<Q', b[:8])[0]; assert json.loads(b[8:8+n])['layer1.weight']['dtype']=='F64'\""
check "svm loss, decay schedule, no hidden layer, no shuffle" \
  bash -c "'$DPTRAIN' train --hidden '' --loss svm --eta 0.01 --decay 0.9 --momentum 0 --epochs 2 --train-limit 2000 --no-shuffle --out '$work/svm' --quiet | grep -q 'test accuracy'"
check "--cyclical with --cycles: 2*N_S*K steps" \
  bash -c "'$DPTRAIN' train --hidden 20 --cyclical 1e-5,1e-1,50 --cycles 2 --train-limit 2000 --out '$work/clr' --quiet && test \$(python3 -c \"import json;print(json.load(open('$work/clr/summary.json'))['steps'])\") -eq 200"

# --- Divergence ---------------------------------------------------------------------------------
check "a huge learning rate ends with 'diverged at step S', exit 3, metrics kept" \
  bash -c "'$DPTRAIN' train --hidden 50 --eta 1e6 --momentum 0 --epochs 2 --train-limit 2000 --eval-every 1 --out '$work/div' > '$work/div.txt' 2>&1; rc=\$?; test \$rc -eq 3 && grep -q 'diverged at step' '$work/div.txt' && grep -q '\"status\" : \"diverged\"' '$work/div/summary.json'"

# --- Bad input ------------------------------------------------------------------------------------
check "--batch-size 0 names the flag (exit 64)" expect_exit 64 "--batch-size" "$DPTRAIN" train --batch-size 0
check "--cyclical with ETA_MIN > ETA_MAX is rejected" expect_exit 64 "--cyclical" "$DPTRAIN" train --cyclical 0.1,0.01
check "--hidden with a bad width names the flag" expect_exit 64 "--hidden" "$DPTRAIN" train --hidden 50,x
check "--init with an unknown scheme names the flag" expect_exit 64 "--init" "$DPTRAIN" train --init uniform
check "--loss with an unknown loss names the flag" expect_exit 64 "--loss" "$DPTRAIN" train --loss mse
check "--data with an unknown source names the flag" expect_exit 64 "--data" "$DPTRAIN" train --data imagenet
check "--batch-size larger than the data names the flag" expect_exit 64 "--batch-size" "$DPTRAIN" train --train-limit 50 --batch-size 100
check "a missing data directory is named" expect_exit 1 "/nonexistent" "$DPTRAIN" train --data idx:/nonexistent
mkdir -p "$work/bad"
cp /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz "$work/bad/train-labels-idx1-ubyte.gz"
cp /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz "$work/bad/t10k-images-idx3-ubyte.gz"
cp /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz "$work/bad/t10k-labels-idx1-ubyte.gz"
head -c 5000 <(gzip -dc /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz) > "$work/bad/train-images-idx3-ubyte"
check "a truncated IDX file is named with what was expected" expect_exit 1 "train-images-idx3-ubyte.*(truncated|expected)" "$DPTRAIN" train --data "idx:$work/bad"
cp "$work/bad/train-labels-idx1-ubyte.gz" "$work/bad/train-images-idx3-ubyte.gz"; rm "$work/bad/train-images-idx3-ubyte"
check "a labels file given as images: wrong magic named" expect_exit 1 "train-images-idx3-ubyte.gz.*magic" "$DPTRAIN" train --data "idx:$work/bad"
check "evaluate --model with a missing file names the flag" expect_exit 64 "--model" "$DPTRAIN" evaluate --model /nonexistent.safetensors
printf 'garbage' > "$work/bad.safetensors"
check "a corrupted model file is named" expect_exit 1 "bad.safetensors" "$DPTRAIN" evaluate --model "$work/bad.safetensors"

# --- Acceptance: accuracy with the defaults -------------------------------------------------------
check "train --hidden 256,128 --batch-norm --epochs 20 (the defaults): test accuracy >= 0.895" \
  bash -c "'$DPTRAIN' train --hidden 256,128 --batch-norm --epochs 20 --out '$work/acc' --quiet | tee /dev/stderr && python3 -c \"
import json; s=json.load(open('$work/acc/summary.json')); print('test accuracy', s['test_accuracy']); assert s['test_accuracy'] >= 0.895, s\""

echo "e2e: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
