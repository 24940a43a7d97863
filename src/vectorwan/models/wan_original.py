"""The original Wan 2.1 file layout (what the Wan repo, DiffSynth-Studio and ComfyUI use), read
into — and written from — the diffusers / transformers classes.

A folder in this layout holds:

* ``diffusion_pytorch_model*.safetensors`` — the DiT (``blocks.N.self_attn.q.weight`` ...), one
  file or shards (with or without ``diffusion_pytorch_model.safetensors.index.json``), keys
  optionally prefixed ``model.diffusion_model.``; ``config.json`` beside it (Wan's own
  ``dim``/``num_heads``/... or a diffusers config) when present;
* ``models_t5_umt5-xxl-enc-bf16.pth`` — the UMT5-XXL encoder state dict (Wan's ``T5Encoder``
  naming), read with ``torch.load(weights_only=True)`` only;
* ``Wan2.1_VAE.pth`` — the VAE state dict, same rule;
* ``google/umt5-xxl/`` — the tokenizer.

The DiT and VAE key conversions are diffusers' own (``convert_wan_transformer_to_diffusers``,
``convert_wan_vae_to_diffusers``). Writing goes the other way: the inverse key names are
proposed by a few structural rules and then *checked by running diffusers' forward converter on
them* — every written key must convert back to exactly the diffusers key it came from, or
nothing is written. The T5 mapping (Wan ``T5Encoder`` ↔ ``UMT5EncoderModel``) is a short table.

Configs are inferred from tensor shapes. Two things shapes cannot tell: the DiT head count
(the q/k RMS norms span all heads) — taken from the ``num_heads`` argument, else ``config.json``
beside the files, else Wan's convention head_dim = 128 (1.3B: 1536/12, 14B: 5120/40) — and
the UMT5 relative-attention max distance (Wan: 128). ``save_original_layout`` also writes
``vectorwan_configs.json`` with the exact diffusers/transformers configs, which the loaders
prefer when present, so a model of any size round-trips exactly.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterable

from vectorwan.atomic import atomic_path, write_json
from vectorwan.errors import UserError

DIT_GLOB = "diffusion_pytorch_model*.safetensors"
DIT_FILE = "diffusion_pytorch_model.safetensors"
DIT_INDEX = "diffusion_pytorch_model.safetensors.index.json"
T5_FILE = "models_t5_umt5-xxl-enc-bf16.pth"
VAE_FILE = "Wan2.1_VAE.pth"
TOKENIZER_DIR = "google/umt5-xxl"
SIDECAR = "vectorwan_configs.json"
PREFIX = "model.diffusion_model."
WAN_HEAD_DIM = 128
T5_MAX_DISTANCE = 128  # Wan's T5RelativeEmbedding default


# --------------------------------------------------------------------------------------- files
def _load_safetensors(path: Path) -> dict:
    from safetensors.torch import load_file

    if not path.is_file():
        raise UserError(f"{path}: missing")
    try:
        return load_file(str(path))
    except Exception as e:  # noqa: BLE001 - corrupt header, truncated file, not safetensors
        raise UserError(f"{path}: not a readable safetensors file ({type(e).__name__}: {_first_line(e)})") from None


def _load_pth(path: Path) -> dict:
    """A torch-saved state dict, loaded with ``weights_only=True`` (no arbitrary unpickling)."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: missing")
    try:
        try:
            obj = torch.load(str(path), weights_only=True, map_location="cpu", mmap=True)
        except RuntimeError as e:
            if "mmap" not in str(e):  # legacy (non-zip) files cannot be memory-mapped
                raise
            obj = torch.load(str(path), weights_only=True, map_location="cpu")
    except Exception as e:  # noqa: BLE001 - truncated zip, pickled code refused, not a torch file
        raise UserError(f"{path}: not a readable torch state dict ({type(e).__name__}: {_first_line(e)})") from None
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise UserError(f"{path}: not a state dict of tensors")
    return dict(obj)


