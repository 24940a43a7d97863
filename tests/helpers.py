"""Small builders shared by tests: datasets made on the fly, tiny configs."""

from __future__ import annotations

from pathlib import Path

from vectorwan.toy.character import make_character_dataset


def make_image_dataset(root: Path, n: int = 4, size: int = 64, trigger: str = "blobby_tok") -> Path:
    """A reference-format dataset (metadata.csv + train/) of the toy character (RGBA stills)."""
    return make_character_dataset(root, n=n, size=size, trigger=trigger)


def make_mixed_dataset(root: Path) -> Path:
    """Two stills of the toy character and two 5-frame clips of world shapes (RGB mp4, 32 px)."""
    from vectorwan.frames import write_frames
    from vectorwan.toy import world

    d = make_image_dataset(root, n=2)
    rows = (d / "metadata.csv").read_text().splitlines()
    for k, (c, s, m) in enumerate([("red", "circle", "moving left"), ("blue", "square", "moving up")]):
        clip = world.render_clip(c, s, m, seed=k, frames=5, size=32)
        write_frames(d / "train" / f"clip{k}.mp4", clip.frames, 16.0)
        rows.append(f'clip{k}.mp4,"{clip.caption}"')
    (d / "metadata.csv").write_text("\n".join(rows) + "\n")
    return d


def tiny_overrides(out: Path, data: Path, steps: int = 6, **extra) -> list[str]:
    # one cache per dataset, shared by the runs of a test module (entries are keyed by content)
    o = [f'output_dir="{out}"', f'data.path="{data}"', f'cache.dir="{Path(data).parent / (Path(data).name + "-cache")}"', 'model.path="tiny"', "model.max_sequence_length=32",
         "data.resolution=[32, 32]", 'data.trigger="blobby_tok"', f"train.max_steps={steps}",
         'train.mixed_precision="no"', "memory.checkpoint_every=0", "train.learning_rate=1e-3",
         "lora.rank=4", "lora.alpha=4.0"]
    return o + [f"{k}={v}" for k, v in extra.items()]
