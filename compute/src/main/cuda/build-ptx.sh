#!/usr/bin/env bash
# Regenerates the committed PTX from kernels.cu. Only needed after editing the .cu file: the build
# and the deployment use the committed PTX, so they need no CUDA toolkit.
#
# compute_75 is the oldest virtual architecture CUDA 13 accepts; the driver JIT-compiles the PTX
# for the actual card at module load. --fmad=false forbids multiply-add contraction (the kernels
# also use explicit __fmul_rn/__fadd_rn), so results round exactly like the CPU reference.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/../resources/dev/batchrpc/compute/cuda/kernels.ptx"
NVCC="${NVCC:-nvcc}"
mkdir -p "$(dirname "$out")"
"$NVCC" -ptx -arch=compute_75 -O3 --fmad=false -prec-div=true -prec-sqrt=true -ftz=false \
  -o "$out" "$here/kernels.cu"
echo "wrote $out ($("$NVCC" --version | tail -1))"
