"""Validation clips during training: the transformer being trained (LoRA active), the VAE, and
prompt embeddings from the cache (the text encoder is not loaded). Written to
``OUTPUT_DIR/samples/step-N/`` with a contact sheet, and to TensorBoard."""

from __future__ import annotations

from pathlib import Path

import numpy as np


class Validator:
    def __init__(self, cfg, model, data, source):
        from vectorwan.models.loading import load_part

        self.cfg, self.model, self.data = cfg, model, data
        self.vae = load_part(source, "vae")  # small next to the text encoder, which stays unloaded

    def run(self, step: int, out_dir: Path, writer=None) -> list[str]:
        import torch
        from diffusers import WanPipeline
        from PIL import Image

        from vectorwan.atomic import atomic_path
        from vectorwan.frames import contact_sheet, write_frames
        from vectorwan.generate import to_uint8
        from vectorwan.models.tiny import build_scheduler

        v, d = self.cfg.validation, self.cfg.data
        h, w = v.height or d.resolution[0], v.width or d.resolution[1]
        dtype = self.model.dtype
        pipe = WanPipeline(tokenizer=None, text_encoder=None, vae=self.vae, transformer=self.model,
                           scheduler=build_scheduler(v.shift))
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
                                  num_inference_steps=v.steps, guidance_scale=v.guidance,
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
