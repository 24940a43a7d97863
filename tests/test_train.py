import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from helpers import make_image_dataset, make_mixed_dataset, tiny_overrides
from vectorwan.config import load_config
from vectorwan.models import loading
from vectorwan.train.loop import train


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_image_dataset(tmp_path_factory.mktemp("data"), n=3)


def _losses(out):
    return [json.loads(l)["loss"] for l in (out / "train_log.jsonl").read_text().splitlines()]


def test_seed_recipe_targets_300_modules_of_the_1_3b_architecture():
    from diffusers import WanTransformer3DModel

    from vectorwan.models.lora import attach_lora, target_module_names

    with torch.device("meta"):
        t = WanTransformer3DModel(num_attention_heads=12, attention_head_dim=128, ffn_dim=8960, num_layers=30,
                                  text_dim=4096, freq_dim=256, in_channels=16, out_channels=16, patch_size=(1, 2, 2),
                                  cross_attn_norm=True, qk_norm="rms_norm_across_heads", eps=1e-6)
    targets = ["q", "k", "v", "o", "ffn.0", "ffn.2"]
    names = target_module_names(t, targets)
    assert len(names) == 300
    assert {n.split(".", 2)[2] for n in names} == {
        "attn1.to_q", "attn1.to_k", "attn1.to_v", "attn1.to_out.0", "attn2.to_q", "attn2.to_k", "attn2.to_v",
        "attn2.to_out.0", "ffn.net.0.proj", "ffn.net.2"}
    assert attach_lora(t, 16, 16.0, targets) == 300
    assert sum(p.numel() for p in t.parameters() if p.requires_grad) == 30 * 16 * (8 * (1536 + 1536) + 2 * (1536 + 8960))


def test_single_sample_overfit_loss_falls(tmp_path):
    d = make_image_dataset(tmp_path / "one", n=1)
    cfg = load_config(None, tiny_overrides(tmp_path / "run", d, steps=60, **{
        "train.learning_rate": 3e-3, "lora.rank": 8, "lora.alpha": 8.0, 'train.timestep_sampling': '"uniform"',
        "train.min_timestep": 0.45, "train.max_timestep": 0.55, "train.save_every": 0}))
    train(cfg, progress=False)
    losses = _losses(tmp_path / "run")
    first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
    # σ≈0.5 on one image: the base predicts noise-free garbage (≈1.4); what is learnable is
    # cancelling it and predicting −x0, which leaves the unpredictable part of ε (floor ≈ 1).
    assert last < 0.85 * first, (first, last)