def _first_line(e: Exception) -> str:
    s = str(e).strip().splitlines()
    return s[0][:200] if s else ""


def _sidecar(folder: Path, part: str) -> dict | None:
    f = folder / SIDECAR
    if not f.is_file():
        return None
    try:
        data = json.loads(f.read_text())
    except (OSError, ValueError) as e:
        raise UserError(f"{f}: not valid JSON ({_first_line(e)})") from None
    return data.get(part)


def _dit_files(files_or_dir) -> list[Path]:
    if isinstance(files_or_dir, (str, Path)):
        p = Path(files_or_dir)
        if p.is_dir():
            index = p / DIT_INDEX
            if index.is_file():
                try:
                    weight_map = json.loads(index.read_text())["weight_map"]
                except (OSError, ValueError, KeyError, TypeError) as e:
                    raise UserError(f"{index}: not a valid safetensors index ({_first_line(e)})") from None
                return [p / name for name in sorted(set(weight_map.values()))]
            files = sorted(p.glob(DIT_GLOB))
            if not files:
                raise UserError(f"{p}: no {DIT_GLOB} file (the Wan DiT weights)")
            return files
        return [p]
    files = [Path(f) for f in files_or_dir]
    if not files:
        raise UserError("no DiT weight files given")
    return files


def read_original_dit(files_or_dir) -> dict:
    """All DiT tensors of one or several safetensors files, ``model.diffusion_model.`` stripped."""
    sd: dict = {}
    for f in _dit_files(files_or_dir):
        for k, v in _load_safetensors(f).items():
            k = k[len(PREFIX):] if k.startswith(PREFIX) else k
            if k in sd:
                raise UserError(f"{f}: tensor {k} is also in another shard")
            sd[k] = v
    return sd


# ------------------------------------------------------------------------------- dtype + loading
def _assign(model, sd: dict, dtype, keep_fp32: Iterable[str], what: str):
    """Load ``sd`` (exactly the model's keys) into a model built on the meta device."""
    import torch

    expected = set(model.state_dict().keys())
    missing = sorted(expected - set(sd))
    unexpected = sorted(set(sd) - expected)
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {', '.join(missing[:4])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:4])})")
        raise UserError(f"{what}: weights do not match the inferred architecture: {'; '.join(parts)}")
    keep = tuple(keep_fp32)
    cast = {}
    for k in list(sd):  # pop as we go: peak memory stays near one copy of the weights
        v = sd.pop(k)
        w = v.to(torch.float32 if any(m in k.split(".") for m in keep) else dtype) if v.is_floating_point() else v
        # a fresh, aligned allocation: tensors sliced out of a file buffer can be unaligned, and
        # CPU kernels then sum in another order (last-bit differences from from_pretrained)
        cast[k] = w.clone(memory_format=torch.contiguous_format) if w is v else w.contiguous()
        del v, w
    model.load_state_dict(cast, strict=True, assign=True)
    left = [n for n, p in list(model.named_parameters()) + list(model.named_buffers()) if p.device.type == "meta"]
    if left:
        raise UserError(f"{what}: tensors left unloaded: {', '.join(left[:4])}")
    return model.eval()


def _shape(sd: dict, key: str, what: str):
    if key not in sd:
        raise UserError(f"{what}: tensor {key} is missing; not a Wan 2.1 checkpoint of this kind")
    return tuple(sd[key].shape)


