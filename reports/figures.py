"""The report's figures: matplotlib ``Figure`` objects (no pyplot) saved as inline SVG strings.

* ``heatmap``: |SUT − oracle| of one tensor, entry by entry, on a log colour scale, with the worst
  entry (largest error / allowed) framed. It is an image, not an axes: the caption and the numbers
  around it are HTML, and a report holds a few hundred of them.
* ``margin_histograms``: the margins (error ÷ allowed) of passing cases per oracle and dtype on a log
  axis, one panel per environment side by side (small multiples), so that drift towards 1 shows.
* ``ticks``, ``colour_ticks``: where the HTML around a heatmap puts its index ticks and its colour
  bar's labels.

Every SVG is deterministic: a fixed ``svg.hashsalt``, no date or creator metadata, and ids prefixed
with the figure's name so that several SVGs can share one HTML page.
"""

from __future__ import annotations

import io
import math
import re

import matplotlib
import numpy as np
from markupsafe import Markup
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator
from matplotlib.transforms import IdentityTransform

RC = {
    "svg.hashsalt": "backprop-crosscheck",
    "svg.fonttype": "none",  # text stays text: small, searchable, drawn in the page's font
    "text.parse_math": False,  # a '$' in an env label is a dollar sign
    "font.family": "sans-serif",
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
}
CMAP = matplotlib.colormaps["YlOrRd"]
"""|error|: light yellow (small) to dark red (large)."""
ZERO = np.array([235, 235, 235, 255], np.uint8)
"""Entries with no error at all."""
NONFINITE = np.array([0, 0, 0, 255], np.uint8)
"""Entries whose error is inf or NaN."""
MARK = "#005aff"
"""The frame around the worst entry."""
LEGEND = [to_hex(CMAP(t)) for t in np.linspace(0.0, 1.0, 9)]
"""The colour scale's stops, for the HTML legend."""
ENV_COLOURS = [to_hex(matplotlib.colormaps["tab10"](i)) for i in range(10)]
_METADATA = {"Date": None, "Creator": None, "Format": None, "Type": None}
_ID = re.compile(r'\bid="([^"]+)"')
_REF = re.compile(r'(url\(#|href="#)([^")]+)')


def _svg(fig: Figure, name: str | None, size: tuple[int, int] | None = None, css: str = "figure") -> Markup:
    """The figure as an inline ``<svg>`` element: no XML prolog, no metadata; ids prefixed with ``name``
    (or dropped, where ``name`` is None and nothing refers to them); ``size`` (px) stretches it; ``css``
    is its class."""
    buf = io.StringIO()
    with matplotlib.rc_context(RC):
        fig.savefig(buf, format="svg", metadata=_METADATA)
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, flags=re.S)
    svg = re.sub(r"<defs>\s*<style[^>]*>[^<]*</style>\s*</defs>\s*", "", svg)  # the page's CSS has it
    svg = re.sub(r'\s+xmlns(:xlink)?="[^"]*"', "", svg)  # HTML knows inline SVG
    if name is None and not _REF.search(svg):
        svg = _ID.sub("", svg)
    else:
        prefix = re.sub(r"[^A-Za-z0-9_-]", "_", name or "fig")
        svg = _ID.sub(lambda m: f'id="{prefix}-{m.group(1)}"', svg)
        svg = _REF.sub(lambda m: f"{m.group(1)}{prefix}-{m.group(2)}", svg)
    if size:
        svg = re.sub(r'^<svg width="[^"]*" height="[^"]*"',
                     f'<svg width="{size[0]}" height="{size[1]}" preserveAspectRatio="none"', svg)
    svg = svg.replace("<svg ", f'<svg class="{css}" ', 1)
    return Markup(svg.strip())  # noqa: S704  (matplotlib escapes every text it writes)