def test_resume_equals_uninterrupted(tmp_path, data):
    """6 steps == 3 steps, then --resume to 6 (constant lr after warm-up: the schedule does not
    depend on the total), LoRA tensors and losses bit-identical."""
    kw = {"train.save_every": 3, "lora.dropout": 0.1, "train.gradient_accumulation": 2, "train.warmup_steps": 2}
    full = load_config(None, tiny_overrides(tmp_path / "full", data, steps=6, **kw))
    train(full, progress=False)
    part = load_config(None, tiny_overrides(tmp_path / "part", data, steps=3, **kw))
    train(part, progress=False)
    resumed = load_config(None, tiny_overrides(tmp_path / "part", data, steps=6, **kw))
    assert train(resumed, resume=True, progress=False)["start_step"] == 3
    a, b = load_file(tmp_path / "full" / "lora.safetensors"), load_file(tmp_path / "part" / "lora.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert _losses(tmp_path / "full") == _losses(tmp_path / "part")
    assert len(list((tmp_path / "part" / "checkpoints").iterdir())) == 2  # keep_checkpoints


def test_crash_then_resume_equals_uninterrupted(tmp_path, data, monkeypatch):
    """A run killed after its step-3 checkpoint and resumed matches an uninterrupted one (cosine lr)."""
    from vectorwan.train import loop

    kw = {"train.save_every": 3, 'train.lr_scheduler': '"cosine"', "train.warmup_steps": 1}
    train(load_config(None, tiny_overrides(tmp_path / "full", data, steps=6, **kw)), progress=False)
    cfg = load_config(None, tiny_overrides(tmp_path / "crash", data, steps=6, **kw))
    calls = []
    real = loop.flow_matching_loss

    def dies_in_step_5(pred, target):
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return real(pred, target)

    monkeypatch.setattr(loop, "flow_matching_loss", dies_in_step_5)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, progress=False)
    monkeypatch.setattr(loop, "flow_matching_loss", real)
    assert train(cfg, resume=True, progress=False)["start_step"] == 3
    a, b = load_file(tmp_path / "full" / "lora.safetensors"), load_file(tmp_path / "crash" / "lora.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert _losses(tmp_path / "full") == _losses(tmp_path / "crash")


def test_lora_file_layout_and_metadata(tmp_path, data):
    cfg = load_config(None, tiny_overrides(tmp_path / "run", data, steps=2))
    train(cfg, progress=False)
    f = tmp_path / "run" / "lora.safetensors"
    with safe_open(f, "pt") as fh:
        keys, meta = set(fh.keys()), fh.metadata()
    assert "diffusion_model.blocks.0.self_attn.q.lora_A.weight" in keys
    assert "diffusion_model.blocks.1.cross_attn.o.lora_B.weight" in keys
    assert "diffusion_model.blocks.0.ffn.2.alpha" in keys and len(keys) == 2 * 10 * 3
    assert meta["vectorwan.rank"] == "4" and meta["vectorwan.trigger"] == "blobby_tok"
    assert json.loads(meta["vectorwan.targets"])[:2] == ["self_attn.q", "cross_attn.q"]


def test_training_with_complete_cache_never_loads_encoders(tmp_path, data, monkeypatch):
    cfg = load_config(None, tiny_overrides(tmp_path / "run", data, steps=1))
    train(cfg, progress=False)
    real = loading.load_part
    loaded = []

    def spy(source, part, dtype=None, **kw):
        loaded.append(part)
        return real(source, part, dtype, **kw)

    monkeypatch.setattr(loading, "load_part", spy)
    cfg.train.max_steps = 2
    train(cfg, resume=True, progress=False)
    assert loaded == ["transformer"]


def test_saved_lora_loads_in_diffusers_and_changes_output(tmp_path, data):
    from diffusers import WanPipeline

    cfg = load_config(None, tiny_overrides(tmp_path / "run", data, steps=4, **{"lora.init": '"gaussian"'}))
    train(cfg, progress=False)
    loading.export_tiny(tmp_path / "tiny")
    pipe = WanPipeline.from_pretrained(tmp_path / "tiny")

    def run():
        return pipe("blobby_tok, orange blob", num_frames=1, height=32, width=32, num_inference_steps=2,
                    generator=torch.Generator().manual_seed(0), output_type="pt").frames

    base = run()
    pipe.load_lora_weights(str(tmp_path / "run" / "lora.safetensors"), adapter_name="vw")
    n_wrapped = sum(1 for m in pipe.transformer.modules() if hasattr(m, "lora_A") and "vw" in m.lora_A)
    assert n_wrapped == 20
    assert (run() - base).abs().max() > 1e-4


def test_two_process_data_parallel_run(tmp_path, data):
    env = {**os.environ, "ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1"}
    over = sum((["--set", o] for o in tiny_overrides(tmp_path / "ddp", data, steps=3)), [])
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533",
           "-m", "vectorwan", "train", os.devnull, "--no-report", *over]
    cmd[cmd.index(os.devnull)] = str(_empty_config(tmp_path))
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    summary = json.loads((tmp_path / "ddp" / "train_summary.json").read_text())
    assert summary["world_size"] == 2 and summary["steps"] == 3
    assert (tmp_path / "ddp" / "lora.safetensors").is_file()


def _empty_config(tmp_path):
    f = tmp_path / "empty.toml"
    f.write_text("# everything from --set\n")
    return f


def test_validation_samples_during_training(tmp_path, data, monkeypatch):
    from vectorwan.models import loading as L

    real = L.load_part
    loaded = []
    monkeypatch.setattr(L, "load_part", lambda s, p, d=None, **kw: (loaded.append(p), real(s, p, d, **kw))[1])
    cfg = load_config(None, tiny_overrides(tmp_path / "run", data, steps=4, **{
        "validation.prompts": '["blobby_tok, orange blob", "blobby_tok, sitting"]', "validation.every": 2,
        "validation.num_frames": 5, "validation.steps": 2}))
    train(cfg, progress=False)
    for step in ("step-0000002", "step-0000004"):
        folder = tmp_path / "run" / "samples" / step
        assert sorted(p.name for p in folder.iterdir()) == ["00.mp4", "01.mp4", "sheet.png"]
    assert list((tmp_path / "run" / "tensorboard").iterdir())
    loaded.clear()
    cfg.train.max_steps = 6
    train(cfg, resume=True, progress=False)  # cache complete: the text encoder is never loaded
    assert sorted(loaded) == ["transformer", "vae"]


