"""Reproducible video metrics for vector-style animation — numpy + OpenCV only, no weights.

Everything here takes frames as uint8 arrays (T×H×W×3, or ×4 with alpha) and returns plain
numbers, so a metric can be checked by hand on a synthetic clip. Modules:

- :mod:`.flow`      DIS optical flow (forward/backward), warping and the occlusion check;
- :mod:`.temporal`  warping error, flicker, motion and DIS-based dynamic degree;
- :mod:`.style`     palette compactness, colour count, flatness, edge crispness, vectorizability;
- :mod:`.identity`  palette drift, colour-layer IoU, distance to reference images;
- :mod:`.compare`   paired statistics, bootstrap CIs and the headline improvement;
- :mod:`.report`    ``report.json`` / ``report.md`` / plots;
- :mod:`.command`   the ``vectorwan eval`` verb.

Formulas are in each function's docstring and in ``docs/eval.md``.
"""
