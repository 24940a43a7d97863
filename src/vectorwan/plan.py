"""``vectorwan plan``: the peak memory of a config's training step, predicted for every memory mode,
and which modes fit a budget. No weights are read and no step is run.

What is counted, and how:

- **weights**: the transformer built from its config on the meta device, with the mode's fp8
  storage and the LoRA applied by the trainer's own functions (train/memory.py): bytes of every
  frozen parameter and buffer, exactly;
- **LoRA + optimizer**: the trained parameters × (weight + gradient + Adam's two moments);
- **activations**: what the backward keeps, traced on a real 2-block model of the same widths
  (one forward on the CPU in the compute dtype, at two small token counts; every saved tensor
  counted once, parameters not): per block, its input and everything its backward saves, each as
  ``a + b × tokens``; from these the mode's total: no checkpointing keeps every block's;
  checkpointing every k-th block keeps their inputs (on the host with ``offload_activations``) and
  the others' full activations, plus one block's again while it is recomputed;
- **working memory** of the backward (gradients in flight, kernels' workspace): one block's saved
  activations (a rule; docs/performance.md has how it compares with measured peaks);
- on a CPU, the **runtime** (the process after importing torch, diffusers, peft and accelerate),
  since peak RSS counts it, and with fp8 storage the **load**: a loaded base is loaded in its dtype
  and cast after, so the peak is the larger of the step and the loaded base (a ``random:`` base is
  made in fp8 directly and has none).

The relative step cost counts transformer forwards: a step is a forward and a backward (≈ 2
forwards), plus the recomputed forward of each checkpointed block. fp8 storage adds its upcasts,
which the cost does not include (on 2 CPU cores they made the step 1.8–2.4× slower; measure with
``vectorwan bench``).
"""

from __future__ import annotations

import json
import math
import resource
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from vectorwan.config import Config
from vectorwan.errors import UserError
from vectorwan.models import architectures, loading, tiny
from vectorwan.train import memory

GiB = 2**30


@dataclass(frozen=True)
class Geometry:
    transformer: dict  # the WanTransformer3DModel config
    vae: dict  # the AutoencoderKLWan config: its compression, and with the text encoder's (UMT5Config) the cache phase
    text_encoder: dict | None = None

    @property
    def vae_spatial(self) -> int:
        return _vae_scales(self.vae)[0]

    @property
    def vae_temporal(self) -> int:
        return _vae_scales(self.vae)[1]


def geometry(source: loading.ModelSource) -> Geometry:
    """The transformer's config and the VAE's compression, from configs alone."""
    if source.kind == "random":
        a = architectures.ARCHITECTURES[source.location]
        return Geometry(dict(a.transformer), a.vae, a.text_encoder)
    if source.kind == "tiny":
        return Geometry(dict(tiny.TINY_TRANSFORMER), tiny.TINY_VAE, tiny.TINY_TEXT_ENCODER)
    if source.kind == "original":
        raise UserError(f"{source.location}: plan reads a diffusers folder's configs; for the original layout use "
                        "model.path = \"random:Wan2.1-T2V-1.3B\" (the same architecture)")
    root = Path(loading.hub_snapshot(source.location) if source.kind == "hub" else source.location)
    try:
        t = json.loads((root / "transformer" / "config.json").read_text())
        v = json.loads((root / "vae" / "config.json").read_text())
        te = json.loads(p.read_text()) if (p := root / "text_encoder" / "config.json").is_file() else None
    except (OSError, json.JSONDecodeError) as e:
        raise UserError(f"{root}: cannot read transformer/config.json and vae/config.json ({e})") from None
    return Geometry({k: x for k, x in t.items() if not k.startswith("_")}, v, te)


def cache_phase(geo: Geometry) -> dict:
    """What ``vectorwan cache`` holds before training, from configs alone: the text encoder, then the
    VAE, each loaded in float32 on the CPU as the cache loads them (weights only: the encoders'
    activations are not counted). The text encoder is None where a folder has no config for it."""
    from diffusers import AutoencoderKLWan
    from transformers import UMT5Config, UMT5EncoderModel

    def nbytes(module):
        return float(sum(p.numel() for p in module.parameters()) * 4)

    with torch.device("meta"):
        te = nbytes(UMT5EncoderModel(UMT5Config.from_dict(geo.text_encoder))) if geo.text_encoder else None
        vae = nbytes(AutoencoderKLWan.from_config(geo.vae))
    return {"text_encoder": te, "vae": vae}


def _vae_scales(vae: dict) -> tuple[int, int]:
    """(spatial, temporal) compression of an AutoencoderKLWan config (Wan 2.2's names them; 2.1's: 2^downsamples)."""
    down = vae.get("temperal_downsample", [False, True, True])
    return int(vae.get("scale_factor_spatial") or 2 ** len(down)), int(vae.get("scale_factor_temporal") or 2 ** sum(down))


