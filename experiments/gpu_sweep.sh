#!/usr/bin/env bash
# Runs a sweep on a lent GPU inside a deadline, its runs side by side on the one card
# (`experiments.sweep --accelerator`), and packs the run directories (configs, metrics, results,
# checkpoints, logs; no TensorBoard files) into OUT_DIR/runs.tgz every minute and at the end, so
# that what was done comes back even when the deadline cuts the runs short. Unpacked, the runs
# resume or are summarised here (`experiments.sweep --summarize --root=...`).
#
#   bash experiments/gpu_sweep.sh OUT_DIR SECONDS --sweep=paper_twins --jobs=8 --set=seeds=3
#
# Runs under whatever python3 holds JAX with CUDA (the repository on PYTHONPATH, no install).
set -u
out=${1:?usage: gpu_sweep.sh OUT_DIR SECONDS SWEEP_FLAGS...}
seconds=${2:?usage: gpu_sweep.sh OUT_DIR SECONDS SWEEP_FLAGS...}
shift 2
mkdir -p "$out"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
root=runs/gpu_sweep

{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  python3 -c "import jax, flax, optax; print('jax', jax.__version__, 'flax', flax.__version__, jax.devices())"
} > "$out/env.txt" 2>&1

pack() { tar czf "$out/runs.tgz.part" --exclude=tensorboard -C runs gpu_sweep 2>/dev/null && mv "$out/runs.tgz.part" "$out/runs.tgz"; }
(while sleep 60; do pack; done) &
packer=$!
start=$(date +%s)
timeout "$seconds" python3 -m experiments.sweep --root="$root" --accelerator "$@" > "$out/sweep.log" 2>&1
echo "sweep exit $? after $(($(date +%s) - start)) s" | tee -a "$out/sweep.log"
kill $packer
pack
for log in "$root"/*.log; do
  echo "== $log"
  grep -a "epoch .*/" "$log" | tail -n 2 | cut -c1-400
  grep -a -E "Error|error:|Diverged" "$log" | tail -n 3
done