@pytest.mark.slow
def test_demo_runs_end_to_end(tmp_path):
    from vectorwan.demo import run_demo

    r = run_demo(tmp_path / "demo", steps=4, data=str(make_image_dataset(tmp_path / "d", n=2)))
    assert all(os.path.exists(r[key]) for key in ("lora", "loss_plot", "eval_report"))
    assert all(os.path.exists(v["output"]) for v in r["outputs"].values())
    assert all(os.path.exists(p) for p in r["vector"].values())


def test_full_fine_tuning_mode_learns_resumes_and_saves_a_diffusers_transformer(tmp_path, data):
    from diffusers import WanTransformer3DModel

    kw = {"train.mode": '"full"', "train.save_every": 2, "train.learning_rate": 1e-3}
    train(load_config(None, tiny_overrides(tmp_path / "full", data, steps=4, **kw)), progress=False)
    part = tiny_overrides(tmp_path / "part", data, steps=2, **kw)
    train(load_config(None, part), progress=False)
    r = train(load_config(None, tiny_overrides(tmp_path / "part", data, steps=4, **kw)), resume=True, progress=False)
    assert r["mode"] == "full" and r["start_step"] == 2 and r["weights"].endswith("transformer")
    a = WanTransformer3DModel.from_pretrained(tmp_path / "full" / "transformer").state_dict()
    b = WanTransformer3DModel.from_pretrained(tmp_path / "part" / "transformer").state_dict()
    base = loading.load_part("tiny", "transformer").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)  # resume is exact in full mode too
    changed = [k for k in a if not torch.equal(a[k], base[k])]
    assert len(changed) > len(a) // 2  # not just LoRA-targeted layers: the whole transformer trains
    assert not (tmp_path / "full" / "lora.safetensors").exists()


def test_resuming_a_lora_checkpoint_in_full_mode_is_a_clear_error(tmp_path, data):
    from vectorwan.errors import UserError

    train(load_config(None, tiny_overrides(tmp_path / "r", data, steps=1)), progress=False)
    cfg = load_config(None, tiny_overrides(tmp_path / "r", data, steps=2, **{"train.mode": '"full"'}))
    with pytest.raises(UserError, match="does not match train.mode"):
        train(cfg, resume=True, progress=False)


class _FakeCache:
    """Just what make_batch reads: latents, caption variants, the empty caption, padding."""

    def __init__(self, shapes):
        g = torch.Generator().manual_seed(0)
        self.latents = [torch.randn(s, generator=g) for s in shapes]
        self.texts = [[torch.full((2, 3), float(i)), torch.full((2, 3), float(i) + 0.5)] for i in range(len(shapes))]
        self.empty_text = torch.zeros(1, 3)

    def padded_text(self, emb):
        out = torch.zeros(4, 3)
        out[: emb.shape[0]] = emb
        return out


def test_make_batch_groups_stills_and_clips_by_latent_shape():
    from vectorwan.train.loop import make_batch

    clip, still = (4, 2, 2, 2), (4, 1, 2, 2)
    data = _FakeCache([clip, still, clip, still, clip])
    idx = [4, 1, 0, 3, 2]
    groups = make_batch(data, idx, torch.Generator().manual_seed(1), 0.0)
    assert [g[0] for g in groups] == [[0, 2, 4], [1, 3]]  # positions into idx, first-appearance order
    assert groups[0][1].shape == (3, *clip) and groups[1][1].shape == (2, *still)
    assert torch.equal(groups[1][1][1], data.latents[3])
    assert groups[1][2][1, 0, 0].item() in (3.0, 3.5)  # item 3's own caption
    # one shape: the same tensors (and generator draws) as stacking the batch directly
    data1 = _FakeCache([clip] * 3)
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    (pos, lat, txt), = make_batch(data1, [2, 0, 1], g1, 0.3)
    assert pos == [0, 1, 2] and torch.equal(lat, torch.stack([data1.latents[i] for i in (2, 0, 1)]))
    for i in (2, 0, 1):  # the captions drawn in idx order from the same generator
        v = int(torch.randint(2, (1,), generator=g2))
        drop = float(torch.rand(1, generator=g2)) < 0.3
        want = data1.empty_text if drop else data1.texts[i][v]
        assert torch.equal(txt[[2, 0, 1].index(i)], data1.padded_text(want))