def as_array(nested) -> np.ndarray:
    """A 2-D float array from a record's nested list ('inf' and 'nan' arrive as strings)."""
    a = np.array(nested, dtype=float) if nested is not None else np.zeros((0, 0))
    if a.ndim == 0:
        a = a.reshape(1, 1)
    elif a.ndim == 1:
        a = a.reshape(1, -1)
    elif a.ndim > 2:
        a = a.reshape(a.shape[0], -1)
    return a


def colour_range(errors) -> tuple[float, float]:
    """A log colour scale shared by several heatmaps: (lowest, highest) positive finite error, at most
    eight decades apart."""
    finite = [e[np.isfinite(e) & (e > 0)] for e in errors]
    finite = np.concatenate([f.ravel() for f in finite]) if finite else np.zeros(0)
    if not finite.size:
        return 1.0, 1.0
    hi = float(finite.max())
    return max(float(finite.min()), hi * 1e-8), hi


def cell_size(shape) -> tuple[int, int]:
    """Screen pixels per entry (height, width): big for small tensors, at least 4; an entry is at most
    three times as wide as it is high, so that a single column still shows."""
    rows, cols = max(shape[0], 1), max(shape[1], 1)
    h = int(min(22, max(4, 240 // rows)))
    w = int(min(22, max(4, 240 // cols), 3 * h))
    h = max(h, min(22, w // 3))
    return h, w


def heatmap(error: np.ndarray, worst, lo: float, hi: float) -> Markup:
    """|SUT − oracle| per entry (rows: examples or the layer's inputs; columns: units) on a log colour
    scale from ``lo`` to ``hi``, with the entry at ``worst`` framed in blue.

    The image holds one pixel per entry and the SVG is stretched to ``cell_size`` per entry (the page
    draws it pixelated, the frame's stroke unscaled): a small PNG, quick to encode. The SVG has no ids,
    so one heatmap can be shown twice."""
    error = as_array(error)
    rows, cols = error.shape
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.log10(np.clip(error, lo, hi) / lo) / math.log10(hi / lo) if hi > lo else np.ones_like(error)
    rgba = (CMAP(np.nan_to_num(t, nan=0.0)) * 255).round().astype(np.uint8)
    rgba[error == 0] = ZERO
    rgba[~np.isfinite(error)] = NONFINITE
    fig = Figure(figsize=(cols / 72, rows / 72), dpi=72)  # one pixel per entry, one SVG unit per pixel
    fig.figimage(rgba, origin="upper")
    if worst is not None and len(worst) == 2 and 0 <= worst[0] < rows and 0 <= worst[1] < cols:
        fig.add_artist(Rectangle((worst[1], rows - 1 - worst[0]), 1, 1, fill=False, edgecolor=MARK, linewidth=0.1,
                                 transform=IdentityTransform()))
    h, w = cell_size(error.shape)
    return _svg(fig, None, size=(cols * w, rows * h), css="heatmap")


def ticks(n: int, px: int, gap: int) -> list[tuple[int, float]]:
    """Index ticks along one side of a heatmap of ``n`` entries of ``px`` screen pixels each: (index,
    offset of the entry's centre in px), every 1, 2, 5, 10, 20, ... entries, at least ``gap`` px apart."""
    step = next(s for s in (10 ** e * k for e in range(7) for k in (1, 2, 5)) if s * px >= gap or s >= n)
    return [(i, i * px + px / 2) for i in range(0, n, step)]


COLOUR_BAR_PX = 240
"""The colour bar's width in the page (report.css), which its tick labels must share."""


def colour_ticks(lo: float, hi: float, ends: tuple[str, str] = ("", "")) -> list[tuple[float, str]]:
    """Ticks inside the log colour bar from ``lo`` to ``hi``: (percent from the left, label) at the powers
    of ten between them, at most four (every second, third... decade when there are more), leaving out
    any whose label would touch another or the end labels ``ends`` (about 6 px a character)."""
    if not (0 < lo < hi) or not math.isfinite(hi):
        return []
    first, last = math.ceil(math.log10(lo)), math.floor(math.log10(hi))
    decades = list(range(first, last + 1))
    step = max(1, math.ceil(len(decades) / 4))
    span = math.log10(hi / lo)
    left, right = 6 * len(ends[0]) + 6, COLOUR_BAR_PX - 6 * len(ends[1]) - 6
    out = []
    for e in decades[::step]:
        label = _decade(10.0 ** e, None)
        x = COLOUR_BAR_PX * (e - math.log10(lo)) / span
        half = 3 * len(label)
        if x - half >= left and x + half <= right:
            out.append((round(100 * x / COLOUR_BAR_PX, 2), label))
            left = x + half + 6
    return out


def _decade(x, _pos) -> str:
    e = round(math.log10(x)) if x > 0 else 0
    return "1" if e == 0 else ("10" if e == 1 else f"1e{e}")


def margin_histograms(margins: dict, oracles: list[str], dtypes: list[str], envs: list[str]) -> Markup | None:
    """Histograms of passing cases' margins: one panel per (oracle, dtype), and with several environments
    one panel per (oracle, dtype, environment) side by side on the same axes (small multiples: no
    environment's histogram hides another's).

    ``margins[(oracle, dtype, env)]`` lists each passing case's largest margin against that oracle.
    Margins of exactly 0 cannot sit on a log axis: each panel counts them in its corner."""
    values = [m for ms in margins.values() for m in ms if m > 0 and math.isfinite(m)]
    if not oracles or not dtypes or not any(margins.values()):
        return None
    lo = math.floor(math.log10(min(values))) if values else -6
    lo = max(lo, -16)
    hi = max(0.5, math.ceil(math.log10(max(values))) if values else 0.5)
    edges = np.logspace(lo, hi, int(round((hi - lo) * 4)) + 1)
    columns = [(d, k, e) for d in dtypes for k, e in enumerate(envs)]
    with matplotlib.rc_context(RC):
        panel = min(5.2, 16.4 / len(columns))  # the figure stays within the page's 1,232 px
        width, height = panel * len(columns) + 0.4, 2.3 * len(oracles) + 0.6
        fig = Figure(figsize=(width, height), dpi=72)
        axes = fig.subplots(len(oracles), len(columns), squeeze=False, sharex=True, sharey="row")
        # a fixed layout (constrained layout costs a second): room for labels and titles
        fig.subplots_adjust(left=0.55 / width, right=1 - 0.15 / width, bottom=0.6 / height,
                            top=1 - 0.3 / height, wspace=0.25, hspace=0.45)
        for i, oracle in enumerate(oracles):
            for j, (dtype, k, env) in enumerate(columns):
                ax = axes[i][j]
                ms = np.asarray(margins.get((oracle, dtype, env), []), float)
                zeros = int((ms == 0).sum())
                positive = ms[ms > 0]
                worst = float(positive.max()) if positive.size else 0.0
                if positive.size:
                    ax.hist(positive, bins=edges, histtype="stepfilled", color=ENV_COLOURS[k % len(ENV_COLOURS)],
                            alpha=0.8, linewidth=1.2)
                ax.axvline(1.0, color="#c00000", linestyle="--", linewidth=1)
                ax.set_xscale("log")
                ax.xaxis.set_major_locator(LogLocator(base=10, numticks=8 if len(columns) < 4 else 5))
                ax.xaxis.set_major_formatter(FuncFormatter(_decade))  # no mathtext: labels stay plain text
                ax.xaxis.set_minor_locator(NullLocator())  # a tick a decade is enough, and each tick costs
                where = f"{env}: " if len(envs) > 1 else ""
                ax.set_title(f"{where}vs {oracle}, {dtype}: {ms.size} cases, largest {worst:.2g}")
                ax.text(0.02, 0.96, f"{zeros} exact (margin 0)", transform=ax.transAxes, va="top", fontsize=7,
                        color="#555555")
                if j == 0:
                    ax.set_ylabel("cases")
                if i == len(oracles) - 1:
                    ax.set_xlabel("margin = |error| / allowed (fails above 1)" if len(columns) < 4 else "margin")
    return _svg(fig, "margins")
