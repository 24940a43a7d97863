"""Vector output: palette-locked, layered SVG / animated SVG / Lottie from clips or images.

Layer-wise: the *colour* layer is one palette locked over the whole clip (:mod:`.palette`),
the *shape* layer traces each colour with vtracer (:mod:`.trace`), the *motion* layer tracks each
shape over frames and keeps one trace moved by transform keyframes while it stays within the tolerance
(:mod:`.animate`, matching boxes with :mod:`.track`); :mod:`.pipeline` runs the three,
:mod:`.export` writes SVG / SMIL / Lottie and :mod:`.fidelity` measures the result;
:mod:`.files` is files in, files out (:func:`~.files.vectorize_file`: what ``vectorwan vectorize`` and
the demo call).

Names below are imported lazily, so that ``vectorwan --help`` does not load OpenCV.
"""

from importlib import import_module

_EXPORTS = {
    "Palette": "palette", "Quantizer": "palette", "fit_palette": "palette",
    "TraceOptions": "trace", "trace_frame": "trace", "render_svg": "trace",
    "VectorizeOptions": "pipeline", "VectorizeResult": "pipeline", "build_palette": "pipeline",
    "vectorize_clip": "pipeline",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(import_module(f"vectorwan.vector.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'vectorwan.vector' has no attribute {name!r}")
