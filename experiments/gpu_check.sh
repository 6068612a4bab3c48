#!/usr/bin/env bash
# GPU checks in one run: environment, the test suite, the step and scaling benchmarks
# and one quick training run, each under its own time limit, logs and JSON in OUT_DIR.
#
#   bash experiments/gpu_check.sh OUT_DIR
#
# Runs under whatever python3 holds JAX with CUDA (the repository on PYTHONPATH, no install).
set -u
out=${1:?usage: gpu_check.sh OUT_DIR}
mkdir -p "$out"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false

{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  python3 -c "import jax, flax, optax, orbax.checkpoint, chex; print('jax', jax.__version__, 'flax', flax.__version__, 'optax', optax.__version__, jax.devices())"
} 2>&1 | tee "$out/env.txt"

echo "== step benchmark"
timeout 150 python3 -m experiments.benchmark --suite=step --out_dir="$out" 2>&1 | grep -v Warning
echo "== tests"
# The suite (215 tests then) took 139 s with 12 workers on an H200 machine (16 cores); 120 s with 8
# was too short. It has grown since (GPPN, the converter): 300 s.
timeout 300 python3 -m pytest -q -n 12 -p no:cacheprovider -p no:benchmark -rfE --tb=short tests \
  > "$out/tests.log" 2>&1
echo "pytest exit $?"; tail -40 "$out/tests.log"
echo "== quick training"
timeout 60 python3 -m experiments.train --preset=quick --planner=id_vin --workdir=/tmp/gpu_run > "$out/train.log" 2>&1
echo "train exit $?"; tail -8 "$out/train.log"
echo "== scaling benchmark"
timeout 130 python3 -m experiments.benchmark --suite=scaling --sizes=15,49 --ks=10,80,200 --repeats=3 \
  --out_dir="$out" 2>&1 | grep -v Warning
