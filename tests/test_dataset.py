import json

import numpy as np
import pytest
from PIL import Image

from helpers import make_image_dataset
from vectorwan.data.dataset import build_caption, caption_variants, discover, round_frames
from vectorwan.data.load import load_sample, sample_indices
from vectorwan.data.report import build_report
from vectorwan.errors import UserError
from vectorwan.frames import write_frames


def test_reference_csv_of_tiger16(tiger16):
    ds = discover(tiger16)
    assert ds.source == "metadata.csv" and len(ds.items) == 16 and not ds.problems
    assert ds.items[0].path.name == "01.png" and ds.items[0].path.parent.name == "train"
    assert all(i.caption.startswith("tigersticker_unique001") for i in ds.items)
    rep = build_report(ds, "tigersticker_unique001")
    assert rep.sizes == {"512x512": 16} and rep.alpha_items == 16 and 0 < rep.alpha_partial < rep.alpha_coverage < 1


def test_csv_with_quoted_commas_and_files_beside_csv(tmp_path):
    Image.new("RGB", (40, 40), "red").save(tmp_path / "a.png")
    (tmp_path / "metadata.csv").write_text('file_name,text\na.png,"tok, red square, white background"\n')
    ds = discover(tmp_path)
    assert ds.items[0].caption == "tok, red square, white background" and ds.items[0].path == (tmp_path / "a.png").resolve()


def test_jsonl_and_sidecar_formats(tmp_path):
    a = tmp_path / "j"
    (a / "train").mkdir(parents=True)
    Image.new("RGB", (40, 40)).save(a / "train" / "x.png")
    (a / "metadata.jsonl").write_text(json.dumps({"file_name": "x.png", "text": "hello"}) + "\n")
    assert discover(a).items[0].caption == "hello"
    b = tmp_path / "s"
    b.mkdir()
    Image.new("RGB", (40, 40)).save(b / "y.png")
    (b / "y.txt").write_text("side car\n")
    ds = discover(b)
    assert ds.source == "sidecar .txt" and ds.items[0].caption == "side car"


def test_path_outside_dataset_is_refused(tmp_path):
    (tmp_path / "secret.png").write_bytes(b"x")
    d = tmp_path / "ds"
    d.mkdir()
    (d / "metadata.csv").write_text("file_name,text\n../secret.png,steal\n")
    with pytest.raises(UserError, match="outside the dataset folder"):
        discover(d)


def test_corrupt_image_is_named_in_one_line(tmp_path):
    make_image_dataset(tmp_path, n=2)
    (tmp_path / "train" / "01.png").write_bytes(b"garbage")
    with pytest.raises(UserError) as e:
        build_report(discover(tmp_path))
    assert "01.png" in str(e.value) and "\n" not in str(e.value)


def test_missing_file_is_a_problem_not_a_crash(tmp_path):
    make_image_dataset(tmp_path, n=2)
    with (tmp_path / "metadata.csv").open("a") as fh:
        fh.write("gone.png,tok\n")
    ds = discover(tmp_path)
    assert len(ds.items) == 2 and any("gone.png" in p for p in ds.problems)


def test_rgba_is_composited_on_background_and_alpha_kept(tmp_path):
    img = np.zeros((32, 32, 4), np.uint8)
    img[:16] = [255, 0, 0, 255]  # opaque red top half, transparent bottom
    Image.fromarray(img).save(tmp_path / "a.png")
    (tmp_path / "metadata.csv").write_text("file_name,text\na.png,x\n")
    item = discover(tmp_path).items[0]
    s = load_sample(item, [32, 32], background=(0, 255, 0))
    assert s.rgb.shape == (1, 32, 32, 3)
    assert tuple(s.rgb[0, 2, 2]) == (255, 0, 0) and tuple(s.rgb[0, 30, 30]) == (0, 255, 0)
    assert s.alpha[0, 2, 2] == 255 and s.alpha[0, 30, 30] == 0


def test_resize_covers_and_crops_to_multiple_of_16(tmp_path):
    Image.new("RGB", (100, 50), "blue").save(tmp_path / "w.png")
    (tmp_path / "metadata.csv").write_text("file_name,text\nw.png,x\n")
    s = load_sample(discover(tmp_path).items[0], [48, 64])
    assert s.rgb.shape == (1, 48, 64, 3) and s.source_size == (100, 50)


@pytest.mark.parametrize("n,expected", [(1, 1), (4, 1), (5, 5), (8, 5), (9, 9), (81, 81), (84, 81)])
def test_frames_round_to_4n_plus_1(n, expected):
    assert round_frames(n) == expected