def latent_shape(cfg: Config, geo: Geometry) -> tuple[int, int, int, int]:
    """(channels, frames, height, width) of one item's latent at the config's size."""
    h, w = cfg.data.resolution
    frames = (cfg.data.num_frames - 1) // geo.vae_temporal + 1
    return geo.transformer["in_channels"], frames, h // geo.vae_spatial, w // geo.vae_spatial


def video_tokens(cfg: Config, geo: Geometry) -> int:
    _, f, h, w = latent_shape(cfg, geo)
    p = geo.transformer.get("patch_size", (1, 2, 2))
    return f // p[0] * (h // p[1]) * (w // p[2])


def _build(geo: Geometry, cfg: Config, mem: memory.Memory, dtype, device, layers: int | None = None):
    """The trainer's model (base dtype, the mode's fp8 storage, what is trained set up as the trainer does)."""
    from vectorwan.train.loop import WEIGHTS

    model = architectures.construct(dict(geo.transformer, **({"num_layers": layers} if layers else {})), dtype, device)
    memory.prepare_base(model, mem, dtype)
    WEIGHTS[cfg.train.mode](cfg).setup(model, memory.lora_dtype(mem))
    return model


def _bytes(model) -> tuple[int, int]:
    frozen = sum(p.numel() * p.element_size() for p in model.parameters() if not p.requires_grad)
    frozen += sum(b.numel() * b.element_size() for b in model.buffers())
    trained = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    return frozen, trained


def _saved(model, tokens: int, text_tokens: int, dtype, autocast=None) -> tuple[int, int, int]:
    """(bytes block 1 keeps for its backward, its input's bytes, bytes kept outside blocks 1…) of one
    forward at ``tokens`` video tokens, under ``autocast`` to that dtype when given (as the trainer's
    mixed precision runs on a GPU): every saved tensor counted once, parameters not."""
    c = model.config
    side = math.isqrt(tokens)  # a square number of tokens: one latent frame of side × side
    x = torch.randn(1, c.in_channels, 1, side * c.patch_size[1], side * c.patch_size[2], dtype=dtype)
    ctx = torch.randn(1, text_tokens, c.text_dim, dtype=dtype)
    # parameters are not counted; fp8-stored ones are swapped for upcast copies as each layer runs (their
    # storage is freed, and its address may come back as an activation's), so only the others are known
    params = {p.untyped_storage().data_ptr() for p in model.parameters() if p.element_size() > 1}
    seen: dict[int, tuple[str, int]] = {}
    where, inputs = ["outer"], {}

    def pack(t):
        st = t.untyped_storage()
        if st.data_ptr() not in params:
            seen.setdefault(st.data_ptr(), (where[0], st.nbytes()))
        return t

    def enter(i):
        def hook(_module, args):
            where[0] = f"block{i}"
            inputs[i] = args[0].numel() * args[0].element_size()
        return hook

    hooks = [b.register_forward_pre_hook(enter(i)) for i, b in enumerate(model.blocks)]
    hooks += [b.register_forward_hook(lambda *_: where.__setitem__(0, "outer")) for b in model.blocks]
    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), \
                torch.autocast("cpu", dtype=autocast or torch.bfloat16, enabled=autocast is not None):
            model(x, torch.tensor([500.0]), ctx, return_dict=False)
    finally:
        for h in hooks:
            h.remove()
    per = {}
    for w, n in seen.values():
        per[w] = per.get(w, 0) + n
    # block 0 also keeps what every block shares (the text context, the time embedding): count it outside
    block = per.get("block1", 0)
    outer = per.get("outer", 0) + per.get("block0", 0) - block
    return block, inputs[1], outer


@dataclass
class Activations:
    """Per block: ``block_a + block_b × tokens`` saved, ``input_b × tokens`` its input; outside: ``outer_a + outer_b × tokens``."""

    block_a: float
    block_b: float
    input_b: float
    outer_a: float
    outer_b: float

    def at(self, tokens: int) -> tuple[float, float, float]:
        return self.block_a + self.block_b * tokens, self.input_b * tokens, self.outer_a + self.outer_b * tokens


