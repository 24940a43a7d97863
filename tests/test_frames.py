import numpy as np
import pytest

from vectorwan.errors import UserError
from vectorwan.frames import composite, contact_sheet, read_frames, write_frames


def _clip(t=5, h=32, w=48, c=3, seed=0):
    rng = np.random.default_rng(seed)
    f = np.full((t, h, w, c), 255, np.uint8)
    for i in range(t):
        f[i, 8:24, 4 + 4 * i:20 + 4 * i, :3] = rng.integers(0, 255, 3)
    return f


@pytest.mark.parametrize("ext", [".webp", ".gif", ""])
def test_lossless_round_trip_keeps_frames_and_fps(tmp_path, ext):
    f = _clip()
    p = write_frames(tmp_path / f"clip{ext}", f, fps=10)
    c = read_frames(p, fps=None if ext else 10)
    assert c.frames.shape == f.shape
    assert abs(c.fps - 10) < 0.5
    if ext != ".gif":  # GIF palette may shift colours slightly
        assert np.array_equal(c.frames, f)


def test_mp4_round_trip_is_close(tmp_path):
    f = _clip(t=9)
    c = read_frames(write_frames(tmp_path / "a.mp4", f, fps=16))
    assert c.frames.shape == f.shape and c.fps == 16
    assert np.abs(c.frames.astype(int) - f).mean() < 6


def test_rgba_png_keeps_alpha_and_composites(tmp_path):
    f = np.zeros((1, 4, 4, 4), np.uint8)
    f[..., 0] = 200
    f[..., 3] = 128
    c = read_frames(write_frames(tmp_path / "a.png", f))
    assert c.has_alpha and np.array_equal(c.frames, f)
    rgb = composite(c.frames)
    assert rgb.shape[-1] == 3 and rgb[0, 0, 0, 0] == round(200 * 128 / 255 + 255 * 127 / 255)


@pytest.mark.parametrize("content,ext", [(b"not an image", ".png"), (b"junk", ".mp4"), (b"", ".gif")])
def test_unreadable_files_give_one_line_user_error(tmp_path, content, ext):
    p = tmp_path / f"bad{ext}"
    p.write_bytes(content)
    with pytest.raises(UserError) as e:
        read_frames(p)
    assert str(p) in str(e.value) and "\n" not in str(e.value)


def test_failed_write_leaves_nothing(tmp_path):
    with pytest.raises(ValueError):
        write_frames(tmp_path / "x.png", _clip(t=3))
    assert list(tmp_path.iterdir()) == []


def test_contact_sheet_tiles_frames():
    sheet = contact_sheet(_clip(t=10), n=4, pad=2)
    assert sheet.shape == (32 + 4, 4 * (48 + 2) + 2, 3)


@pytest.mark.parametrize("ext", [".gif", ".webp"])
def test_identical_frames_survive_gif_and_webp(tmp_path, ext):
    f = _clip(t=6)
    f[2] = f[1]
    f[3] = f[1]  # encoders merge these
    static = np.repeat(f[:1], 5, axis=0)
    c = read_frames(write_frames(tmp_path / f"a{ext}", f, fps=12))
    assert len(c) == 6 and abs(c.fps - 12) < 1e-6
    assert np.array_equal(c.frames[3], c.frames[1]) and not np.array_equal(c.frames[4], c.frames[3])
    s = read_frames(write_frames(tmp_path / f"s{ext}", static, fps=12))
    assert len(s) == 5


def test_a_video_ffmpeg_did_not_finish_is_an_error_and_never_a_final_file(tmp_path, monkeypatch):
    import imageio_ffmpeg

    from vectorwan import frames as fr

    real = imageio_ffmpeg.write_frames

    def trailer_lost(path, *a, **kw):  # what a full disk does: ffmpeg fails at the trailer, silently
        gen = real(path, *a, **kw)
        orig_close = gen.close

        class Writer:
            send = gen.send

            def close(self):
                orig_close()
                data = open(path, "rb").read()
                open(path, "wb").write(data[: len(data) // 2])

        return Writer()

    monkeypatch.setattr(fr.imageio_ffmpeg, "write_frames", trailer_lost)
    rng = np.random.default_rng(0)
    with pytest.raises(UserError, match=r"x.mp4: ffmpeg did not finish the video"):
        fr.write_frames(tmp_path / "x.mp4", rng.integers(0, 255, (9, 32, 32, 3), dtype=np.uint8))
    assert list(tmp_path.iterdir()) == []
