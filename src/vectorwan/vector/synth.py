"""Synthetic flat-colour animations, rendered from SVG (so edges carry real anti-aliasing).

Used by the tests and by ``benchmarks/bench_vectorize.py``; handy for trying options too.
"""

from __future__ import annotations

import math

import numpy as np

SIMPLE_COLORS = ("#e0413a", "#3a6fd8", "#f6b04a", "#222222")


def simple_scene_svg(t: int, n: int, size: int, *, background: str | None = "#ffffff") -> str:
    """A red ball sliding right, a blue square sliding down, a yellow blob with a dark outline
    turning in place. Coordinates are drawn on a 128-unit canvas scaled to ``size``."""
    u = t / max(n - 1, 1)
    bg = f'<rect width="128" height="128" fill="{background}"/>' if background else ""
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" viewBox="0 0 128 128">{bg}'
            f'<circle cx="{28 + 30 * u:.3f}" cy="34" r="18" fill="{SIMPLE_COLORS[0]}"/>'
            f'<rect x="80" y="{14 + 24 * u:.3f}" width="30" height="30" fill="{SIMPLE_COLORS[1]}"/>'
            f'<g transform="rotate({40 * u:.3f} 54 92)"><ellipse cx="54" cy="92" rx="30" ry="18" '
            f'fill="{SIMPLE_COLORS[2]}" stroke="{SIMPLE_COLORS[3]}" stroke-width="4"/></g></svg>')


def bench_scene_svg(t: int, n: int, size: int) -> str:
    """Busier scene on a 512-unit canvas: ground strip, outlined blob, turning square,
    bouncing ball with a highlight, blinking star."""
    ph = 2 * math.pi * t / n
    ball_x, ball_y = 120 + 270 * t / max(n - 1, 1), 380 - 220 * abs(math.sin(2 * ph))
    star = " ".join(
        f"{400 + (60 if k % 2 == 0 else 26) * math.cos(math.pi * k / 5 - math.pi / 2):.2f},"
        f"{110 + (60 if k % 2 == 0 else 26) * math.sin(math.pi * k / 5 - math.pi / 2):.2f}"
        for k in range(10))
    blob_x = 60 + 120 * (0.5 + 0.5 * math.sin(ph))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" viewBox="0 0 512 512">'
            '<rect width="512" height="512" fill="#ffffff"/>'
            '<rect x="0" y="430" width="512" height="82" fill="#7cc86a"/>'
            f'<path d="M{blob_x:.3f} 300 q 60 -90 140 -20 q 50 60 -20 110 q -90 30 -120 -90 z" fill="#f6b04a" '
            'stroke="#222222" stroke-width="6"/>'
            f'<g transform="rotate({360 * t / n:.3f} 150 140)"><rect x="100" y="90" width="100" height="100" '
            'rx="12" fill="#3a6fd8"/></g>'
            f'<circle cx="{ball_x:.3f}" cy="{ball_y:.3f}" r="42" fill="#e0413a"/>'
            f'<circle cx="{ball_x - 12:.3f}" cy="{ball_y - 14:.3f}" r="10" fill="#ffffff"/>'
            f'<polygon points="{star}" fill="#ffd23c" opacity="{1 if (t // 10) % 2 == 0 else 0}"/></svg>')


def render_clip(scene, n: int, size: int, *, rgba: bool = False, **kw) -> np.ndarray:
    """Render ``scene(t, n, size, **kw)`` for t in 0..n-1 → uint8 n×size×size×(3|4)."""
    from vectorwan.vector.trace import render_svg

    frames = [render_svg(scene(t, n, size, **kw), size, size, background=None if rgba else (255, 255, 255))
              for t in range(n)]
    return np.stack(frames)


def simple_clip(n: int = 8, size: int = 128, *, rgba: bool = False) -> np.ndarray:
    """The simple scene; ``rgba`` renders it on a transparent background."""
    return render_clip(simple_scene_svg, n, size, rgba=rgba, background=None if rgba else "#ffffff")


def bench_clip(n: int = 81, size: int = 512) -> np.ndarray:
    return render_clip(bench_scene_svg, n, size)
