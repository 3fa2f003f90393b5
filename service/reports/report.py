"""A finished job as a report people read: Markdown or HTML.

Both hold the best configuration, its validation and test metrics, the diagnosis with its advice,
the trials sorted by objective, and the plots. HTML embeds the PNGs (one self-contained file);
Markdown refers to them by file name (``tuneq report --out DIR`` saves them beside it).
Everything a client wrote (names, values) is escaped: as HTML in both (Markdown renderers pass
raw HTML through), and Markdown's own marks in Markdown, so a name cannot become a link, an
image or a table cell.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping
from typing import Any

from service.core.records import JobRecord, TrialRecord
from service.core.refit_summary import (
    describe_finalists,
    describe_model_io,
    describe_pareto,
    describe_refit,
)
from service.core.vocabulary import origin

MAX_TRIAL_ROWS = 200


_MARKDOWN_MARKS = str.maketrans({c: f"\\{c}" for c in "\\`*_{}[]()#+-.!|~>"})


def _md(value: Any) -> str:
    """Text for Markdown: HTML escaped, Markdown's marks backslashed, on one line."""
    text = html.escape(str(value), quote=False).translate(_MARKDOWN_MARKS)
    return " ".join(text.split())


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else str(value)


def _sorted_trials(job: JobRecord, trials: list[TrialRecord]) -> list[TrialRecord]:
    direction = job.spec.training.objective.direction
    scored = [t for t in trials if t.value is not None]
    rest = [t for t in trials if t.value is None]
    scored.sort(key=lambda t: -t.value if direction == "max" else t.value)  # type: ignore[operator]
    return scored + rest


def _content(job: JobRecord, best: TrialRecord | None, configuration: dict[str, Any]) -> dict:
    objective = job.spec.training.objective
    later = job.spec.training.objectives[1:]
    others = ", ".join(f"{o.direction}imize {o.metric}" for o in later)
    metrics = {**(best.metrics if best else {}), **job.test_metrics}
    info, hps = job.spec.dataset.info, job.spec.hyperparameters
    return {
        "title": f"tuneq job {job.name}",
        "facts": [
            (
                "Partial",
                ""
                if job.status.is_finished
                else (
                    f"the job is {job.status.value}: this is built from the {job.trials_finished} "
                    "trials finished so far; the test scores and the model come when it ends"
                ),
            ),
            ("Job", job.id),
            ("Status", job.status.value),
            ("Objective", f"{objective.direction}imize {objective.metric}"),
            ("Other objectives", others),
            ("Trials", f"{job.trials_finished} of {job.max_trials}"),
            ("Best trial", "" if best is None else str(best.number)),
            ("Stop reason", job.stop_reason or ""),
            ("Error", job.error or ""),
        ],
        "configuration": configuration,
        "searched": {
            name
            for name in configuration
            if best and origin(name, best.params, job.spec.fixed, hps).startswith("searched")
        },
        "metrics": {
            k: v
            for k, v in sorted(metrics.items())
            if k.startswith(("val_", "test_")) and not k.endswith("_std")
        },
        "diagnosis": (best.details.get("diagnosis") if best else None) or None,
        "pareto": describe_pareto(job.summary.get("pareto")),
        "refit": describe_finalists(job.summary.get("finalists"), objective.metric)
        + describe_refit(job.summary.get("refit") or {}, objective.metric)
        + describe_model_io(info.model_input(), info.output_names()),
    }


def _epochs(trial: TrialRecord) -> str:
    """Epochs of a trial; with k-fold validation, per fold (its ``epochs`` counts them all)."""
    if trial.folds > 1:
        return f"{trial.epochs_per_fold} x {trial.folds} folds"
    return str(trial.epochs)


def _trial_rows(job: JobRecord, trials: list[TrialRecord]) -> tuple[list[str], list[list[str]]]:
    names = sorted(job.spec.search_space)
    header = ["trial", "state", "objective", "epochs", *names]
    rows = [
        [str(t.number), t.state.value, _fmt(t.value), _epochs(t)]
        + [_fmt(t.params.get(n)) for n in names]
        for t in _sorted_trials(job, trials)[:MAX_TRIAL_ROWS]
    ]
    return header, rows