# ----------------------------------------------------------------------------------------- DiT
_DIT_INVERSE = [  # diffusers name -> original Wan name (checked by the forward converter)
    (r"^condition_embedder\.time_embedder\.linear_1\.", "time_embedding.0."),
    (r"^condition_embedder\.time_embedder\.linear_2\.", "time_embedding.2."),
    (r"^condition_embedder\.text_embedder\.linear_1\.", "text_embedding.0."),
    (r"^condition_embedder\.text_embedder\.linear_2\.", "text_embedding.2."),
    (r"^condition_embedder\.time_proj\.", "time_projection.1."),
    (r"^condition_embedder\.image_embedder\.norm1\.", "img_emb.proj.0."),
    (r"^condition_embedder\.image_embedder\.ff\.net\.0\.proj\.", "img_emb.proj.1."),
    (r"^condition_embedder\.image_embedder\.ff\.net\.2\.", "img_emb.proj.3."),
    (r"^condition_embedder\.image_embedder\.norm2\.", "img_emb.proj.4."),
    (r"^condition_embedder\.image_embedder\.pos_embed$", "img_emb.emb_pos"),
    (r"^scale_shift_table$", "head.modulation"),
    (r"^proj_out\.", "head.head."),
    (r"^(blocks\.\d+)\.scale_shift_table$", r"\1.modulation"),
    (r"^(blocks\.\d+)\.attn1\.", r"\1.self_attn."),
    (r"^(blocks\.\d+)\.attn2\.", r"\1.cross_attn."),
    (r"\.to_out\.0\.", ".o."),
    (r"\.to_q\.", ".q."),
    (r"\.to_k\.", ".k."),
    (r"\.to_v\.", ".v."),
    (r"\.add_k_proj\.", ".k_img."),
    (r"\.add_v_proj\.", ".v_img."),
    (r"\.norm_added_k\.", ".norm_k_img."),
    (r"^(blocks\.\d+)\.ffn\.net\.0\.proj\.", r"\1.ffn.0."),
    (r"^(blocks\.\d+)\.ffn\.net\.2\.", r"\1.ffn.2."),
    (r"^(blocks\.\d+)\.norm2\.", r"\1.norm__swap."),  # diffusers norm2 (cross-attn norm) = Wan norm3
    (r"^(blocks\.\d+)\.norm3\.", r"\1.norm2."),
    (r"^(blocks\.\d+)\.norm__swap\.", r"\1.norm3."),
]


def dit_keys_to_diffusers(original_keys: Iterable[str]) -> dict[str, str]:
    """original Wan key -> diffusers key, computed by diffusers' own converter on the names."""
    from diffusers.loaders.single_file_utils import convert_wan_transformer_to_diffusers

    names = {k: k for k in original_keys}  # the converter passes values through: value = original name
    converted = convert_wan_transformer_to_diffusers(dict(names))
    return {orig: new for new, orig in converted.items()}


def dit_keys_to_original(diffusers_keys: Iterable[str]) -> dict[str, str]:
    """diffusers key -> original Wan key; every answer is verified with diffusers' converter."""
    keys = list(diffusers_keys)
    inverse = {}
    for k in keys:
        o = k
        for pat, rep in _DIT_INVERSE:
            o = re.sub(pat, rep, o)
        inverse[k] = o
    forward = dit_keys_to_diffusers(inverse.values())
    bad = [k for k in keys if forward.get(inverse[k]) != k]
    if bad or len(set(inverse.values())) != len(keys):
        raise UserError(f"DiT key(s) without an original Wan name: {', '.join(bad[:4]) or 'duplicate names'}")
    return inverse


def _read_dit_config(files: list[Path]) -> dict:
    f = files[0].parent / "config.json"
    if not f.is_file():
        return {}
    try:
        cfg = json.loads(f.read_text())
    except (OSError, ValueError) as e:
        raise UserError(f"{f}: not valid JSON ({_first_line(e)})") from None
    return cfg if isinstance(cfg, dict) else {}


