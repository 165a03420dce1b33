"""The HTML report rendered from synthetic results: escaping, missing files, card limits, content.

No model runs here: ``tests/support/synthetic.py`` writes a results dict and PNGs shaped like an
audit's, so each test renders in well under a second and asserts on what a reader would see.
"""

from __future__ import annotations

import base64
import copy
import io
import re
import struct
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from support.synthetic import synthetic_results

from audit.report import render_html, render_report
from audit.report.text import class_phrase, plain_sentence

XSS_FILE = "<img src=x onerror=alert(1)>.png"
QUOTE_FILE = 'a" onmouseover="alert(2).jpg'


class Page(HTMLParser):
    """Every start tag with its attributes, and the visible text, as a browser would parse it."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self._skip = 0
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag in ("script", "style"):
            self._skip += 1

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.text.append(data)

    def all(self, tag: str, cls: str | None = None) -> list[dict[str, str | None]]:
        return [a for t, a in self.tags if t == tag
                and (cls is None or cls in (a.get("class") or "").split())]

    @property
    def visible(self) -> str:
        return re.sub(r"\s+", " ", " ".join(self.text))


@pytest.fixture()
def audit_dir(tmp_path: Path) -> tuple[dict, Path]:
    out = tmp_path / "audit"
    return synthetic_results(out, 24, sweep=True), out


def test_report_shows_the_verdict_and_key_numbers(audit_dir):
    results, out = audit_dir
    path = render_report(results, out)
    assert path == out / "report.html"
    page = Page(path.read_text())
    s = results["summary"]
    text = page.visible
    for value in (s["flip_rate"], s["clean_accuracy"], s["robust_accuracy"],
                  s["deliverable_flip_rate"], *s["flip_rate_ci95"]):
        assert f"{value * 100:.1f}%" in text
    assert f"{s['n_images']}" in text
    assert results["manifest"]["model_sha256"][:12] in text
    assert results["manifest"]["command_line"] in text
    assert "Not robust at 4/255" in text  # synthetic flip rate is far above 25%
    expected = f"flip {s['flip_rate'] * 100:.0f}% of the {s['n_attacked']} correctly classified " \
               "cats and dogs."
    assert expected in text
    assert page.all("header", "v-red")


def test_user_strings_are_escaped_everywhere(tmp_path):
    out = tmp_path / "audit"
    results = synthetic_results(out, 10, class_names=("cat", "<b>"),
                                file_names=[XSS_FILE, QUOTE_FILE])
    results["manifest"]["model"] = "<script>alert(3)</script>.keras"
    results["manifest"]["command_line"] += " --images '</pre><script>alert(4)</script>'"
    results["skipped"][0]["path"] = "/photos/<svg onload=alert(5)>.jpg"
    html = render_html(results, out)
    page = Page(html)

    # No injected element or handler exists in the parsed document...
    assert not [a for _, a in page.tags if any(k.startswith("on") for k in a)]
    assert all(a.get("src", "").startswith("data:image/png;base64,") for a in page.all("img"))
    assert len(page.all("script")) == 1  # only the sorting script
    # ...and a bold class name did not turn into markup: same <b> count as a benign name.
    benign = copy.deepcopy(results)
    benign["manifest"]["class_names"] = ["cat", "zzz"]
    benign["summary"]["per_class"] = {
        ("zzz" if k == "<b>" else k): {**v, "transitions": {
            t.replace("<b>", "zzz"): n for t, n in v["transitions"].items()}}
        for k, v in results["summary"]["per_class"].items()}
    for row in benign["images"]:
        for key in ("true_label", "reference_label", "clean_pred", "adv_pred",
                    "deliverable_pred"):
            if row.get(key) == "<b>":
                row[key] = "zzz"
    assert len(Page(render_html(benign, out)).all("b")) == len(page.all("b"))
    # The names are shown as text, exactly as the user wrote them.
    text = page.visible
    assert XSS_FILE in text
    assert "<script>alert(3)</script>.keras" in text
    assert "<svg onload=alert(5)>.jpg" in text
    assert "&lt;img src=x onerror=alert(1)&gt;.png" in html
    assert "&lt;b&gt;" in html


def test_missing_pngs_show_placeholders_not_broken_images(tmp_path):
    out = tmp_path / "copied"
    results = synthetic_results(out, 12, write_pngs=False)
    page = Page(render_html(results, out))
    cards = page.all("article", "card")
    assert cards
    assert page.all("img") == []  # no <img> pointing at nothing
    placeholders = page.all("div", "placeholder")
    assert len(placeholders) == 3 * len(cards)
    assert "image not available" in page.visible
    assert "No heat map" in page.visible
    assert "clean/0000_cat_0.png" in page.visible  # tells the reader which file is missing


def test_pngs_are_embedded_as_small_thumbnails(audit_dir):
    results, out = audit_dir
    page = Page(render_html(results, out, max_cards=4))
    cards = page.all("article", "card")
    imgs = [a["src"] for a in page.all("img")]
    assert len(cards) == 4
    assert len(imgs) == 3 * 4 + 2  # three per card, the heat map and its colour scale
    for src in imgs:
        data = base64.b64decode(src.split(",", 1)[1])
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = struct.unpack(">II", data[16:24])
        assert 0 < width <= 256 and 0 < height <= 128
    assert "difference ×31" in page.visible  # eps 4: 127 // 4, said on every card
    assert "amplified ×31" in page.visible


def test_large_inputs_are_shrunk_to_thumbnails(tmp_path):
    out = tmp_path / "big"
    results = synthetic_results(out, 2, size=300)
    page = Page(render_html(results, out))
    thumbs = [a["src"] for a in page.all("img") if a.get("alt") in
              ("original", "adversarial", "difference ×31")]
    assert len(thumbs) == 3 * len(page.all("article", "card")) > 0
    for src in thumbs:
        data = base64.b64decode(src.split(",", 1)[1])
        assert struct.unpack(">II", data[16:24]) == (128, 128)


def test_max_cards_limits_cards_and_table_keeps_every_image(tmp_path):
    out = tmp_path / "many"
    results = synthetic_results(out, 40)
    page = Page(render_html(results, out, max_cards=5))
    cards = page.all("article", "card")
    assert len(cards) == 5
    table = Page(render_html(results, out, max_cards=5).split('class="sortable images"')[1])
    assert len(table.all("tr")) == 1 + 40  # header and one row per image, attacked or not
    # Worst first: the first card is a reproducible flip at the smallest minimal budget.
    flips = [r for r in results["images"] if r.get("flipped") and r.get("deliverable_flipped")]
    smallest = min(r["min_eps"] for r in flips if r["min_eps"])
    first = next(r for r in results["images"] if f"img-{r['index']}" == cards[0]["id"])
    assert first["flipped"] and first["deliverable_flipped"] and first["min_eps"] == smallest
    # Rows with a card link to it; the others do not.
    links = [a["href"] for a in page.all("a") if (a.get("href") or "").startswith("#img-")]
    assert sorted(links) == sorted(f"#{c['id']}" for c in cards)

    none = Page(render_html(results, out, max_cards=0))
    assert none.all("article", "card") == []
    assert "All 40 images" in none.visible


def test_mark_where_the_png_did_not_reproduce_the_flip(audit_dir):
    results, out = audit_dir
    bad = [r for r in results["images"] if r.get("flipped") and not r["deliverable_flipped"]]
    assert bad, "the synthetic audit has a flip that its PNG does not reproduce"
    page = Page(render_html(results, out, max_cards=100))
    assert page.visible.count("PNG did not reproduce the flip") == len(bad)


def test_sweep_draws_the_curve_and_minimal_eps(audit_dir):
    results, out = audit_dir
    page = Page(render_html(results, out))
    labels = [a.get("aria-label") for a in page.all("svg")]
    assert "flip rate against the budget" in labels
    assert "images by minimal epsilon" in labels
    assert "ran without --sweep" not in page.visible


def test_without_sweep_says_so_and_shows_the_trust_sample_instead(tmp_path):
    out = tmp_path / "nosweep"
    results = synthetic_results(out, 12, sweep=False)
    assert results["curve"] == []
    page = Page(render_html(results, out))
    labels = [a.get("aria-label") for a in page.all("svg")]
    assert "flip rate against the budget" not in labels
    assert "images by minimal epsilon" not in labels
    assert "flip rate of the trust sample against the budget" in labels
    assert "ran without --sweep" in page.visible


def test_findings_trust_skipped_and_reproducibility(audit_dir):
    results, out = audit_dir
    text = Page(render_html(results, out)).visible
    for check in results["trust"]["checks"]:
        assert check["name"] in text and check["detail"] in text
    for finding in results["manifest"]["preflight"]:
        assert finding["detail"] in text
    assert "Trust checks warn" in text  # the synthetic trust block has a warning
    assert "/photos/cat/broken.jpg" in text and "cannot decode image" in text
    m = results["manifest"]
    for value in (m["command_line"], m["model_sha256"], m["tensorflow_version"],
                  m["keras_version"], "results.json"):
        assert value in text
    assert "seed 0" in text


def test_report_is_self_contained_and_script_is_pinned_by_csp(audit_dir):
    results, out = audit_dir
    html = render_html(results, out)
    page = Page(html)
    assert page.all("link") == []
    for _, attrs in page.tags:
        for key in ("src", "href"):
            value = attrs.get(key) or ""
            assert not re.match(r"^(https?:)?//", value), value
    assert "url(" not in html and "@import" not in html
    csp = next(a["content"] for a in page.all("meta") if a.get("http-equiv") ==
               "Content-Security-Policy")
    assert "default-src 'none'" in csp and "script-src 'sha256-" in csp


def test_null_fields_and_an_empty_audit_still_render(tmp_path):
    results = {
        "manifest": {"budget": {"norm": "linf", "eps": None, "step": 1.0, "steps": 4},
                     "class_names": ["cat", "dog"], "model": None, "preflight": None},
        "summary": {"flip_rate": None, "flip_rate_ci95": None, "n_attacked": 0,
                    "per_class": None, "seconds": None},
        "images": [{"index": 0, "path": "x.jpg", "true_label": "cat", "clean_pred": "dog",
                    "clean_conf": None, "attacked": False,
                    "not_attacked_because": "already misclassified"}],
        "histograms": None, "curve": None, "trust": None, "skipped": None,
    }
    text = Page(render_html(results, tmp_path)).visible
    assert "Inconclusive: nothing was attacked" in text
    assert "not attacked: already misclassified" in text


def test_paths_outside_the_audit_folder_are_not_read(tmp_path):
    out = tmp_path / "audit"
    results = synthetic_results(out, 2)
    secret = tmp_path / "secret.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(secret)
    row = next(r for r in results["images"] if r["attacked"])
    row["clean_path"] = "../secret.png"
    row["adv_path"] = str(secret)
    page = Page(render_html(results, out))
    card = page.all("article", "card")
    assert card
    assert page.visible.count("image not available") >= 3  # both refused, so no difference


@pytest.mark.parametrize(("manifest", "summary", "expected"), [
    ({"budget": {"norm": "linf", "eps": 4.0, "step": 4.0, "steps": 1},
      "class_names": ["cat", "dog"]}, {"n_attacked": 57, "n_correct": 57, "flip_rate": 0.649},
     "One change of at most 4/255 per pixel flips 65% of the 57 correctly classified cats and "
     "dogs."),
    ({"budget": {"norm": "linf", "eps": None, "step": 1.0, "steps": 4}, "early_stop": False,
      "class_names": ["cat", "dog"]}, {"n_attacked": 30, "n_correct": 30, "flip_rate": 0.97},
     "4 steps of 1/255, at most 4/255 per pixel in total, flip 97% of the 30 correctly "
     "classified cats and dogs."),
    ({"budget": {"norm": "linf", "eps": 8.0, "step": 2.0, "steps": 10}, "early_stop": True,
      "class_names": ["fox", "puppy"], "target": "puppy"},
     {"n_attacked": 10, "n_correct": 10, "flip_rate": 0.4},
     "Up to 10 steps of 2/255, at most 8/255 per pixel in total, turn 40% of the 10 correctly "
     "classified foxes and puppies into puppies."),
    ({"budget": {"norm": "l2", "eps": 255.0, "step": 32.0, "steps": 20}, "early_stop": True,
      "class_names": list("abcde")}, {"n_attacked": 12, "n_correct": 9, "flip_rate": 0.5},
     "Up to 20 steps, within an L2 size of at most 255 counts per image, flip 50% of the 12 "
     "attacked photos."),
    ({"budget": {"norm": "l0", "eps": 10.0, "step": 10.0, "steps": 1000},
      "constant_steps": False, "class_names": ["cat", "dog"]},
     {"n_attacked": 81, "n_correct": 81, "flip_rate": 0.222},
     "Changes of at most 10 pixels per image flip 22% of the 81 correctly classified cats and "
     "dogs."),
    ({"budget": {"norm": "patch", "eps": 8.0, "step": 8.0, "steps": 1000},
      "constant_steps": False, "class_names": ["cat", "dog"]},
     {"n_attacked": 81, "n_correct": 81, "flip_rate": 0.395},
     "A patch of at most 8\u00d78 pixels anywhere in the image flips 40% of the 81 correctly "
     "classified cats and dogs."),
    ({"budget": {"norm": "l7", "eps": 3.0, "step": 3.0, "steps": 10},
      "constant_steps": False, "class_names": ["cat", "dog"]},
     {"n_attacked": 5, "n_correct": 5, "flip_rate": 0.2},
     "Changes within a l7 budget of 3 flip 20% of the 5 correctly classified cats and dogs."),
])
def test_plain_sentence_is_built_from_the_data(manifest, summary, expected):
    assert plain_sentence(manifest, summary) == expected


@pytest.mark.parametrize("threat,caption", [("l0", "changed pixels circled"),
                                            ("patch", "changed square outlined")])
def test_sparse_threat_cards_mark_the_changes_on_the_original(tmp_path, threat, caption):
    """Under L0 or a patch the third card picture is the original with its changed pixels
    circled or their square outlined (not a mostly gray difference), and the per-channel
    histograms give way to a note on how many pixels changed and where."""
    out = tmp_path / "audit"
    results = synthetic_results(out, 6, sweep=False)
    results["manifest"]["budget"].update(norm=threat, eps=3.0)
    clean_rel = next(r["clean_path"] for r in results["images"] if r.get("attacked"))
    clean = np.asarray(Image.open(out / clean_rel))
    adv = clean.copy()
    adv[10:13, 20:23] = 255 - adv[10:13, 20:23]  # a 3 x 3 patch, 9 changed pixels
    for row in results["images"]:
        if row.get("attacked"):
            Image.fromarray(adv).save(out / row["adv_path"])
    page = Page(render_html(results, out))
    marked = [a for a in page.all("img") if a.get("alt") == caption]
    assert len(marked) == len(page.all("article", "card")) > 0
    picture = np.asarray(Image.open(io.BytesIO(base64.b64decode(
        marked[0]["src"].split(",", 1)[1]))))
    rows, cols = np.nonzero(np.all(picture[..., :3] == (0, 255, 255), axis=-1))
    assert rows.size and 5 <= rows.min() and rows.max() <= 17  # around the change, only
    assert 15 <= cols.min() and cols.max() <= 27
    assert "difference \u00d7" not in page.visible
    assert "A sparse threat model" in page.visible and "channel" not in page.visible.split(
        "Anatomy of the perturbation")[1].split("Size of the changes")[0]


def test_class_phrase_handles_odd_and_many_names():
    assert class_phrase(["cat", "dog"]) == "cats and dogs"
    assert class_phrase(["bus", "fly", "key"]) == "buses, flies and keys"
    assert class_phrase(["<b>", "dog"]) == "images of <b> and dog"  # escaped by the template
    assert class_phrase([str(i) for i in range(10)]) == "images in 10 classes"


def test_output_path_and_permissions(audit_dir, tmp_path):
    results, out = audit_dir
    target = tmp_path / "elsewhere" / "r.html"
    path = render_report(results, out, target, max_cards=3)
    assert path == target and target.is_file()
    assert target.stat().st_mode & 0o044 == 0o044  # readable by others, unlike mkstemp's 0600
    assert not list(target.parent.glob(".report-*"))
    assert len(Page(target.read_text()).all("article", "card")) == 3


def test_heat_map_is_the_mean_change_and_samples_large_audits(tmp_path):
    from audit.report.images import mean_abs_delta_heatmap

    out = tmp_path / "heat"
    (out / "c").mkdir(parents=True)
    (out / "a").mkdir()
    clean = np.full((8, 8, 3), 100, np.uint8)
    pairs = []
    for i, step in enumerate([2, 4, 6]):
        adv = clean.copy()
        adv[:4] += step  # only the top half changes
        Image.fromarray(clean).save(out / "c" / f"{i}.png")
        Image.fromarray(adv).save(out / "a" / f"{i}.png")
        pairs.append((f"c/{i}.png", f"a/{i}.png"))
    heat = mean_abs_delta_heatmap(out, [*pairs, ("c/none.png", "a/none.png")])
    assert heat is not None
    assert (heat.n_images, heat.n_candidates, heat.height, heat.width) == (3, 4, 8, 8)
    assert heat.max_value == pytest.approx(4.0)  # mean of 2, 4, 6 on the changed half
    sampled = mean_abs_delta_heatmap(out, pairs * 10, limit=5)
    assert sampled is not None and (sampled.n_images, sampled.n_candidates) == (5, 30)


def test_chart_helpers_escape_and_pick_readable_ticks():
    from audit.report.charts import bar_chart, nice_ticks, tick_format

    svg = bar_chart(["<x>", "y"], [3, 1], x_title="<t>", label='"q"')
    assert "<x>" not in svg and "&lt;x&gt;" in svg and "&lt;t&gt;" in svg
    assert 'aria-label="&#34;q&#34;"' in svg
    assert nice_ticks(0, 10, 4, integer=True) == [0, 5, 10]  # no 2.5 images
    assert all(float(t).is_integer() for t in nice_ticks(0, 3, 4, integer=True))
    fmt = tick_format(nice_ticks(36.3, 36.5))
    assert [fmt(t) for t in nice_ticks(36.3, 36.5)] == ["36.30", "36.35", "36.40", "36.45",
                                                       "36.50"]


def test_wrong_types_in_an_edited_results_json_cost_a_cell_not_the_report(audit_dir):
    results, out = audit_dir
    r = copy.deepcopy(results)
    r["manifest"]["budget"] = "4/255"
    r["manifest"]["class_names"] = "cat,dog"
    r["manifest"]["target"] = 3
    r["summary"]["per_class"] = ["cat"]
    r["summary"]["flip_rate_ci95"] = "wide"
    r["histograms"]["delta"] = {"values": 4, "channels": {"red": "many"}}
    r["trust"] = {"sample_size": 16, "checks": "all fine"}
    r["curve"] = [1, 2, {"eps": "x", "flip_rate": None}]
    r["images"][0]["clean_probs"] = 0.5
    r["images"].append("not a row")
    text = Page(render_html(r, out)).visible
    assert "All 24 images" in text  # the junk row is dropped, the real ones all shown
    assert f"{results['summary']['flip_rate'] * 100:.1f}%" in text


def test_oversized_pngs_are_never_decoded(audit_dir, monkeypatch):
    """A PNG that declares 10000x10000 pixels (12 kB on disk) in place of an audit's PNG costs
    its picture, not gigabytes: the header is read, the pixels are not."""
    from support.hostile import huge_png

    from audit.report import images

    results, out = audit_dir
    flipped = next(r for r in results["images"] if r.get("flipped"))
    huge_png(out / flipped["adv_path"], 10_000, 10_000)
    decoded: list[tuple[int, ...]] = []
    real = images.cv2.imdecode

    def spy(data, flags):
        img = real(data, flags)
        decoded.append(img.shape if img is not None else ())
        return img

    monkeypatch.setattr(images.cv2, "imdecode", spy)
    page = Page(render_html(results, out, max_cards=48))
    assert decoded and max(s[0] for s in decoded) <= 128  # only the audit's own 128x128 PNGs
    assert flipped["adv_path"] in page.visible  # its card names the file it could not show
    assert "image not available" in page.visible


def _deep(levels: int):
    value: object = 1
    for _ in range(levels):
        value = [value]
    return value


def _rows(update):
    def edit(r):
        for row in r["images"]:
            row.update({k: update for k in ("linf", "l2", "l0", "psnr", "ssim", "steps",
                                             "steps_to_flip", "min_eps", "clean_conf",
                                             "adv_conf", "adv_ref_prob", "index")})
    return edit


EDITED = {
    "superscript histogram key": lambda r: r["histograms"].update(
        steps_to_flip={"²": 3, "1": 2}),
    "doubled minus key": lambda r: r["histograms"].update(min_eps={"--5": 3, "1": 2}),
    "5000-digit key": lambda r: r["histograms"].update(min_eps={"1" * 5000: 3, "1": 2}),
    "1e308 in every row": _rows(1e308),
    "-1e308 in every row": _rows(-1e308),
    "1e308 in the curve": lambda r: r.update(curve=[{"eps": 1e308, "flip_rate": 1e308},
                                                    {"eps": -1e308, "flip_rate": 0.5}]),
    "1e308 in the summary": lambda r: r["summary"].update(
        {k: 1e308 for k in r["summary"] if k != "per_class"}),
    "1e308 histogram counts": lambda r: r["histograms"]["delta"]["channels"].update(
        red=[1e308] * len(r["histograms"]["delta"]["values"])),
    "huge integers": lambda r: r["summary"].update(n_attacked=10**400, n_correct=10**400),
    "deep nesting in fields": lambda r: (r["manifest"].update(model=_deep(500)),
                                         r["trust"]["checks"][0].update(value=_deep(500))),
}


@pytest.mark.parametrize("edit", list(EDITED), ids=list(EDITED))
def test_odd_values_in_an_edited_results_json_still_render(audit_dir, edit):
    results, out = audit_dir
    r = copy.deepcopy(results)
    EDITED[edit](r)
    text = Page(render_html(r, out)).visible
    assert "All 24 images" in text


@pytest.mark.parametrize("norm", ["l7", ["linf"], None, "<b>x</b>"])
def test_an_unknown_or_odd_threat_model_name_still_renders(tmp_path, norm):
    """A results.json from a newer advaudit or an edited one may name a threat model this one
    does not know (or not a name at all): the report writes it as it stands, escaped."""
    out = tmp_path / "audit"
    results = synthetic_results(out, 4, sweep=True)
    results["manifest"]["budget"]["norm"] = norm
    html = render_html(results, out)
    assert "<b>x</b>" not in html
    assert Page(html).all("article", "card")
