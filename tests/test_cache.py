import pytest

from helpers import make_image_dataset, tiny_overrides
from vectorwan.cache import CachedData, build_cache, cache_is_complete
from vectorwan.config import load_config
from vectorwan.models import loading


@pytest.fixture
def cfg(tmp_path):
    data = make_image_dataset(tmp_path / "data", n=3)
    return load_config(None, tiny_overrides(tmp_path / "run", data, **{"cache.shard_size": 1}))


def test_miss_then_hit_without_loading_encoders(cfg, monkeypatch):
    s = build_cache(cfg, progress=False)
    assert (s["encoded_items"], s["encoded_texts"], s["item_hits"]) == (3, 3, 0)
    assert cache_is_complete(cfg)

    def refuse(source, part, dtype=None, **kw):
        raise AssertionError(f"loaded {part} although the cache is complete")

    monkeypatch.setattr(loading, "load_part", refuse)
    s = build_cache(cfg, progress=False)
    assert (s["encoded_items"], s["encoded_texts"], s["item_hits"], s["text_hits"]) == (0, 0, 3, 3)
    data = CachedData(cfg.cache_dir)
    assert len(data) == 3 and data.latents[0].shape == (16, 1, 4, 4) and data.maps[0] is None  # no layer maps while [vector_loss] is off
    assert data.padded_text(data.texts[0][0]).shape == (32, 32)


def test_interrupted_run_resumes_with_only_the_rest(cfg):
    seen = []

    def crash_on_third(item):
        seen.append(item.path.name)
        if len(seen) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_cache(cfg, progress=False, encode_hook=crash_on_third)
    assert not cache_is_complete(cfg)
    assert not list(cfg.cache_dir.glob(".*tmp*"))  # nothing half-written left
    again = []
    s = build_cache(cfg, progress=False, encode_hook=lambda item: again.append(item.path.name))
    assert s["item_hits"] == 2 and again == [seen[2]]


@pytest.mark.parametrize("shard_size", [1, 64])
def test_finished_items_survive_a_sigkill_at_any_shard_size(tmp_path, shard_size):
    import json
    import subprocess
    import sys

    data = make_image_dataset(tmp_path / "data", n=3)
    overrides = tiny_overrides(tmp_path / "run", data, **{"cache.shard_size": shard_size})
    kill_on_third = (  # SIGKILL: no handler, no clean-up runs
        "import os, signal, sys; from vectorwan.cache import build_cache; from vectorwan.config import load_config\n"
        "seen = []\n"
        "def hook(item):\n"
        "    seen.append(item)\n"
        "    if len(seen) == 3: os.kill(os.getpid(), signal.SIGKILL)\n"
        "build_cache(load_config(None, sys.argv[1:]), progress=False, encode_hook=hook)\n")
    r = subprocess.run([sys.executable, "-c", kill_on_third, *overrides], capture_output=True, text=True, timeout=300)
    assert r.returncode == -9, r.stderr[-2000:]
    cfg = load_config(None, overrides)
    again = []
    s = build_cache(cfg, progress=False, encode_hook=again.append)
    assert (s["item_hits"], s["text_hits"], len(again)) == (2, 3, 1)  # the two finished items and every caption kept
    manifest = json.loads((cfg.cache_dir / "manifest.json").read_text())
    shards = {e["shard"] for kind in ("items", "texts") for e in manifest[kind].values()}
    on_disk = {f.name for f in cfg.cache_dir.glob("*.safetensors")}
    assert on_disk == shards == set(manifest["shards"])  # merged, and no pending shard left behind
    assert len([n for n in shards if n.startswith("latents-")]) == (3 if shard_size == 1 else 1)
    assert not [n for n in shards if n.startswith("pending-")]
    assert len(CachedData(cfg.cache_dir)) == 3


def test_settings_or_content_change_is_a_miss(cfg, tmp_path):
    build_cache(cfg, progress=False)
    cfg.data.resolution = [48, 48]
    assert not cache_is_complete(cfg)
    s = build_cache(cfg, progress=False)
    assert s["encoded_items"] == 3 and s["encoded_texts"] == 0
    from PIL import Image

    f = tmp_path / "data" / "train" / "02.png"
    Image.open(f).transpose(Image.FLIP_LEFT_RIGHT).save(f)  # new content → one miss
    assert build_cache(cfg, progress=False)["encoded_items"] == 1
    # same bytes as an item already cached → a hit (entries are keyed by content)
    f.write_bytes((tmp_path / "data" / "train" / "01.png").read_bytes())
    assert build_cache(cfg, progress=False)["encoded_items"] == 0


def test_cached_latents_match_the_vae(cfg):
    import torch

    from vectorwan.cache import encode_frames
    from vectorwan.data.dataset import discover
    from vectorwan.data.load import load_sample

    build_cache(cfg, progress=False)
    data = CachedData(cfg.cache_dir)
    item = discover(cfg.data.path).items[0]
    s = load_sample(item, cfg.data.resolution)
    assert torch.equal(data.latents[0], encode_frames(loading.load_part("tiny", "vae"), s.rgb))


@pytest.mark.parametrize("damage", ["flip_bytes", "truncate", "delete"])
def test_a_damaged_shard_is_named_and_re_encoded(cfg, damage, capsys):
    import json
    import re

    import torch

    from vectorwan.errors import UserError

    build_cache(cfg, progress=False)
    before = CachedData(cfg.cache_dir)
    manifest = json.loads((cfg.cache_dir / "manifest.json").read_text())
    shard = cfg.cache_dir / sorted(e["shard"] for e in manifest["items"].values())[0]
    data = bytearray(shard.read_bytes())
    if damage == "flip_bytes":  # 100 bytes inside the tensor data: still loads, wrong numbers
        for i in range(len(data) - 100, len(data)):
            data[i] ^= 0xFF
        shard.write_bytes(bytes(data))
    elif damage == "truncate":
        shard.write_bytes(bytes(data[: len(data) // 2]))
    else:
        shard.unlink()
    with pytest.raises(UserError, match=re.escape(shard.name)):  # read straight away: refused, never trained on
        CachedData(cfg.cache_dir)
    capsys.readouterr()
    s = build_cache(cfg, progress=False)
    assert s["encoded_items"] == 1 and s["item_hits"] == 2
    assert f"shard {shard.name} is {'missing' if damage == 'delete' else 'corrupt (checksum)'}" in capsys.readouterr().out
    after = CachedData(cfg.cache_dir)
    assert all(torch.equal(a, b) for a, b in zip(before.latents, after.latents))