def infer_transformer_config(sd: dict, num_heads: int | None = None, config: dict | None = None) -> dict:
    """diffusers ``WanTransformer3DModel`` kwargs from original-layout tensor shapes.

    ``config`` may be Wan's own ``config.json`` (``num_heads``, ``eps``, ...) or a diffusers config
    (``num_attention_heads``, ...); ``num_heads`` overrides both. Without either, the head count
    follows Wan's convention head_dim = 128.
    """
    what = "Wan DiT"
    config = dict(config or {})
    dim, in_ch, *patch = _shape(sd, "patch_embedding.weight", what)
    blocks = {int(k.split(".")[1]) for k in sd if k.startswith("blocks.")}
    if not blocks or blocks != set(range(len(blocks))):
        raise UserError(f"{what}: blocks are missing or not numbered 0..N-1")
    head_out = _shape(sd, "head.head.weight", what)[0]
    p = patch[0] * patch[1] * patch[2]
    heads = num_heads or config.get("num_heads") or config.get("num_attention_heads")
    if not heads:
        if dim % WAN_HEAD_DIM:
            raise UserError(
                f"{what}: hidden size {dim} is not a multiple of Wan's head size {WAN_HEAD_DIM}; "
                "give the head count (num_heads) or a config.json beside the weights"
            )
        heads = dim // WAN_HEAD_DIM
    heads = int(heads)
    if dim % heads:
        raise UserError(f"{what}: hidden size {dim} is not divisible by {heads} heads")
    cfg = dict(
        patch_size=tuple(patch),
        num_attention_heads=heads,
        attention_head_dim=dim // heads,
        in_channels=in_ch,
        out_channels=head_out // p,
        text_dim=_shape(sd, "text_embedding.0.weight", what)[1],
        freq_dim=_shape(sd, "time_embedding.0.weight", what)[1],
        ffn_dim=_shape(sd, "blocks.0.ffn.0.weight", what)[0],
        num_layers=len(blocks),
        cross_attn_norm="blocks.0.norm3.weight" in sd,
        qk_norm="rms_norm_across_heads" if "blocks.0.self_attn.norm_q.weight" in sd else None,
        eps=float(config.get("eps", 1e-6)),
    )
    if "img_emb.proj.0.weight" in sd:  # image-to-video variants
        cfg["image_dim"] = _shape(sd, "img_emb.proj.0.weight", what)[0]
        cfg["added_kv_proj_dim"] = dim
    if "img_emb.emb_pos" in sd:
        cfg["pos_embed_seq_len"] = _shape(sd, "img_emb.emb_pos", what)[1]
    if "rope_max_seq_len" in config:
        cfg["rope_max_seq_len"] = int(config["rope_max_seq_len"])
    return cfg


def load_original_transformer(files_or_dir, dtype=None, *, num_heads: int | None = None,
                              config: dict | None = None):
    """A diffusers ``WanTransformer3DModel`` from Wan's original DiT safetensors file(s).

    ``files_or_dir``: a folder (all ``diffusion_pytorch_model*.safetensors``, or those its index
    lists), one file, or a list of shard files. Built on the meta device, then the converted
    tensors are assigned; any missing or unexpected key is a ``UserError``.
    """
    import torch
    from accelerate import init_empty_weights
    from diffusers import WanTransformer3DModel
    from diffusers.loaders.single_file_utils import convert_wan_transformer_to_diffusers

    dtype = dtype or torch.float32
    files = _dit_files(files_or_dir)
    sd = read_original_dit(files)
    exact = _sidecar(files[0].parent, "transformer") if config is None and num_heads is None else None
    if exact:
        cfg = {k: v for k, v in exact.items() if not k.startswith("_")}
    else:
        cfg = infer_transformer_config(sd, num_heads, config if config is not None else _read_dit_config(files))
    converted = convert_wan_transformer_to_diffusers(sd)  # pops from sd: one reference per tensor
    with init_empty_weights():
        model = WanTransformer3DModel(**cfg)
    keep = WanTransformer3DModel._keep_in_fp32_modules if dtype != torch.float32 else ()
    return _assign(model, converted, dtype, keep or (), f"{files[0].parent if len(files) > 1 else files[0]}")


def transformer_to_original(transformer) -> dict:
    """The transformer's tensors under original Wan names."""
    sd = transformer.state_dict()
    names = dit_keys_to_original(sd.keys())
    return {names[k]: v for k, v in sd.items()}


