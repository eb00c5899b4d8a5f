"""`rung report PATH... --out FILE.html`: one self-contained HTML page (plots and GIFs inline as data
URIs, no external resources) for any mix of
- training runs (config.json): every logged diagnostic against env steps as small multiples (returns,
  losses, approx_kl, clip fraction, entropy, explained variance, Q estimates, α, SPS …), with the health
  warnings marked where they first fired; runs of the same algorithm on the same env (seeds) share
  the figures, each run a thin line and their median with the min–max band; then each run's
  evaluation, last metrics row, a GIF of the trained agent where its env renders, and config;
- lab results (result.json): the claims with their verdicts and evidence, the figures, the numbers;
- RLHF stages (summary.json): the summary, sample texts, and the per-update metrics plotted.

A small script checks on load that every image decoded and reports it in <body data-broken="…">
(and on the console), so a browser test can tell a page that renders from one that does not.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
from pathlib import Path

from rung.errors import RungError
from rung.runs import CONFIG_FILE, EVAL_FILE, METRICS_FILE

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 2em; }
table { border-collapse: collapse; margin: .5em 0; } td, th { border: 1px solid #ddd; padding: 2px 8px; text-align: left; }
th { background: #f4f4f4; } img { max-width: 100%; } pre { background: #f7f7f7; padding: .5em; overflow-x: auto; }
.holds { color: #fff; background: #2a7; padding: 1px 6px; border-radius: 3px; }
.fails { color: #fff; background: #c33; padding: 1px 6px; border-radius: 3px; }
li { margin: .3em 0; } details { margin: .5em 0; }
.multiples { display: flex; flex-wrap: wrap; gap: 4px; } figure { margin: 0; } .multiples img { width: 320px; }
"""

CHECK_IMAGES = """
window.addEventListener("load", () => {
  const broken = Array.from(document.images).filter(img => !(img.complete && img.naturalWidth > 0));
  document.body.dataset.images = String(document.images.length);
  document.body.dataset.broken = String(broken.length);
  if (broken.length) console.error(broken.length + " image(s) failed to load");
});
"""


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def image(data: bytes, mime: str, alt: str) -> str:
    return f'<p><img src="{data_uri(data, mime)}" alt="{html.escape(alt)}"></p>'


def table(rows: dict) -> str:
    cells = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(fmt(v))}</td></tr>" for k, v in rows.items())
    return f"<table>{cells}</table>"


def fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def read_csv(path: Path) -> list[dict[str, float]]:
    with open(path, newline="") as f:
        return [{k: float(v) for k, v in row.items() if v not in ("", None)} for row in csv.DictReader(f)]


def plot_png(series: dict[str, tuple[list[float], list[float]]], xlabel: str, title: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(series), figsize=(4.2 * len(series), 3.2), squeeze=False)
    for ax, (name, (x, y)) in zip(axes[0], series.items()):
        ax.plot(x, y)
        ax.set(title=name, xlabel=xlabel)
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return buffer.getvalue()


SKIPPED_METRICS = ("step", "time", "episodes")   # the x axis, wall time, a counter


def first_warnings(rows: list[dict[str, float]], total_steps: int) -> list[tuple[float, str]]:
    """(env step, warning) where each of rung.diagnostics.health's warnings first fired in this run."""
    from rung.diagnostics import health

    seen, out = set(), []
    for i, row in enumerate(rows):
        for problem in health(rows[:i + 1], row["step"] / max(total_steps, 1)):
            kind = problem.split(" ")[0]
            if kind not in seen:
                seen.add(kind)
                out.append((row["step"], problem))
    return out


