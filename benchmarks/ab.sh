#!/bin/bash
# A/B of two checkouts of edged, each with its own .venv, by `edged bench` runs in turn.
#   N=8 INTERPS=area [THREADS=2] [FPS=30] [MODEL=file.tflite] benchmarks/ab.sh OLD NEW > ab.txt
# One line per run: pair number, checkout, interpolation, then edged bench's table row.
set -euo pipefail
old=${1:?usage: ab.sh OLD_CHECKOUT NEW_CHECKOUT}
new=${2:?usage: ab.sh OLD_CHECKOUT NEW_CHECKOUT}
models=${MODELS:-$(cd "$(dirname "$0")/.." && pwd)/../shared/testdata/models}
model=${MODEL:-mobilenet_v2_1.0_224_quant.tflite}
for i in $(seq "${N:-5}"); do
  for v in "$old" "$new"; do
    for interp in ${INTERPS:-area bilinear}; do
      row=$(cd "$v" && .venv/bin/edged bench --repeat 1 --seconds 4 --threads "${THREADS:-2}" \
        --interpolation "$interp" ${FPS:+--fps "$FPS"} --model "$models/$model" 2>&1 | tail -1)
      echo "$i $(basename "$v") $interp $row"
    done
  done
done
echo "end $(uptime)"
