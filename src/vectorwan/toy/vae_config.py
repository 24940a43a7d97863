"""The toy VAE pre-training config (`vectorwan toy pretrain-vae`): one run's settings.

Each option is declared once, as a field here: ``flag`` fields carry their command-line help
(see :mod:`vectorwan.dataclass_args`), and the verb builds its flags and the config from them.
Light on purpose (no numpy / torch): the verb reads these fields when it builds its parser.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from vectorwan.dataclass_args import flag
from vectorwan.errors import UserError

N_HELD_OUT = 8
PROBE_TARGETS = ("colour", "palette")
PROBE_AT = ("latent", "decoder")
POSTERIORS = ("sample", "mode")


@dataclass
class VaeTrainConfig:
    """One training run. ``flag`` fields are `vectorwan toy pretrain-vae`'s flags, in its help order."""

    out_dir: str = flag(help="folder for checkpoints and the log")
    steps: int = flag(1000, help="total optimizer steps (default 1000)")
    batch_size: int = flag(4, help="clips per step (default 4)")
    lr: float = flag(1e-3, help="AdamW learning rate (default 1e-3)")
    # >= 9 and 4n+1: a VAE trained on 5 frames fails on 17
    frames: int = flag(17, help="frames per clip, 4n+1 and >= 9 (default 17)")
    size: int = flag(64, help="frame side, a multiple of 16 (default 64)")
    seed: int = flag(0, help="seed for init and data order (default 0)")
    save_every: int = flag(100, metavar="N", help="checkpoint every N steps (default 100)")
    eval_every: int = flag(50, metavar="N", help="held-out PSNR every N steps (default 50)")
    init: str = flag("", metavar="DIR", help="start from this VAE folder (e.g. another run's checkpoint/vae)")
    # freeze encoder + quant_conv (latents stay valid for a DiT trained on them)
    decoder_only: bool = flag(False, help="train only the decoder (encoder frozen: latents a DiT was trained on "
                                          "stay valid)")
    # chroma: pixel minus its grey; the term is foreground-weighted
    chroma_weight: float = flag(0.0, metavar="W", help="add W × L1 of the chroma error (tells neighbouring hues "
                                                       "apart; default 0)")
    probe_weight: float = flag(0.0, metavar="W", help="add W × the colour probe loss (colours must be readable "
                                                      "from latent directions; default 0)")
    probe_target: str = flag("colour", choices=PROBE_TARGETS,
                             help="what the probe reads from a body latent: its mean RGB (default) or which world "
                                  "colour it is (one-hot: every pair of colours weighs the same, so blue/purple "
                                  "count as much as red/green)")
    probe_at: str = flag("latent", choices=PROBE_AT,
                         help="where the probe reads: the latents' directions (default) or the directions of the "
                              "decoder's first features (conv_in's output, which the decoder normalises next)")
    posterior: str = flag("sample", choices=POSTERIORS,
                          help="decode a posterior sample (a VAE, default) or its mode (what the DiT's cache uses)")
    # see batch_spec
    balanced: bool = flag(False, help="every colour in every batch (colours go round a permutation; use "
                                      "--batch-size 6)")
    # see anchor_spec
    anchors: list[str] = flag([], metavar="COLOUR",
                              help="add one fixed clip per COLOUR (repeats allowed) to every batch, the same clips "
                                   "at every step: parts colours the VAE has merged, e.g. --anchors blue purple "
                                   "blue purple")
    # see is_striped
    striped: float = flag(0.0, metavar="SHARE", help="this share of training clips get dark stripes across the "
                                                     "body (texture; default 0)")
    # not flags
    base_dim: int = 16
    dim_mult: list[int] = field(default_factory=lambda: [1, 2, 2, 2])
    z_dim: int = 16
    num_res_blocks: int = 1
    kl_weight: float = 1e-6
    fg_weight: float = 10.0  # shape pixels (not white) weigh this much more than background ones
    mse_weight: float = 1.0  # + this × squared error (L1 alone sits on an all-white output for hundreds of steps)
    n_eval: int = N_HELD_OUT

    def validate(self) -> None:
        if self.frames < 9 or (self.frames - 1) % 4:
            raise UserError(f"--frames must be 4n+1 and at least 9 (9, 13, 17, ...), got {self.frames}")
        if self.size < 16 or self.size % 16:
            raise UserError(f"--size must be a positive multiple of 16, got {self.size}")
        for name in ("steps", "batch_size", "save_every", "eval_every", "n_eval"):
            if int(getattr(self, name)) < 1:
                raise UserError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise UserError(f"--lr must be positive, got {self.lr}")
        if self.posterior not in POSTERIORS:
            raise UserError(f"--posterior must be 'sample' or 'mode', got {self.posterior!r}")
        if not 0.0 <= self.striped <= 1.0:
            raise UserError(f"--striped must be in [0, 1], got {self.striped}")
        if self.chroma_weight < 0:
            raise UserError(f"--chroma-weight must be >= 0, got {self.chroma_weight}")
        if self.probe_weight < 0:
            raise UserError(f"--probe-weight must be >= 0, got {self.probe_weight}")
        if self.probe_target not in PROBE_TARGETS:
            raise UserError(f"--probe-target must be one of {', '.join(PROBE_TARGETS)}, got {self.probe_target!r}")
        if self.probe_at not in PROBE_AT:
            raise UserError(f"--probe-at must be one of {', '.join(PROBE_AT)}, got {self.probe_at!r}")
        from vectorwan.toy import world

        if any(c not in world.COLOURS for c in self.anchors):
            raise UserError(f"--anchors must name world colours ({', '.join(world.COLOURS)}), got {' '.join(self.anchors)}")
        if self.probe_weight and self.decoder_only and self.probe_at == "latent":
            raise UserError("--probe-weight on latents trains the encoder; with --decoder-only use --probe-at decoder")

    def model_fields(self) -> dict:
        """Everything that must match between a checkpoint and a resumed run (all but steps/out_dir/...)."""
        d = dataclasses.asdict(self)
        for k in ("out_dir", "steps", "save_every", "eval_every"):
            d.pop(k)
        for k, default in (("chroma_weight", 0.0), ("posterior", "sample"), ("balanced", False), ("striped", 0.0),
                           ("probe_weight", 0.0), ("probe_target", "colour"),
                           ("probe_at", "latent"), ("anchors", [])):  # older checkpoints lack them
            if d[k] == default:
                d.pop(k)
        return d