def metric_png(name: str, runs: list[tuple[str, list[dict]]], warnings: list[tuple[float, str]]) -> bytes:
    """One diagnostic against env steps: each run a line; with several, their median and min–max band
    on the first run's steps; warnings as dashed vertical lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(3.6, 2.5))
    curves = []
    for label, rows in runs:
        points = [(r["step"], r[name]) for r in rows if name in r and np.isfinite(r[name])]
        if points:
            x, y = map(np.array, zip(*points))
            ax.plot(x, y, lw=0.8, alpha=0.45 if len(runs) > 1 else 1, label=label)
            curves.append((x, y))
    if len(curves) > 1:
        grid = curves[0][0]
        stacked = np.stack([np.interp(grid, x, y) for x, y in curves])
        ax.fill_between(grid, stacked.min(0), stacked.max(0), color="k", alpha=0.1, lw=0)
        ax.plot(grid, np.median(stacked, axis=0), color="k", lw=1.4, label=f"median of {len(curves)}")
    for step, _ in warnings:
        ax.axvline(step, color="C3", ls="--", lw=0.8)
    ax.set_title(name, fontsize=9)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
    if len(runs) > 1:
        ax.legend(fontsize=6)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return buffer.getvalue()


def diagnostics(paths: list[Path]) -> str:
    """The small multiples of runs of one algorithm on one env: a figure per logged diagnostic."""
    runs, warnings = [], []
    for path in paths:
        if (path / METRICS_FILE).is_file():
            record = json.loads((path / CONFIG_FILE).read_text())
            rows = read_csv(path / METRICS_FILE)
            runs.append((f"seed {record['seed']}", rows))
            warnings += [(step, f"seed {record['seed']}, env step {step:,.0f}: {text}")
                         for step, text in first_warnings(rows, record["steps"])]
    names = list(dict.fromkeys(k for _, rows in runs for r in rows for k in r if k not in SKIPPED_METRICS))
    if not names:
        return ""
    figures = "".join(f'<figure data-metric="{html.escape(n)}" data-runs="{len(runs)}">'
                      f'<img src="{data_uri(metric_png(n, runs, warnings), "image/png")}" alt="{html.escape(n)}">'
                      f"</figure>" for n in names)
    marks = ("<p>Health warnings (dashed red lines, where each first fired):</p><ul>"
             + "".join(f"<li>{html.escape(text)}</li>" for _, text in warnings) + "</ul>") if warnings else \
        "<p>No health warning fired.</p>"
    return f'<h3>Diagnostics over training</h3><div class="multiples">{figures}</div>{marks}'


def latest_video_gif(path: Path, width: int = 320) -> bytes | None:
    """An MP4 of RUN_DIR/videos as an inline GIF (every other frame, `width` wide): pages play GIFs
    everywhere, H.264 not in every browser build. None without imageio-ffmpeg."""
    try:
        import imageio.v3 as iio
    except ImportError:
        return None
    from rung.video import gif_bytes

    return gif_bytes(list(iio.imread(path)), width)[0]


def training_runs(paths: list[Path]) -> str:
    """Runs of one algorithm on one env (seeds, usually): shared diagnostics, then each run."""
    from rung.api import load
    from rung.evaluate import record_gif

    record = json.loads((paths[0] / CONFIG_FILE).read_text())
    seeds = ", ".join(str(json.loads((p / CONFIG_FILE).read_text())["seed"]) for p in paths)
    parts = [f"<h2>{html.escape(record['algo'])} on {html.escape(record['env_id'])}, "
             f"seed{'s' if len(paths) > 1 else ''} {seeds}</h2>", diagnostics(paths)]
    for path in paths:
        record = json.loads((path / CONFIG_FILE).read_text())
        parts.append(f"<h3>seed {record['seed']}: <code>{html.escape(str(path))}</code>, {record['steps']:,} env steps</h3>")
        if (path / EVAL_FILE).is_file():
            parts += ["<h4>Evaluation</h4>", table(json.loads((path / EVAL_FILE).read_text()))]
        if (path / METRICS_FILE).is_file():
            rows = read_csv(path / METRICS_FILE)
            if rows:
                parts += ["<h4>Last logged metrics</h4>", table(rows[-1])]
        videos = sorted((path / "videos").glob("*.mp4")) if (path / "videos").is_dir() else []
        latest = videos and latest_video_gif(videos[-1])
        if latest:
            parts += [f"<h4>The latest video, {html.escape(videos[-1].name)} (--video-every)</h4>",
                      image(latest, "image/gif", videos[-1].name)]
        if (path / EVAL_FILE).is_file():
            gif = record_gif(load(path))
            if gif:
                parts += ["<h4>The trained agent (one greedy episode)</h4>", image(gif, "image/gif", "agent")]
        parts += ["<details><summary>config</summary>", table(record["config"]), "</details>"]
    return "\n".join(parts)


def lab_result(path: Path) -> str:
    result = json.loads((path / "result.json").read_text())
    held = sum(c["holds"] for c in result["claims"])
    parts = [f"<h2>lab: {html.escape(result['experiment'])}</h2>",
             f"<p>{result['seeds']} seed(s){', quick' if result['quick'] else ''}, {result['seconds']} s; "
             f"{held} of {len(result['claims'])} claims hold</p><ul>"]
    for item in result["claims"]:
        verdict = '<span class="holds">holds</span>' if item["holds"] else '<span class="fails">does not hold</span>'
        parts.append(f"<li>{verdict} {html.escape(item['claim'])}<details><summary>evidence</summary>"
                     f"<pre>{html.escape(json.dumps(item['evidence'], indent=1))}</pre></details></li>")
    parts.append("</ul>")
    for name in result["figures"]:
        parts.append(image((path / name).read_bytes(), "image/png", name))
    numbers = json.dumps(result["numbers"], indent=1)
    if len(numbers) > 20_000:
        numbers = numbers[:20_000] + "\n… (the rest is in result.json)"
    parts.append(f"<details><summary>numbers</summary><pre>{html.escape(numbers)}</pre></details>")
    return "\n".join(parts)


def rlhf_stage(path: Path) -> str:
    summary = json.loads((path / "summary.json").read_text())
    if "table" in summary:   # the demo's root: one row per policy
        rows = "".join(f"<tr><td>{html.escape(r['policy'])}</td><td>{r['gold']:.3f}</td><td>{r['proxy']:.3f}</td>"
                       f"<td>{r['kl']:.2f}</td><td>{html.escape(r['sample'])}</td></tr>" for r in summary["table"])
        return (f"<h2>RLHF demo <code>{html.escape(str(path))}</code></h2><table><tr><th>policy</th><th>gold</th>"
                f"<th>proxy</th><th>KL</th><th>sample</th></tr>{rows}</table>")
    scalars = {k: v for k, v in summary.items() if not isinstance(v, (list, dict))}
    parts = [f"<h2>RLHF stage <code>{html.escape(str(path))}</code></h2>", table(scalars)]
    for key in ("samples_before", "samples"):
        if summary.get(key):
            parts.append(f"<p>{key.replace('_', ' ')}:</p><ul>"
                         + "".join(f"<li>{html.escape(t)}</li>" for t in summary[key]) + "</ul>")
    if (path / "metrics.csv").is_file():
        rows = read_csv(path / "metrics.csv")
        keys = [k for k in ("objective/scores", "gold/mean", "objective/kl") if rows and k in rows[0]]
        if keys:
            x = [r["update"] for r in rows]
            parts.append(image(plot_png({k: (x, [r[k] for r in rows]) for k in keys}, "update", "per update"),
                               "image/png", "RLHF metrics"))
    if summary.get("config"):
        parts += ["<details><summary>config</summary>", table(summary["config"]), "</details>"]
    return "\n".join(parts)


def sections(paths: list[Path]) -> list[str]:
    """One section per lab result and RLHF stage, and one per (algorithm, env) for training runs, in the
    order they first appear."""
    groups: dict[tuple, list[Path]] = {}
    for path in paths:
        if not path.is_dir():
            raise RungError(f"{path} is not a directory")
        if (path / "result.json").is_file() or (path / "summary.json").is_file():
            groups[("other", str(path))] = [path]
        elif (path / CONFIG_FILE).is_file():
            record = json.loads((path / CONFIG_FILE).read_text())
            groups.setdefault(("run", record["algo"], record["env_id"]), []).append(path)
        else:
            raise RungError(f"{path} is neither a run directory, a lab result nor an RLHF stage")
    out = []
    for key, group in groups.items():
        if key[0] == "run":
            out.append(training_runs(group))
        elif (group[0] / "result.json").is_file():
            out.append(lab_result(group[0]))
        else:
            out.append(rlhf_stage(group[0]))
    return out


def build_report(paths: list[str | Path], out: str | Path, title: str = "rung report") -> Path:
    body = "\n".join(sections([Path(p) for p in paths]))
    page = (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head>\n<body><h1>{html.escape(title)}</h1>\n{body}\n"
            f"<script>{CHECK_IMAGES}</script></body></html>\n")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page)
    return out
