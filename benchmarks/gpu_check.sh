#!/usr/bin/env bash
# The GPU check of issue 17, prepared for a short slot on a lent GPU (an H200: no downloads there,
# random weights of the real architecture). ≤ 8 minutes: for the 1.3B LoRA step (the reference recipe)
# at 480×832×81 and at 512² stills, in each memory mode, `vectorwan bench` (peak VRAM, s/step, model
# TFLOP/s → MFU) with the plan's prediction beside it, then the plans for 8 GB.
#
#   benchmarks/gpu_check.sh                 # on the GPU machine; results in $OUT (default runs/gpu_check)
#   benchmarks/gpu_check.sh --dry-run       # the same commands on the tiny model, on a CPU, in seconds
#
# PEAK_TFLOPS (default 989: H200 dense bf16) turns TFLOP/s into MFU in summary.md.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${OUT:-runs/gpu_check}
PEAK_TFLOPS=${PEAK_TFLOPS:-989}
CONFIG=configs/tiger16_t2v_1.3b.toml
MODEL="random:Wan2.1-T2V-1.3B"
MODES="fast default fp8 offload"
VIDEO=(--set "data.resolution=[480,832]" --set data.num_frames=81)
STILL=(--set "data.resolution=[512,512]" --set data.num_frames=1)
STEPS=3
if [[ "${1:-}" == "--dry-run" ]]; then
  MODEL=tiny; OUT=${OUT}_dry; STEPS=1
  VIDEO=(--set "data.resolution=[32,48]" --set data.num_frames=9)
  STILL=(--set "data.resolution=[32,32]" --set data.num_frames=1)
fi
mkdir -p "$OUT"
rm -f "$OUT/bench.jsonl"
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name() if torch.cuda.is_available() else '')"
for shape in VIDEO STILL; do
  declare -n sets=$shape
  for mode in $MODES; do
    echo "== $shape $mode"
    timeout 240 "$PY" -m vectorwan bench "$CONFIG" --steps "$STEPS" --prompt-tokens 40 --record "$OUT/bench.jsonl" \
      --set "model.path=\"$MODEL\"" --set memory.mode="$mode" "${sets[@]}" 2>>"$OUT/bench.log" \
      || echo "{\"error\": \"$shape $mode failed (see bench.log)\"}" >> "$OUT/bench.jsonl"
  done
done
for shape in VIDEO STILL; do
  declare -n sets=$shape
  "$PY" -m vectorwan plan "$CONFIG" --device cuda --vram 8GB --set "model.path=\"$MODEL\"" "${sets[@]}" \
    > "$OUT/plan_$shape.txt"
done
"$PY" - "$OUT" "$PEAK_TFLOPS" <<'PY'
import json, sys
out, peak = sys.argv[1], float(sys.argv[2])
rows = ["| tokens | mode | s/step | peak MiB | plan MiB | plan error | MFU |", "|---|---|---|---|---|---|---|"]
for line in open(f"{out}/bench.jsonl"):
    r = json.loads(line)
    if "error" in r:
        rows.append(f"| {r['error']} |||||||")
        continue
    err = r["plan_peak_mb"] / r["peak_memory_mb"] - 1
    rows.append(f"| {r['tokens']} | {r['mode']} | {r['s_per_step']:.3f} | {r['peak_memory_mb']:.0f} | "
                f"{r['plan_peak_mb']:.0f} | {err:+.1%} | {r['model_tflops_per_s'] / peak:.1%} |")
open(f"{out}/summary.md", "w").write("\n".join(rows) + "\n")
print("\n".join(rows))
PY
cat "$OUT"/plan_*.txt
