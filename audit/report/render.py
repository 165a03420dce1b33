"""The HTML robustness report: one self-contained, offline file rendered from results.json.

Why one file: a report is mailed, attached to a ticket or archived with a CI run, and must open
from ``file://`` years later. So CSS is inlined, pictures are base64 PNGs, charts are inline SVG
drawn in Python, and the one small sorting script is pinned by a Content-Security-Policy hash:
even if some text slipped past escaping, an injected handler or remote resource would not run
or load. Templates live in the ``reports_templates`` package and are rendered with autoescape on.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from pathlib import Path

from jinja2 import Environment, FileSystemLoader
from markupsafe import Markup

from reports_templates import FOLDER

from .. import threats
from ..fileio import atomic_write_text
from ..results import verdict as verdicts
from ..results.schema import normalise
from . import text
from .context import basename, build_context

TEMPLATE = "report.html.j2"
STYLESHEET = "report.css"
SCRIPT = "sort.js.j2"


@functools.cache
def _environment() -> Environment:
    """One environment per process: Jinja compiles each template once and caches it there."""
    env = Environment(loader=FileSystemLoader(FOLDER), autoescape=True,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update({
        "pct": text.pct,
        "fixed": text.fixed,
        "counts": text.counts,
        "seconds": text.seconds,
        "ci": text.ci,
        "short_sha": text.short_sha,
        "basename": basename,
        "num": text.num,
        "dv": text.sort_value,
    })
    return env


def _source(env: Environment, name: str) -> str:
    assert env.loader is not None
    return env.loader.get_source(env, name)[0]


def _csp(script: str) -> str:
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    return ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
            f"script-src 'sha256-{digest}'; base-uri 'none'; form-action 'none'")


def render_html(results: dict, out_dir: Path, max_cards: int = 48,
                results_name: str = "results.json") -> str:
    """The report as a string; ``render_report`` writes it. Split out so tests need no disk."""
    env = _environment()
    results = normalise(results)
    manifest, summary, trust = results["manifest"], results["summary"], results["trust"]
    script = _source(env, SCRIPT)
    ctx = build_context(results, Path(out_dir), max_cards)
    return env.get_template(TEMPLATE).render(
        m=manifest,
        s=summary,
        budget=manifest["budget"],
        threat=threats.read(manifest["budget"]),
        trust=trust,
        preflight=manifest["preflight"],
        skipped=results["skipped"],
        verdict=verdicts.verdict(manifest, summary, trust, results["images"]),
        sentence=text.plain_sentence(manifest, summary),
        randomness=text.randomness_line(manifest, summary),
        access=text.access_line(manifest, summary),
        ctx=ctx,
        max_cards=max_cards,
        results_name=results_name,
        css=Markup(_source(env, STYLESHEET)),
        script=Markup(script),
        csp=_csp(script),
    )


def render_report(results: dict, out_dir: Path, output: Path | None = None,
                  max_cards: int = 48, *, results_name: str = "results.json") -> Path:
    """Write the report (default ``out_dir/report.html``) and return its path.

    Reads only ``results`` and the PNGs under ``out_dir`` it names, so ``advaudit report`` can
    re-render a saved audit without the model. The file is written to a temporary name and
    renamed (``audit.fileio``), so a failed render never leaves half a report behind.
    """
    out_dir = Path(out_dir)
    output = Path(output) if output is not None else out_dir / "report.html"
    return atomic_write_text(output, render_html(results, out_dir, max_cards, results_name))