def test_video_sampling_at_target_fps(tmp_path):
    assert sample_indices(100, 32.0, 17, 16.0, "start") == list(range(0, 34, 2))
    assert len(sample_indices(10, 16.0, 81, 16.0, "start")) == 9
    assert sample_indices(30, 16.0, 5, 16.0, "uniform") == [0, 7, 14, 22, 29]
    frames = np.stack([np.full((32, 32, 3), i * 10, np.uint8) for i in range(12)])
    write_frames(tmp_path / "c.webp", frames, fps=8)
    (tmp_path / "metadata.csv").write_text("file_name,text\nc.webp,x\n")
    s = load_sample(discover(tmp_path).items[0], [32, 32], num_frames=17, fps=8)
    assert s.rgb.shape[0] == 9 and s.rgb[3, 0, 0, 0] == 30


def test_captions_trigger_first_shuffle_and_variants():
    assert build_caption("red, tok, square", "tok") == "tok, red, square"
    assert build_caption("red, square", "tok") == "tok, red, square"
    v = caption_variants("a, b, c, d, e", "tok", True, 4, seed=1)
    assert len(v) == 4 and v[0] == "tok, a, b, c, d, e" and all(x.startswith("tok, ") for x in v)
    assert len(set(v)) > 1 and all(sorted(x.split(", ")) == sorted(v[0].split(", ")) for x in v)
    assert caption_variants("a, b", "tok", False, 4, seed=1) == ["tok, a, b"]
    # tag dropout: variants keep the trigger and a subset of the tags, in order unless shuffled
    d = caption_variants("tok, a, b, c, d, e, f", "tok", False, 40, seed=2, tag_dropout=0.5)
    assert d[0] == "tok, a, b, c, d, e, f" and all(x.split(", ")[0] == "tok" for x in d)
    order = "abcdef"
    for x in d[1:]:
        kept = x.split(", ")[1:] if x != "tok" else []
        assert kept == sorted(kept, key=order.index)
    sizes = [len(x.split(", ")) - 1 for x in d[1:]]
    assert 0 in sizes and 2 <= sum(sizes) / len(sizes) <= 4  # ~half the 6 tags
    assert caption_variants("tok, a, b", "tok", True, 3, seed=2, tag_dropout=0.0) == \
        caption_variants("tok, a, b", "tok", True, 3, seed=2)


def _dataset_with(tmp_path, csv_body: str):
    Image.new("RGB", (40, 40), "red").save(tmp_path / "a.png")
    (tmp_path / "metadata.csv").write_text("file_name,text\n" + csv_body)
    return tmp_path


def test_an_unquoted_comma_in_a_caption_is_one_line_naming_the_row(tmp_path):
    with pytest.raises(UserError, match=r"metadata.csv:2: 4 fields .*quote a caption"):
        discover(_dataset_with(tmp_path, "a.png,tok, red square, white background\n"))


def test_a_nul_byte_in_a_file_name_is_one_line(tmp_path):
    with pytest.raises(UserError, match="NUL byte"):
        discover(_dataset_with(tmp_path, '"a\x00.png",tok\n'))


def test_a_symlink_loop_is_one_line(tmp_path):
    (tmp_path / "loop.png").symlink_to(tmp_path / "loop.png")
    with pytest.raises(UserError, match="loop.png' cannot be resolved"):
        discover(_dataset_with(tmp_path, "loop.png,tok\na.png,tok\n"))


def test_a_latin1_sidecar_caption_is_one_line_naming_the_file(tmp_path):
    Image.new("RGB", (40, 40)).save(tmp_path / "y.png")
    (tmp_path / "y.txt").write_bytes("caf\xe9, tag".encode("latin-1"))
    with pytest.raises(UserError, match=r"y.txt: not UTF-8 text"):
        discover(tmp_path)


def test_data_and_cache_agree_on_an_image_too_small_to_train_on(tmp_path):
    Image.new("RGB", (1, 1)).save(tmp_path / "tiny.png")
    ds = discover(_dataset_with(tmp_path, "a.png,tok\ntiny.png,tok\n"))
    assert [i.path.name for i in ds.items] == ["a.png"]
    assert len(ds.problems) == 1 and "1x1 is too small to train on" in ds.problems[0]


def test_a_decompression_bomb_is_one_line(tmp_path):
    from vectorwan.frames import read_frames

    bomb = tmp_path / "bomb.png"
    Image.new("1", (20_000, 20_000)).save(bomb)  # 400 Mpx: over Pillow's limit, tiny on disk
    with pytest.raises(UserError, match="bomb.png: cannot read image"):
        read_frames(bomb)


def test_a_trailing_empty_field_is_not_an_unquoted_comma(tmp_path):
    ds = discover(_dataset_with(tmp_path, "a.png,tok red square,\n"))
    assert ds.items[0].caption == "tok red square"
