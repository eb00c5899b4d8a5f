"""`rung report PATH... --out FILE.html`: one self-contained HTML page (plots and GIFs inline as data
URIs, no external resources) for any mix of
- training runs (config.json): the config, the evaluation, the learning curve, the last metrics row,
  and a GIF of the trained agent where its env renders;
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


def training_run(path: Path) -> str:
    from rung.api import load
    from rung.evaluate import record_gif

    record = json.loads((path / CONFIG_FILE).read_text())
    parts = [f"<h2>{html.escape(record['algo'])} on {html.escape(record['env_id'])}, seed {record['seed']}</h2>",
             f"<p>run directory <code>{html.escape(str(path))}</code>, {record['steps']:,} env steps</p>"]
    if (path / EVAL_FILE).is_file():
        parts += ["<h3>Evaluation</h3>", table(json.loads((path / EVAL_FILE).read_text()))]
    if (path / METRICS_FILE).is_file():
        rows = read_csv(path / METRICS_FILE)
        curve = [(r["step"], r["episodic_return"]) for r in rows if "episodic_return" in r]
        if curve:
            steps, returns = zip(*curve)
            parts.append(image(plot_png({"episodic return": (list(steps), list(returns))}, "env steps",
                                        "learning curve"), "image/png", "learning curve"))
        if rows:
            parts += ["<h3>Last logged metrics</h3>", table(rows[-1])]
    if (path / EVAL_FILE).is_file():
        gif = record_gif(load(path))
        if gif:
            parts += ["<h3>The trained agent (one greedy episode)</h3>", image(gif, "image/gif", "agent")]
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


def section(path: Path) -> str:
    if not path.is_dir():
        raise RungError(f"{path} is not a directory")
    if (path / "result.json").is_file():
        return lab_result(path)
    if (path / CONFIG_FILE).is_file():
        return training_run(path)
    if (path / "summary.json").is_file():
        return rlhf_stage(path)
    raise RungError(f"{path} is neither a run directory, a lab result nor an RLHF stage")


def build_report(paths: list[str | Path], out: str | Path, title: str = "rung report") -> Path:
    body = "\n".join(section(Path(p)) for p in paths)
    page = (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head>\n<body><h1>{html.escape(title)}</h1>\n{body}\n"
            f"<script>{CHECK_IMAGES}</script></body></html>\n")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page)
    return out