def trace_activations(geo: Geometry, cfg: Config, mem: memory.Memory, dtype, autocast=None,
                      fp8: bool = False) -> Activations:
    """:func:`_saved` on a real 2-block model at 16 and 64 tokens, as lines in the token count; with
    ``fp8``, its base stored in fp8 (the backward then also keeps each layer's upcast weights)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = _build(geo, cfg, replace(mem, fp8_base=fp8), dtype, "cpu", layers=2)
        points = [(n, _saved(model, n, cfg.model.max_sequence_length, dtype, autocast)) for n in (16, 64)]
    (n0, (b0, i0, o0)), (n1, (b1, i1, o1)) = points
    slope = lambda a, b: (b - a) / (n1 - n0)  # noqa: E731
    return Activations(b0 - slope(b0, b1) * n0, slope(b0, b1), i1 / n1, o0 - slope(o0, o1) * n0, slope(o0, o1))


@dataclass
class Prediction:
    mode: str
    memory: memory.Memory
    weights: float
    trained: float  # LoRA (or full) weights + gradients + Adam moments
    activations: float  # on the device
    host: float  # activations kept in CPU memory (offload)
    working: float
    other: float  # CPU: the runtime
    cost: float  # step time relative to the fastest mode (transformer forwards)
    load: float = 0.0  # CPU: the base as loaded, before fp8 storage casts it (in host memory, also on a GPU run)

    @property
    def step(self) -> float:
        return self.weights + self.trained + self.activations + self.working + self.other

    @property
    def peak(self) -> float:
        return max(self.step, self.load + self.other)

    def record(self) -> dict:
        return {"mode": self.mode, **self.memory.record(), "peak_gb": round(self.peak / GiB, 3),
                **{f"{k}_gb": round(getattr(self, k) / GiB, 3)
                   for k in ("weights", "trained", "activations", "host", "working", "other", "load")},
                "relative_cost": round(self.cost, 3)}


def candidates(cfg: Config, layers: int) -> list[memory.Memory]:
    """The modes, from the fastest: no checkpointing, every k-th block (k = 8, 4, 2), every block, fp8, offload.
    The modes set checkpointing, fp8 storage and the offload; the config's other knobs hold in each."""
    mc = replace(cfg.memory, checkpoint_every=None, fp8_base=None, offload_activations=None)
    out = [memory.settings(mc, "fast")]
    base = memory.settings(mc, "default")
    for k in (8, 4, 2):
        if k < layers:
            out.append(replace(base, mode=f"every-{k}", checkpoint_every=k))
    out += [base, memory.settings(mc, "fp8"), memory.settings(mc, "offload")]
    return out


def step_flops(geo: Geometry, tokens: int, text_tokens: int, batch: int = 1) -> float:
    """Model FLOPs of one training step (3 × the forward's matrix products; recomputation and the
    LoRA not counted, as MFU counts), for MFU = this / (s/step × the device's peak)."""
    c = geo.transformer
    d, f, t, s = c["num_attention_heads"] * c["attention_head_dim"], c["ffn_dim"], tokens, text_tokens
    per_layer = 2 * (4 * t * d * d + 2 * t * t * d  # self-attention: projections, scores and values
                     + 2 * t * d * d + 2 * s * d * d + 2 * t * s * d  # cross-attention
                     + 2 * t * d * f)  # feed-forward
    embed = 2 * s * (c["text_dim"] * d + d * d)
    return 3.0 * batch * (c["num_layers"] * per_layer + embed)


def runtime_bytes() -> float:
    """This process's peak resident memory so far, with the libraries a training step imports loaded
    (CPU plans add it: peak RSS counts the runtime)."""
    import accelerate  # noqa: F401
    import diffusers  # noqa: F401
    import peft  # noqa: F401

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024.0


def base_dtype(cfg: Config, device: torch.device) -> torch.dtype:
    """The dtype the trainer loads the base in on ``device`` (its Weights' base_dtype, for that device)."""
    if cfg.train.mode == "full":
        return torch.float32
    return loading.torch_dtype(cfg.model.dtype, cfg.train.mixed_precision, cuda=device.type == "cuda")