def test_training_on_stills_and_clips_together(tmp_path):
    """A dataset mixing stills (one latent frame) and clips (several) trains in one batch."""
    import numpy as np

    d = make_mixed_dataset(tmp_path / "mixed")
    cfg = load_config(None, tiny_overrides(tmp_path / "run", d, steps=3, **{
        "data.num_frames": 5, "train.batch_size": 4, "train.save_every": 0}))
    r = train(cfg, progress=False)
    losses = _losses(tmp_path / "run")
    assert len(losses) == 3 and all(np.isfinite(losses)) and r["final_loss"] == losses[-1]
    shapes = {tuple(v["latent_shape"]) for v in json.loads(
        (tmp_path / "mixed-cache" / "manifest.json").read_text())["items"].values()}
    assert {s[1] for s in shapes} == {1, 2}  # one latent frame for stills, two for 5-frame clips


# Pinned losses of a 4-step run of the tiny model (torchtune's recipe tests do the same): a library
# upgrade or a refactor that moves the numbers fails here loudly. Measured with torch 2.13.0 (CPU),
# diffusers 0.42.1, peft 0.21.2; LoRA with dropout + accumulation + warm-up, and full fine-tuning.
# (LoRA values re-pinned when its initial weights came to be drawn from the config's seed.)
GOLDEN = {
    "lora": ({"lora.dropout": 0.1, "train.gradient_accumulation": 2, "train.warmup_steps": 2},
             [1.473634958267212, 1.4654422998428345, 1.5674132108688354, 1.545704960823059]),
    "full": ({"train.mode": '"full"', "train.learning_rate": 1e-4},
             [1.4270546436309814, 1.4468672275543213, 1.5670924186706543, 1.5628395080566406]),
}


@pytest.mark.parametrize("mode", list(GOLDEN))
def test_golden_losses_of_a_4_step_tiny_run(tmp_path, mode):
    extra, expected = GOLDEN[mode]
    d = make_image_dataset(tmp_path / "data", n=3)
    train(load_config(None, tiny_overrides(tmp_path / mode, d, steps=4, **{"train.save_every": 0, **extra})),
          progress=False)
    assert _losses(tmp_path / mode) == pytest.approx(expected, rel=1e-5, abs=0)


def test_the_loras_initial_weights_depend_on_the_seed_alone():
    """Whatever ran before in the process (``vectorwan ablate`` trains variants in one) leaves the init alone."""
    from vectorwan.train import memory
    from vectorwan.train.loop import LoraWeights, setup_model

    def init(seed, noise):
        cfg = load_config(None, ['model.path="tiny"', f"seed={seed}"])
        torch.randn(noise)  # other work first
        model, _ = setup_model(cfg, loading.resolve("tiny"), LoraWeights(cfg), memory.settings(cfg.memory))
        return {k: v for k, v in model.state_dict().items() if "lora_A" in k}

    a, b, c = init(1, 10), init(1, 999), init(2, 10)
    assert a and all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def _finite_file(path):
    return all(torch.isfinite(v).all() for v in load_file(path).values())


def test_non_finite_loss_stops_with_one_line_and_keeps_the_last_good_lora(tmp_path, data, capsys, monkeypatch):
    from vectorwan.cli import main
    from vectorwan.config import dump_toml
    from vectorwan.train import loop

    calls, real = [], loop.flow_matching_loss

    def nan_in_step_2(pred, target):  # what a diverging run gives (lr too high, a broken item)
        calls.append(1)
        loss = real(pred, target)
        return loss * float("nan") if len(calls) == 2 else loss

    monkeypatch.setattr(loop, "flow_matching_loss", nan_in_step_2)
    cfg = load_config(None, tiny_overrides(tmp_path / "run", data, steps=6, **{"train.save_every": 1}))
    (tmp_path / "c.toml").write_text(dump_toml(cfg))
    assert main(["train", str(tmp_path / "c.toml"), "--no-report"]) == 2
    err = [l for l in capsys.readouterr().err.splitlines() if l.startswith("vectorwan")]
    assert len(err) == 1 and "step 2: loss nan is not finite" in err[0] and "step-0000001" in err[0], err
    ckpts = sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir())
    assert ckpts == ["step-0000001"] and _finite_file(tmp_path / "run" / "checkpoints" / ckpts[0] / "trained.safetensors")
    assert _finite_file(tmp_path / "run" / "lora.safetensors")
    assert [json.loads(l)["step"] for l in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()] == [1]