def _shares(importance: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """Each searched name's share of the explained objective, largest first, as percentages."""
    found = (importance or {}).get("importance") or {}
    return [(str(n), f"{100 * float(s):.0f} %") for n, s in found.items()]


def _method(importance: Mapping[str, Any] | None) -> str:
    found = importance or {}
    return f"{str(found.get('method', '')).capitalize()} ({found.get('trials', 0)} trials)."


def markdown(
    job: JobRecord,
    best: TrialRecord | None,
    configuration: dict[str, Any],
    trials: list[TrialRecord],
    plots: list[str],
    importance: Mapping[str, Any] | None = None,
) -> str:
    c = _content(job, best, configuration)
    out = [f"# {_md(c['title'])}", ""]
    out += [f"- **{k}**: {_md(v)}" for k, v in c["facts"] if v]
    out += ["", "## Best configuration", "", "| hyperparameter | value | |", "|---|---|---|"]
    for name, value in c["configuration"].items():
        searched = "searched" if name in c["searched"] else ""
        out.append(f"| {_md(name)} | {_md(_fmt(value))} | {searched} |")
    if c["metrics"]:
        out += ["", "## Metrics", "", "| metric | value |", "|---|---|"]
        out += [f"| {_md(k)} | {_md(_fmt(v))} |" for k, v in c["metrics"].items()]
    if c["pareto"]:
        out += ["", "## Several objectives", ""] + [f"- {_md(line)}" for line in c["pareto"]]
    if c["refit"]:
        out += ["", "## The shipped model", ""] + [f"- {_md(line)}" for line in c["refit"]]
    if c["diagnosis"]:
        d = c["diagnosis"]
        out += ["", f"## Diagnosis: {_md(d.get('label', ''))}", ""]
        out += [f"- {_md(e)}" for e in d.get("evidence", [])]
        out += ["", "Advice:", ""] + [f"- {_md(a)}" for a in d.get("advice", [])]
    if shares := _shares(importance):
        out += ["", "## Hyperparameter importance", "", f"{_md(_method(importance))}", ""]
        out += ["| hyperparameter | share |", "|---|---|"]
        out += [f"| {_md(name)} | {share} |" for name, share in shares]
    header, rows = _trial_rows(job, trials)
    out += ["", "## Trials (best first)", "", "| " + " | ".join(map(_md, header)) + " |"]
    out.append("|" + "---|" * len(header))
    out += ["| " + " | ".join(map(_md, row)) + " |" for row in rows]
    if plots:
        out += ["", "## Plots", ""] + [f"![{name}]({name}.png)" for name in plots]
    return "\n".join(out) + "\n"


_STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#1f2933}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #cbd2d9;padding:4px 8px;
text-align:left;font-size:14px}th{background:#f0f4f8}img{max-width:100%;margin:1em 0}
.searched{color:#2f80ed}
"""


def style_source() -> str:
    """The report's one ``<style>`` block, for a Content-Security-Policy hash: the dashboard
    opens reports as documents that inherit its policy, which allows this block and no other
    inline style."""
    return _STYLE


def _table(header: list[str], rows: list[list[str]], css: str = "") -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in rows
    )
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def html_report(
    job: JobRecord,
    best: TrialRecord | None,
    configuration: dict[str, Any],
    trials: list[TrialRecord],
    plots: dict[str, bytes],
    importance: Mapping[str, Any] | None = None,
) -> str:
    c = _content(job, best, configuration)
    parts = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(c['title'])}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(c['title'])}</h1>",
        _table(["", ""], [[k, v] for k, v in c["facts"] if v], "facts"),
        "<h2>Best configuration</h2>",
        _table(
            ["hyperparameter", "value", ""],
            [
                [name, _fmt(value), "searched" if name in c["searched"] else ""]
                for name, value in c["configuration"].items()
            ],
            "configuration",
        ),
    ]
    if c["metrics"]:
        parts += [
            "<h2>Metrics</h2>",
            _table(["metric", "value"], [[k, _fmt(v)] for k, v in c["metrics"].items()]),
        ]
    if c["pareto"]:
        parts.append("<h2>Several objectives</h2><ul>")
        parts += [f"<li>{html.escape(line)}</li>" for line in c["pareto"]]
        parts.append("</ul>")
    if c["refit"]:
        parts.append("<h2>The shipped model</h2><ul>")
        parts += [f"<li>{html.escape(line)}</li>" for line in c["refit"]]
        parts.append("</ul>")
    if c["diagnosis"]:
        d = c["diagnosis"]
        parts.append(f"<h2>Diagnosis: {html.escape(str(d.get('label', '')))}</h2><ul>")
        parts += [f"<li>{html.escape(str(e))}</li>" for e in d.get("evidence", [])]
        parts.append("</ul><p>Advice:</p><ul>")
        parts += [f"<li>{html.escape(str(a))}</li>" for a in d.get("advice", [])]
        parts.append("</ul>")
    if shares := _shares(importance):
        parts += ["<h2>Hyperparameter importance</h2>",
                  f"<p>{html.escape(_method(importance))}</p>",
                  _table(["hyperparameter", "share"], [[n, s] for n, s in shares])]  # fmt: skip
    header, rows = _trial_rows(job, trials)
    parts += ["<h2>Trials (best first)</h2>", _table(header, rows, "trials")]
    if plots:
        parts.append("<h2>Plots</h2>")
        for name, png in plots.items():
            data = base64.b64encode(png).decode()
            parts.append(
                f'<h3>{html.escape(name)}</h3><img alt="{name}" src="data:image/png;base64,{data}">'
            )
    parts.append("</body></html>")
    return "\n".join(parts)