def predict(cfg: Config, device: torch.device, modes: list[memory.Memory] | None = None, cache: bool = True) -> dict:
    """The prediction of every mode (or of ``modes``), and with ``cache`` the cache phase before them.
    On a CPU the runtime is this process's peak so far, which in a fresh ``vectorwan plan`` is the
    libraries' alone."""
    other = runtime_bytes() if device.type == "cpu" else 0.0
    source = loading.resolve(cfg.model.path)
    geo = geometry(source)
    dtype = base_dtype(cfg, device)
    tokens = video_tokens(cfg, geo)
    layers = int(geo.transformer["num_layers"])
    modes = modes or candidates(cfg, layers)
    # on a GPU the trainer runs under accelerate's autocast (train.mixed_precision); on a CPU it does not
    autocast = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg.train.mixed_precision) \
        if device.type == "cuda" and cfg.train.mode == "lora" else None
    acts = trace_activations(geo, cfg, modes[0], dtype, autocast)
    block, inp, outer = acts.at(tokens)
    # fp8 storage: a block's backward also keeps the bf16 copies of its weights that the layerwise
    # casting made for the forward (autograd saves the weight a frozen linear multiplies by)
    upcast = trace_activations(geo, cfg, modes[0], dtype, autocast, fp8=True).at(tokens)[0] - block \
        if any(m.fp8_base for m in modes) else 0.0
    batch = cfg.train.batch_size
    # fp8 storage casts a loaded base after it is loaded: on a CPU the loaded base is the peak's other
    # candidate (a random-weight base is made in fp8 directly: loading.load_part's prepare)
    loaded = _bytes(_build(geo, cfg, replace(modes[0], fp8_base=False), dtype, "meta"))[0] \
        if device.type == "cpu" and source.kind != "random" and any(m.fp8_base for m in modes) else 0.0
    preds = []
    for mem in modes:
        weights, trained = _bytes(_build(geo, cfg, mem, dtype, "meta"))
        load = loaded if mem.fp8_base and device.type == "cpu" else 0.0
        saved = block + (upcast if mem.fp8_base else 0.0)  # one block's saved activations
        trained *= 4  # weight, gradient, Adam's two moments
        k = mem.checkpoint_every
        if k == 0:
            kept, host, recompute = layers * saved, 0.0, 0.0
        else:
            n = math.ceil(layers / k)
            kept = (layers - n) * saved + saved  # the others' activations, and one block recomputed
            host = n * inp if mem.offload_activations else 0.0
            kept += 0.0 if mem.offload_activations else n * inp
            recompute = n / layers
        on_device = (kept + outer) * batch + (host * batch if device.type == "cpu" else 0.0)
        cost = (3 + recompute) / 3
        preds.append(Prediction(mem.mode, mem, weights, trained, on_device, host * batch, saved * batch, other, cost,
                                load))
    return {"model": source.name, "device": device.type, "dtype": str(dtype).removeprefix("torch."),
            "tokens": tokens, "text_tokens": cfg.model.max_sequence_length, "batch_size": batch, "layers": layers,
            "predictions": preds, "cache_phase": cache_phase(geo) if cache else None}


def device_budget(cfg: Config, device: torch.device) -> float:
    if cfg.memory.vram_gb:
        return cfg.memory.vram_gb * GiB
    if device.type == "cuda":
        return float(torch.cuda.get_device_properties(device).total_memory)
    import os

    return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def choose(cfg: Config, device: torch.device) -> memory.Memory:
    """The fastest mode predicted to fit the budget (``memory.vram_gb``, or the device's memory);
    none fits: a clear error with the smallest prediction."""
    budget = device_budget(cfg, device)
    preds = predict(cfg, device, cache=False)["predictions"]  # the run's own start: the cache phase is not chosen
    for p in preds:  # from the fastest (candidates' order: fp8's upcasts and the offload's copies cost too)
        if p.peak <= budget:
            return replace(p.memory, mode=f"auto:{p.mode}")
    small = min(preds, key=lambda p: p.peak)
    raise UserError(f"memory.mode = \"auto\": no mode fits {budget / GiB:.1f} GiB; the smallest, {small.mode}, needs "
                    f"{small.peak / GiB:.1f} GiB (`vectorwan plan CONFIG` shows each); lower data.resolution or "
                    "data.num_frames")


def table(plan: dict, budget: float | None) -> str:
    rows = [f"{plan['model']} on {plan['device']} ({plan['dtype']}), {plan['tokens']} video tokens, "
            f"{plan['text_tokens']} text tokens, batch {plan['batch_size']}",
            "mode        peak GiB  weights  LoRA+Adam  activations  working  other  host  load  cost   fits"]
    for p in plan["predictions"]:
        fits = "" if budget is None else ("yes" if p.peak <= budget else "no")
        rows.append(f"{p.mode:<11} {p.peak / GiB:8.2f}  {p.weights / GiB:7.2f}  {p.trained / GiB:9.2f}  "
                    f"{p.activations / GiB:11.2f}  {p.working / GiB:7.2f}  {p.other / GiB:5.2f}  {p.host / GiB:4.2f}  "
                    f"{p.load / GiB:4.2f}  "
                    f"{p.cost:4.2f}×  {fits}")
    c = plan.get("cache_phase") or {}
    parts = [f"{name} {c[key] / GiB:.2f} GiB" for key, name in (("text_encoder", "the text encoder"), ("vae", "then the VAE"))
             if c.get(key) is not None]
    if parts:
        rows.append(f"before training, `vectorwan cache` holds on the CPU (float32): {', '.join(parts)} "
                    "(weights; the encoders' activations are not counted)")
    return "\n".join(rows)
