#!/bin/bash
# The four adversarial models on the full Fashion-MNIST from the command line, one training at a time,
# one BLAS thread; run from the repository root. run.log is this script's output (there into /tmp/fm),
# on a 2-core machine shared with other jobs (load average about 7).
set -u
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
D=${FASHION_MNIST:-/usr/share/datasets/fashion-mnist}
OUT=${OUT:-runs/fashion-mnist}
run() { echo "=== $* ($(date +%T))"; /usr/bin/time -f "wall %e s, user %U s" "$@"; echo "=== rc $? ($(date +%T))"; }
run python -m gans train --model gan --dataset fashion-mnist --data-root $D --offline --epochs 2 --quiet --out $OUT/gan
run python -m gans evaluate $OUT/gan/checkpoint.npz --data-root $D --offline
run python -m gans train --model cgan --dataset fashion-mnist --data-root $D --offline --epochs 2 --quiet --out $OUT/cgan
run python -m gans evaluate $OUT/cgan/checkpoint.npz --data-root $D --offline
run python -m autoencoders train --model aae --dataset fashion-mnist --data-root $D --offline --epochs 5 --quiet --out $OUT/aae
run python -m autoencoders evaluate $OUT/aae/checkpoint.npz --data-root $D --offline
run python -m gans train --model dcgan --dataset fashion-mnist --data-root $D --offline --epochs 1 --quiet --out $OUT/dcgan
run python -m gans evaluate $OUT/dcgan/checkpoint.npz --data-root $D --offline
