"""The loss-curve widget (chapter 8): training and validation loss against steps.

Hover or tap the plot: a dashed line marks the step and the values are written above the plot,
never over the curves. The front-end is js/loss.js. Losses are rounded to 3 decimals and each
curve thinned to at most ``max_points`` points.
"""

from __future__ import annotations

import math

from .base import Widget


class LossCurves(Widget):
    KIND = "loss"


def _thin(xs, ys, max_points):
    stride = max(1, math.ceil(len(xs) / max_points))
    return [int(x) for x in xs[::stride]], [round(float(y), 3) for y in ys[::stride]]


def loss_widget(history: dict, max_points: int = 300, title: str = "Loss curves") -> LossCurves:
    """A widget of a run's ``history`` (as in metrics.json): batch loss, evaluated train/val loss.

    ``title`` is shown above the plot; ``max_points`` thins each curve to at most that many points.
    """
    if not isinstance(history, dict):
        raise TypeError(
            f"history must be a dict like metrics.json's 'history', got {type(history).__name__}"
        )
    steps, losses = history.get("step", []), history.get("loss", [])
    if not steps and not history.get("evals"):
        raise ValueError("the history is empty: train for at least one step first")
    curves = []
    if steps:
        x, y = _thin(steps, losses, max_points)
        curves.append(
            {"name": "batch loss", "x": x, "y": y, "colour": "#6baed6", "width": 1.5, "dots": False}
        )
    evals = history.get("evals", [])
    for split, colour in (("train", "#1f77b4"), ("val", "#d62728")):
        pts = [(e["step"], e[split]) for e in evals if split in e]
        if pts:
            x, y = _thin([p[0] for p in pts], [p[1] for p in pts], max_points)
            curves.append(
                {
                    "name": f"{split} (eval)",
                    "x": x,
                    "y": y,
                    "colour": colour,
                    "dots": True,
                    "width": 2,
                }
            )
    max_step = max(max(c["x"]) for c in curves if c["x"])
    return LossCurves(
        {"title": title, "curves": curves, "max_step": max_step}, f"loss curves: {title}"
    )