def test_weights_that_are_not_finite_are_never_saved(tmp_path, data, monkeypatch):
    from vectorwan.errors import UserError
    from vectorwan.train import loop

    real = loop.train_step

    def poisons_a_weight(run, step):
        out = real(run, step)
        if step == 1:  # a finite loss, then one LoRA weight becomes inf
            with torch.no_grad():
                next(p for p in run.params).view(-1)[0] = float("inf")
        return out

    monkeypatch.setattr(loop, "train_step", poisons_a_weight)
    cfg = load_config(None, tiny_overrides(tmp_path / "run", data, steps=4, **{"train.save_every": 1}))
    with pytest.raises(UserError, match=r"step 2: the trained weights are not finite .*\(the newest checkpoint \(step-0000001\)"):
        train(cfg, progress=False)
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == ["step-0000001"]
    assert _finite_file(tmp_path / "run" / "lora.safetensors")


def test_corrupt_newest_checkpoint_falls_back_and_stale_temporaries_are_removed(tmp_path, data, capsys):
    """A truncated newest checkpoint is skipped with a note; the run resumes from the one before and
    ends equal to an uninterrupted run. What killed saves left (atomic temporaries) is removed."""
    kw = {"train.save_every": 2, "train.keep_checkpoints": 3}
    train(load_config(None, tiny_overrides(tmp_path / "full", data, steps=6, **kw)), progress=False)
    train(load_config(None, tiny_overrides(tmp_path / "part", data, steps=4, **kw)), progress=False)
    run = tmp_path / "part"
    newest = run / "checkpoints" / "step-0000004" / "trained.safetensors"
    newest.write_bytes(newest.read_bytes()[:100])  # truncated by a full disk, say
    stale = [run / "checkpoints" / ".step-0000006.ab12cd34.tmp", run / ".lora.x9y8z7w6.tmp.safetensors"]
    stale[0].mkdir()
    stale[1].write_bytes(b"half")
    (run / "notes.txt").write_text("mine")  # a user's files are left alone, even one named like a temporary
    (run / ".notes.ab12cd34.tmp").write_text("mine too")
    capsys.readouterr()
    assert train(load_config(None, tiny_overrides(run, data, steps=6, **kw)), resume=True, progress=False)["start_step"] == 2
    out = capsys.readouterr().out
    assert "step-0000004: unreadable checkpoint" in out and "resuming from the one before" in out
    assert ".step-0000006.ab12cd34.tmp" in out and not any(p.exists() for p in stale)
    assert (run / "notes.txt").read_text() == "mine" and (run / ".notes.ab12cd34.tmp").is_file()
    a, b = load_file(tmp_path / "full" / "lora.safetensors"), load_file(run / "lora.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_output_dir_that_is_a_file_is_one_line(tmp_path, data):
    from vectorwan.errors import UserError

    (tmp_path / "run").write_text("not a folder")
    with pytest.raises(UserError, match="output_dir .*run: is a file"):
        train(load_config(None, tiny_overrides(tmp_path / "run", data, steps=1)), progress=False)


def test_a_full_disk_at_the_last_save_says_how_to_get_the_lora_and_resume_writes_it(tmp_path, data, monkeypatch):
    import errno
    import os

    from vectorwan.errors import UserError
    from vectorwan.train import loop

    cfg = load_config(None, tiny_overrides(tmp_path / "run", data, steps=4, **{"train.save_every": 2}))
    real, calls = loop.LoraWeights.write, []

    def disk_fills_at_the_end(self, model, out, step):
        calls.append(step)
        if step == 4:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(out / "lora.safetensors"))
        real(self, model, out, step)

    monkeypatch.setattr(loop.LoraWeights, "write", disk_fills_at_the_end)
    with pytest.raises(UserError, match=r"lora.safetensors: No space left on device; the disk is full.*the checkpoint "
                                        r"of step 4 is complete: run again with --resume to write lora.safetensors"):
        train(cfg, progress=False)
    from safetensors import safe_open

    def step_of(f):
        with safe_open(str(f), "pt") as fh:
            return fh.metadata()["vectorwan.step"]

    assert step_of(tmp_path / "run" / "lora.safetensors") == "2"  # the older result, never a half-written one
    monkeypatch.setattr(loop.LoraWeights, "write", real)
    train(cfg, resume=True, progress=False)  # nothing left to train: the result is written from the checkpoint
    assert step_of(tmp_path / "run" / "lora.safetensors") == "4" and calls == [2, 4]
