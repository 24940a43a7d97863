"""`vectorwan ablate`: variants planned, trained from one cache, scored on one paired grid, rerun only where missing."""

import json

import pytest

from helpers import make_image_dataset, tiny_overrides
from vectorwan import ablate as ab
from vectorwan.errors import UserError


def test_split_values_keeps_lists_and_quotes_whole():
    assert ab.split_values("4,16") == ["4", "16"]
    assert ab.split_values("[32,32],[64, 64]") == ["[32,32]", "[64, 64]"]
    assert ab.split_values('"a,b",c') == ['"a,b"', "c"]


def test_vary_makes_a_grid_and_variant_a_list():
    grid = ab.plan_variants(["lora.rank=4,16", "vector_loss.shape=0,1"], [])
    assert [n for n, _ in grid] == ["rank=4,shape=0", "rank=4,shape=1", "rank=16,shape=0", "rank=16,shape=1"]
    assert grid[1][1] == ["lora.rank=4", "vector_loss.shape=1"]
    assert [n for n, _ in ab.plan_variants(['data.path="a/b","a_b"', "seed=1"], [])] == [  # folder names, inside --out
        "path=_a_b_,seed=1-0", "path=_a_b_,seed=1-1"]
    listed = ab.plan_variants([], ["plain:", "r4: lora.rank=4 lora.alpha=4.0"])
    assert listed == [("plain", []), ("r4", ["lora.rank=4", "lora.alpha=4.0"])]


@pytest.mark.parametrize("vary, variants, match", [
    ([], [], "nothing to vary"),
    (["lora.rank"], [], r"--vary 'lora.rank': expected KEY=V1,V2"),
    (["lora.rank=4"], ["a:"], "not both"),
    ([], ["a:", "a: lora.rank=4"], "names must differ"),
    ([], ["no colon"], "expected NAME: KEY=VALUE"),
])
def test_bad_plans_are_one_line(vary, variants, match):
    with pytest.raises(UserError, match=match):
        ab.plan_variants(vary, variants)


@pytest.fixture()
def setup(tmp_path):
    d = make_image_dataset(tmp_path / "data", n=2)
    sets = tiny_overrides(tmp_path / "unused", d, steps=2, **{"train.save_every": 0})
    sets = [s for s in sets if not s.startswith(("output_dir", "cache.dir"))]
    sets += ['validation.prompts=["blobby_tok, a blob", "blobby_tok, moving left"]']
    return tmp_path, sets


def test_ablation_trains_scores_pairs_and_reruns_only_what_is_missing(setup, monkeypatch):
    from vectorwan.train import loop

    tmp, sets = setup
    out = tmp / "abl"
    calls, crashed = [], []
    real = loop.train

    def spy(cfg, resume=False, progress=True):
        calls.append(cfg.output_dir)
        if cfg.output_dir.endswith("shape") and not crashed:
            crashed.append(1)
            raise RuntimeError("simulated crash")
        return real(cfg, resume=resume, progress=progress)

    monkeypatch.setattr(loop, "train", spy)
    variants = ["plain:", "rank2: lora.rank=2 lora.alpha=2.0", "shape: vector_loss.shape=1"]
    rep = ab.ablate(None, out, variants=variants, sets=sets, seeds=2, bootstrap=200, progress=False)
    assert [v["status"] for v in rep["variants"]] == ["ok", "ok", "crashed"]
    assert "simulated crash" in (out / "variants" / "shape" / "error.txt").read_text()
    assert rep["n_clips"] == 4 and rep["grid"]["seeds"] == [9300, 9301]
    plain, rank2 = rep["variants"][:2]
    pm = plain["vs_first"]["style.vec_psnr"]
    assert pm["n"] == 4 and pm["diff"] == 0.0  # the first variant against itself
    assert rank2["vs_first"]["style.vec_psnr"]["n"] == 4
    assert {"ablation.json", "ablation.md", "ablation.png"} <= {p.name for p in out.iterdir()}
    assert "| rank2 |" in (out / "ablation.md").read_text() and "**shape**: crashed" in (out / "ablation.md").read_text()
    cache = json.loads((out / "cache" / "manifest.json").read_text())
    assert len(cache["items"]) == 2 and len(cache["maps"]) == 2  # one cache; maps made once for the shape variant

    before = {p: p.stat().st_mtime_ns for p in (out / "variants").glob("*/scores.json")}
    calls.clear()
    rep = ab.ablate(None, out, variants=variants, sets=sets, seeds=2, bootstrap=200, progress=False)
    assert [v["status"] for v in rep["variants"]] == ["ok", "ok", "ok"]
    assert [c.rsplit("/", 1)[-1] for c in calls] == ["shape"]  # only the crashed variant trains again
    assert all(p.stat().st_mtime_ns == t for p, t in before.items())  # the finished ones are not rescored
    assert rep["variants"][2]["vs_first"]["style.vec_psnr"]["n"] == 4


def test_cli_ablate_bad_vary_is_one_line(setup, capsys):
    from vectorwan.cli import main

    tmp, sets = setup
    cfg = tmp / "c.toml"
    cfg.write_text("")
    rc = main(["ablate", str(cfg), "--vary", "lora.rank", "--out", str(tmp / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "--vary 'lora.rank'" in err[0] and not (tmp / "o").exists()