def wan_dit_config(transformer) -> dict:
    """Wan's own ``config.json`` for the DiT (what the Wan-AI releases ship beside the weights)."""
    c = transformer.config
    return {
        "_class_name": "WanModel", "model_type": "i2v" if c.image_dim else "t2v",
        "patch_size": list(c.patch_size), "dim": c.num_attention_heads * c.attention_head_dim,
        "ffn_dim": c.ffn_dim, "freq_dim": c.freq_dim, "in_dim": c.in_channels, "out_dim": c.out_channels,
        "text_dim": c.text_dim, "num_heads": c.num_attention_heads, "num_layers": c.num_layers,
        "eps": c.eps, "qk_norm": c.qk_norm is not None, "cross_attn_norm": c.cross_attn_norm,
        "text_len": 512,
    }


# ----------------------------------------------------------------------------------------- VAE
_VAE_RES = {"norm1.gamma": "residual.0.gamma", "conv1": "residual.2", "norm2.gamma": "residual.3.gamma",
            "conv2": "residual.6", "conv_shortcut": "shortcut"}


def _vae_res(rest: str) -> str:
    for d, o in _VAE_RES.items():
        if rest == d or rest.startswith(d + "."):
            return o + rest[len(d):]
    return rest  # resample.*, time_conv.* keep their names


def vae_keys_to_diffusers(original_keys: Iterable[str]) -> dict[str, str]:
    from diffusers.loaders.single_file_utils import convert_wan_vae_to_diffusers

    converted = convert_wan_vae_to_diffusers({k: k for k in original_keys})
    return {orig: new for new, orig in converted.items()}


def vae_keys_to_original(diffusers_keys: Iterable[str], num_res_blocks: int) -> dict[str, str]:
    """diffusers VAE key -> original Wan key, verified with diffusers' converter."""
    per_level = num_res_blocks + 2  # decoder: (num_res_blocks + 1) residual blocks + 1 resample per level
    keys = list(diffusers_keys)
    inverse = {}
    for k in keys:
        part, _, rest = k.partition(".")
        if k.startswith("quant_conv."):
            o = "conv1." + k[len("quant_conv."):]
        elif k.startswith("post_quant_conv."):
            o = "conv2." + k[len("post_quant_conv."):]
        elif rest.startswith("conv_in."):
            o = f"{part}.conv1.{rest[len('conv_in.'):]}"
        elif rest.startswith("norm_out."):
            o = f"{part}.head.0.{rest[len('norm_out.'):]}"
        elif rest.startswith("conv_out."):
            o = f"{part}.head.2.{rest[len('conv_out.'):]}"
        elif m := re.match(r"mid_block\.resnets\.(\d+)\.(.+)$", rest):
            o = f"{part}.middle.{2 * int(m[1])}.{_vae_res(m[2])}"
        elif m := re.match(r"mid_block\.attentions\.0\.(.+)$", rest):
            o = f"{part}.middle.1.{m[1]}"
        elif m := re.match(r"down_blocks\.(\d+)\.(.+)$", rest):
            o = f"{part}.downsamples.{m[1]}.{_vae_res(m[2])}"
        elif m := re.match(r"up_blocks\.(\d+)\.resnets\.(\d+)\.(.+)$", rest):
            o = f"{part}.upsamples.{int(m[1]) * per_level + int(m[2])}.{_vae_res(m[3])}"
        elif m := re.match(r"up_blocks\.(\d+)\.upsamplers\.0\.(.+)$", rest):
            o = f"{part}.upsamples.{int(m[1]) * per_level + per_level - 1}.{m[2]}"
        else:
            o = k
        inverse[k] = o
    forward = vae_keys_to_diffusers(inverse.values())
    bad = [k for k in keys if forward.get(inverse[k]) != k]
    if bad or len(set(inverse.values())) != len(keys):
        raise UserError(
            "this VAE has no original Wan 2.1 layout that diffusers' converter maps back "
            f"(e.g. {', '.join(bad[:3]) or 'duplicate names'}); the layout needs num_res_blocks=2 and "
            "dim_mult shaped like Wan 2.1's [1, 2, 4, 4]"
        )
    return inverse


