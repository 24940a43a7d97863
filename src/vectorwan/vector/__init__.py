"""Vector output: palette-locked, layered SVG / animated SVG / Lottie from clips or images.

Layer-wise: the *colour* layer is one palette locked over the whole clip (:mod:`.palette`),
the *shape* layer traces each colour with vtracer (:mod:`.trace`), the *motion* layer keeps
shape ids stable across frames (:mod:`.track`); :mod:`.export` writes SVG / SMIL / Lottie and
:mod:`.fidelity` measures how close the result is to the source.
"""

from vectorwan.vector.palette import Palette, Quantizer, fit_palette
from vectorwan.vector.trace import TraceOptions, render_svg, trace_frame

__all__ = ["Palette", "Quantizer", "TraceOptions", "fit_palette", "render_svg", "trace_frame"]
