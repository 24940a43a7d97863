"""Reproducible video metrics for vector-style animation — numpy + OpenCV only, no weights.

Everything here takes frames as uint8 arrays (T×H×W×3, or ×4 with alpha) and returns plain
numbers, so a metric can be checked by hand on a synthetic clip. Modules:

- :mod:`.flow`      DIS optical flow (forward/backward), warping and the occlusion check;
- :mod:`.temporal`  warping error, flicker, motion and DIS-based dynamic degree;
- :mod:`.style`     palette compactness, colour count, flatness, edge crispness, vectorizability;
- :mod:`.identity`  palette drift, colour-layer IoU, distance to reference images;
- :mod:`.compare`   paired statistics, bootstrap CIs and the headline improvement;
- :mod:`.pipeline`  every metric of one clip (:func:`~.pipeline.evaluate_frames`);
- :mod:`.report`    ``report.json`` / ``report.md`` / plots;
- :mod:`.run`       files in, report out (:func:`~.run.evaluate_clips`: what ``vectorwan eval`` and the demo call);
- :mod:`.command`   the ``vectorwan eval`` verb (parse, call :func:`~.run.evaluate_clips`, print).

Formulas are in each function's docstring and in ``docs/eval.md``.
"""