def infer_vae_config(sd: dict) -> dict:
    """``AutoencoderKLWan`` kwargs from original-layout VAE tensor shapes."""
    what = "Wan VAE"
    base, in_ch = _shape(sd, "encoder.conv1.weight", what)[:2]
    z_dim = _shape(sd, "conv2.weight", what)[0]
    out_ch = _shape(sd, "decoder.head.2.weight", what)[0]
    idx = sorted({int(k.split(".")[2]) for k in sd if k.startswith("encoder.downsamples.")})
    levels, current, temporal = [], [], []
    for i in idx:
        p = f"encoder.downsamples.{i}."
        if p + "residual.2.weight" in sd:
            current.append(sd[p + "residual.2.weight"].shape[0])
        elif p + "resample.1.weight" in sd:
            levels.append(current)
            current = []
            temporal.append(p + "time_conv.weight" in sd)
        else:
            raise UserError(f"{what}: encoder.downsamples.{i} is neither a residual nor a resample block")
    levels.append(current)
    if not all(levels) or len({len(lv) for lv in levels}) != 1:
        raise UserError(f"{what}: encoder levels have uneven residual blocks {[len(lv) for lv in levels]}")
    cfg = dict(base_dim=base, z_dim=z_dim, dim_mult=[lv[0] // base for lv in levels],
               num_res_blocks=len(levels[0]), temperal_downsample=temporal,
               in_channels=in_ch, out_channels=out_ch)
    if z_dim != 16:  # diffusers' defaults are Wan 2.1's 16-channel latent statistics
        cfg.update(latents_mean=[0.0] * z_dim, latents_std=[1.0] * z_dim)
    return cfg


def load_original_vae(path, dtype=None, *, config: dict | None = None):
    """A diffusers ``AutoencoderKLWan`` from ``Wan2.1_VAE.pth`` (a file, or a folder holding it)."""
    import torch
    from accelerate import init_empty_weights
    from diffusers import AutoencoderKLWan
    from diffusers.loaders.single_file_utils import convert_wan_vae_to_diffusers

    dtype = dtype or torch.float32
    path = Path(path)
    if path.is_dir():
        path = path / VAE_FILE
    sd = _load_pth(path)
    cfg = config or _sidecar(path.parent, "vae") or infer_vae_config(sd)
    cfg = {k: v for k, v in cfg.items() if not k.startswith("_")}
    with init_empty_weights():
        model = AutoencoderKLWan(**cfg)
    converted = convert_wan_vae_to_diffusers(sd)
    del sd
    return _assign(model, converted, dtype, (), str(path))


def vae_to_original(vae) -> dict:
    sd = vae.state_dict()
    names = vae_keys_to_original(sd.keys(), vae.config.num_res_blocks)
    return {names[k]: v for k, v in sd.items()}


# ---------------------------------------------------------------------------------- T5 encoder
def _t5_table(num_layers: int) -> dict[str, str]:
    """Wan ``T5Encoder`` name -> transformers ``UMT5EncoderModel`` name."""
    table = {"token_embedding.weight": "shared.weight", "norm.weight": "encoder.final_layer_norm.weight"}
    for i in range(num_layers):
        w, h = f"blocks.{i}.", f"encoder.block.{i}.layer."
        table.update({
            w + "norm1.weight": h + "0.layer_norm.weight",
            w + "attn.q.weight": h + "0.SelfAttention.q.weight",
            w + "attn.k.weight": h + "0.SelfAttention.k.weight",
            w + "attn.v.weight": h + "0.SelfAttention.v.weight",
            w + "attn.o.weight": h + "0.SelfAttention.o.weight",
            w + "pos_embedding.embedding.weight": h + "0.SelfAttention.relative_attention_bias.weight",
            w + "norm2.weight": h + "1.layer_norm.weight",
            w + "ffn.gate.0.weight": h + "1.DenseReluDense.wi_0.weight",  # gelu(gate(x)) * fc1(x)
            w + "ffn.fc1.weight": h + "1.DenseReluDense.wi_1.weight",
            w + "ffn.fc2.weight": h + "1.DenseReluDense.wo.weight",
        })
    return table


def infer_text_encoder_config(sd: dict) -> dict:
    """``UMT5Config`` kwargs from Wan ``T5Encoder`` tensor shapes (UMT5: one position bias per layer)."""
    what = "Wan UMT5 encoder"
    if "pos_embedding.embedding.weight" in sd:
        raise UserError(f"{what}: shared position bias (plain T5); only UMT5 encoders are supported")
    vocab, d_model = _shape(sd, "token_embedding.weight", what)
    layers = {int(k.split(".")[1]) for k in sd if k.startswith("blocks.")}
    inner = _shape(sd, "blocks.0.attn.q.weight", what)[0]
    buckets, heads = _shape(sd, "blocks.0.pos_embedding.embedding.weight", what)
    return dict(
        vocab_size=vocab, d_model=d_model, d_kv=inner // heads, num_heads=heads, num_layers=len(layers),
        d_ff=_shape(sd, "blocks.0.ffn.fc1.weight", what)[0], relative_attention_num_buckets=buckets,
        relative_attention_max_distance=T5_MAX_DISTANCE, feed_forward_proj="gated-gelu",
        layer_norm_epsilon=1e-6, dropout_rate=0.0, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
        tie_word_embeddings=False,
    )


def load_original_text_encoder(path, dtype=None, *, config: dict | None = None):
    """A transformers ``UMT5EncoderModel`` from Wan's ``models_t5_umt5-xxl-enc-bf16.pth``."""
    import torch
    from accelerate import init_empty_weights
    from transformers import UMT5Config, UMT5EncoderModel

    dtype = dtype or torch.float32
    path = Path(path)
    if path.is_dir():
        path = path / T5_FILE
    sd = _load_pth(path)
    cfg = config or _sidecar(path.parent, "text_encoder") or infer_text_encoder_config(sd)
    cfg = UMT5Config(**{k: v for k, v in cfg.items() if k not in ("architectures", "transformers_version")})
    table = _t5_table(cfg.num_layers)
    unknown = sorted(set(sd) - set(table))
    if unknown:
        raise UserError(f"{path}: unexpected tensor(s) for a Wan UMT5 encoder: {', '.join(unknown[:4])}")
    hf = {table[k]: sd.pop(k) for k in list(sd)}
    if "shared.weight" in hf:
        hf["encoder.embed_tokens.weight"] = hf["shared.weight"]
    with init_empty_weights():
        model = UMT5EncoderModel(cfg)
    keep = ("wo",) if dtype == torch.float16 else ()
    model = _assign(model, hf, dtype, keep, str(path))
    model.set_input_embeddings(model.shared)  # one input-embedding tensor, as from_pretrained gives
    return model


def text_encoder_to_original(text_encoder) -> dict:
    sd = text_encoder.state_dict()
    back = {v: k for k, v in _t5_table(text_encoder.config.num_layers).items()}
    out = {back[k]: v for k, v in sd.items() if k in back}
    left = sorted(set(sd) - set(back) - {"encoder.embed_tokens.weight"})
    if left:
        raise UserError(f"text encoder tensor(s) without a Wan T5 name: {', '.join(left[:4])}")
    return out


def find_original_tokenizer(folder) -> Path | None:
    p = Path(folder) / TOKENIZER_DIR
    return p if p.is_dir() else None


# --------------------------------------------------------------------------------------- write
def _save_safetensors(tensors: dict, path: Path, metadata: dict | None = None) -> None:
    from safetensors.torch import save_file

    with atomic_path(path) as tmp:
        save_file({k: v.detach().contiguous() for k, v in tensors.items()}, str(tmp), metadata=metadata)


def _save_pth(tensors: dict, path: Path) -> None:
    import torch

    with atomic_path(path) as tmp:
        torch.save({k: v.detach().contiguous() for k, v in tensors.items()}, str(tmp))


def save_original_transformer(transformer, out_dir, *, shards: int = 1, prefix: str = "") -> list[Path]:
    """Write the DiT as ``diffusion_pytorch_model.safetensors`` (or ``shards`` files + index)."""

    out_dir = Path(out_dir)
    sd = {prefix + k: v for k, v in transformer_to_original(transformer).items()}
    keys = list(sd)
    if shards <= 1:
        _save_safetensors(sd, out_dir / DIT_FILE, {"format": "pt"})
        written = [out_dir / DIT_FILE]
    else:
        n = -(-len(keys) // shards)
        groups = [keys[i:i + n] for i in range(0, len(keys), n)]
        written, weight_map = [], {}
        for i, group in enumerate(groups, 1):
            name = f"diffusion_pytorch_model-{i:05d}-of-{len(groups):05d}.safetensors"
            _save_safetensors({k: sd[k] for k in group}, out_dir / name, {"format": "pt"})
            weight_map.update(dict.fromkeys(group, name))
            written.append(out_dir / name)
        total = sum(v.numel() * v.element_size() for v in sd.values())
        write_json(out_dir / DIT_INDEX, {"metadata": {"total_size": total}, "weight_map": weight_map})
        written.append(out_dir / DIT_INDEX)
    write_json(out_dir / "config.json", wan_dit_config(transformer))
    return written + [out_dir / "config.json"]


def save_original_layout(transformer, vae, text_encoder, out_dir, *, tokenizer=None, shards: int = 1) -> dict:
    """Write the three Wan files (any component may be ``None`` to skip it).

    Tensors keep the models' dtypes (Wan's own T5 file is bf16; its name is kept regardless).
    Also writes ``vectorwan_configs.json`` with the exact configs, and the tokenizer into
    ``google/umt5-xxl/`` when given. Returns {component: path}.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    written: dict = {}
    configs: dict = {}
    # convert everything before writing anything, so an unsupported component writes nothing
    vae_sd = vae_to_original(vae) if vae is not None else None
    t5_sd = text_encoder_to_original(text_encoder) if text_encoder is not None else None
    if transformer is not None:
        dit_keys_to_original(transformer.state_dict().keys())
        written["transformer"] = save_original_transformer(transformer, out_dir, shards=shards)[0]
        configs["transformer"] = _plain(transformer.config)
    if vae_sd is not None:
        _save_pth(vae_sd, out_dir / VAE_FILE)
        written["vae"] = out_dir / VAE_FILE
        configs["vae"] = _plain(vae.config)
    if t5_sd is not None:
        _save_pth(t5_sd, out_dir / T5_FILE)
        written["text_encoder"] = out_dir / T5_FILE
        d = text_encoder.config.to_dict()
        configs["text_encoder"] = {k: v for k, v in d.items() if k in _UMT5_KEYS}
    if tokenizer is not None:
        tokenizer.save_pretrained(str(out_dir / TOKENIZER_DIR))
        written["tokenizer"] = out_dir / TOKENIZER_DIR
    write_json(out_dir / SIDECAR, configs)
    return written


_UMT5_KEYS = {
    "vocab_size", "d_model", "d_kv", "d_ff", "num_layers", "num_heads", "relative_attention_num_buckets",
    "relative_attention_max_distance", "dropout_rate", "layer_norm_epsilon", "initializer_factor",
    "feed_forward_proj", "pad_token_id", "eos_token_id", "decoder_start_token_id", "tie_word_embeddings",
    "classifier_dropout", "scalable_attention",
}


def _plain(config) -> dict:
    out = {}
    for k, v in dict(config).items():
        if k.startswith("_"):
            continue
        out[k] = list(v) if isinstance(v, tuple) else v
    return out
