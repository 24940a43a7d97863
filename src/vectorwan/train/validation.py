"""Validation clips during training: the transformer being trained (LoRA active), the VAE, and
prompt embeddings from the cache (the text encoder is not loaded). Written to
``OUTPUT_DIR/samples/step-N/`` with a contact sheet, and to TensorBoard.

Steps, guidance, shift and negative prompt left out of ``[validation]`` are the model's own
sampling defaults (:func:`vectorwan.models.loading.sampling_defaults`), the settings
``vectorwan generate`` uses for it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from vectorwan.atomic import atomic_path
from vectorwan.config import Config
from vectorwan.frames import contact_sheet, to_uint8, write_frames
from vectorwan.models import loading

SETTINGS = ("steps", "guidance", "shift", "negative_prompt")


def validation_settings(cfg: Config, source=None) -> dict:
    """``[validation]``'s steps, guidance, shift and negative prompt, each left out → the model's default
    (read only when one is left out)."""
    v = cfg.validation
    given = {k: getattr(v, k) for k in SETTINGS if getattr(v, k) is not None}
    if len(given) == len(SETTINGS):
        return given
    defaults = loading.sampling_defaults(source or cfg.model.path)
    return {**{k: defaults[k] for k in SETTINGS}, **given}


class Validator:
    def __init__(self, cfg, model, data, source):
        self.cfg, self.model, self.data = cfg, model, data
        self.vae = loading.load_part(source, "vae")  # small next to the text encoder, which stays unloaded
        self.settings = validation_settings(cfg, source)
        self.scheduler = loading.flow_scheduler(source, self.settings["shift"])
        self.options = loading.pipeline_options(source)

    def run(self, step: int, out_dir: Path, writer=None) -> list[str]:
        import torch
        from diffusers import WanPipeline

        v, d, s = self.cfg.validation, self.cfg.data, self.settings
        h, w = v.height or d.resolution[0], v.width or d.resolution[1]
        dtype = self.model.dtype
        pipe = WanPipeline(tokenizer=None, text_encoder=None, vae=self.vae, transformer=self.model,
                           scheduler=self.scheduler, **self.options)
        *prompts, negative = self.data.validation_texts
        neg = self.data.padded_text(negative)[None].to(self.model.device, dtype)
        was_training = self.model.training
        self.model.eval()
        folder = out_dir / "samples" / f"step-{step:07d}"
        written, sheets = [], []
        try:
            with torch.no_grad():
                for i, emb in enumerate(prompts):
                    frames = pipe(prompt_embeds=self.data.padded_text(emb)[None].to(self.model.device, dtype),
                                  negative_prompt_embeds=neg, height=h, width=w, num_frames=v.num_frames,
                                  num_inference_steps=s["steps"], guidance_scale=s["guidance"],
                                  generator=torch.Generator().manual_seed(v.seed + i), output_type="np").frames[0]
                    clip = to_uint8(np.asarray(frames))
                    path = folder / (f"{i:02d}.png" if len(clip) == 1 else f"{i:02d}.mp4")
                    write_frames(path, clip, fps=d.fps)
                    sheets.append(contact_sheet(clip, n=8))
                    written.append(str(path))
        finally:
            self.model.train(was_training)
        width = max(s.shape[1] for s in sheets)
        sheet = np.concatenate([np.pad(s, ((0, 0), (0, width - s.shape[1]), (0, 0)), constant_values=255) for s in sheets])
        with atomic_path(folder / "sheet.png") as tmp:
            Image.fromarray(sheet).save(tmp, format="PNG")
        if writer is not None:
            writer.add_image("validation", sheet, step, dataformats="HWC")
        return written
