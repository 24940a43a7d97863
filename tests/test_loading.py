"""The four model routes load the same weights to the same outputs."""

import json
import os
import subprocess
import sys

import pytest
import torch

from vectorwan.errors import UserError
from vectorwan.models.loading import export_tiny, load_pipeline, resolve


def _run(pipe):
    return pipe("a red circle, moving left", negative_prompt="", num_frames=5, height=32, width=32,
                num_inference_steps=2, generator=torch.Generator().manual_seed(0), output_type="pt").frames


@pytest.fixture(scope="module")
def reference():
    return _run(load_pipeline("tiny"))


def _same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("layout", ["diffusers", "original"])
def test_each_layout_loads_identical_weights_and_outputs(tmp_path, reference, layout):
    folder = export_tiny(tmp_path / layout, layout=layout)
    src = resolve(str(folder))
    assert src.kind == layout
    pipe, tiny = load_pipeline(src), load_pipeline("tiny")
    for part in ("transformer", "vae", "text_encoder"):
        assert _same_weights(getattr(pipe, part), getattr(tiny, part)), part
    assert (_run(pipe) - reference).abs().max() <= 1e-5


def test_exported_folder_loads_in_plain_diffusers(tmp_path, reference):
    from diffusers import WanPipeline

    folder = export_tiny(tmp_path / "d")
    assert json.loads((folder / "sampling.json").read_text())["steps"] >= 1
    assert (_run(WanPipeline.from_pretrained(folder)) - reference).abs().max() <= 1e-5


def test_hub_id_from_local_cache_and_clear_error_when_missing(tmp_path):
    snap = tmp_path / "hub" / "models--acme--tiny-wan" / "snapshots" / "0123abcd"
    export_tiny(snap)
    (tmp_path / "hub" / "models--acme--tiny-wan" / "refs").mkdir()
    (tmp_path / "hub" / "models--acme--tiny-wan" / "refs" / "main").write_text("0123abcd")
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1"}
    code = ("import torch;from vectorwan.models.loading import load_pipeline;"
            "p=load_pipeline('acme/tiny-wan');print(sum(x.numel() for x in p.transformer.parameters()))")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-1500:]
    tiny = load_pipeline("tiny")
    assert int(r.stdout.split()[-1]) == sum(x.numel() for x in tiny.transformer.parameters())
    r = subprocess.run([sys.executable, "-m", "vectorwan", "model", "info", "acme/not-there"], env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "huggingface-cli download acme/not-there" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("spec,needle", [("/nonexistent/model", "no such model folder"), (".", "not a model folder")])
def test_bad_model_paths(spec, needle):
    with pytest.raises(UserError, match=needle):
        resolve(spec)


def test_export_never_deletes_a_users_files_but_replaces_its_own(tmp_path):
    folder = export_tiny(tmp_path / "m")
    assert export_tiny(folder) == folder  # a previous export is replaced
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="holds other files \\(notes.txt"):
        export_tiny(folder, layout="original")
    assert (folder / "notes.txt").read_text() == "mine" and (folder / "model_index.json").is_file()
    (tmp_path / "f").write_text("a file")
    with pytest.raises(UserError, match="exists and is not a folder"):
        export_tiny(tmp_path / "f")


def test_a_folder_with_only_pickled_weights_is_one_line_and_never_unpickled(tmp_path):
    folder = export_tiny(tmp_path / "m")
    st = folder / "transformer" / "diffusion_pytorch_model.safetensors"
    marker = tmp_path / "pwned"

    class Evil:  # unpickling this would create the marker file
        def __reduce__(self):
            return (open, (str(marker), "w"))

    import pickle

    st.unlink()
    (folder / "transformer" / "diffusion_pytorch_model.bin").write_bytes(pickle.dumps(Evil()))
    from vectorwan.models.loading import load_part

    with pytest.raises(UserError, match="no .safetensors weights .*diffusion_pytorch_model.bin"):
        load_part(str(folder), "transformer")
    assert not marker.exists()
