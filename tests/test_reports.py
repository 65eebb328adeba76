"""The HTML report (reports/): contents, determinism, escaping, no network, and a real browser.

The results files are made here, the way the plugin writes them: a few fixed cases through
``crosscheck.check`` with the reference implementation (green) and with the sigmoid-at-A bug (red),
against torch and finite differences (jax would add seconds of compilation and nothing new).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from crosscheck import check, problems, sut
from reports import data, environments, screenshot
from reports.__main__ import main as reports_main
from reports.build import build_report, render

pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parents[1]
BUGGY = f"{ROOT / 'examples' / 'suts' / 'buggy_sigmoid_at_a.py'}:backprop"
ORACLES = ["torch", "fd"]
BASE = {"contract_version": "1.0", "scale": "unit"}
CASES = [
    # (case, the tensor the sigmoid-at-A bug breaks first, or None where there is no sigmoid)
    (dict(sizes=[3, 4, 2], activations=["tanh", "sigmoid"], loss="bce", layout="rows", dtype="float64",
          reduction="mean", batch=5, seed=1), "dZ2"),
    (dict(sizes=[2, 3], activations=["sigmoid"], loss="sse", layout="columns", dtype="float32",
          reduction="sum", batch=4, seed=2), "dZ1"),
    (dict(sizes=[3, 5, 3], activations=["relu", "softmax"], loss="cross_entropy", layout="rows", dtype="float32",
          reduction="mean", batch=6, seed=3), None),
    (dict(sizes=[2, 2], activations=["identity"], loss="mse", layout="columns", dtype="float64",
          reduction="mean", batch=3, seed=4, scale="small"), None),
]
HOSTILE = "<script>alert(1)</script> \"quoted\" 'single' & $x$ </pre>"
SCRIPT_ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def line(record: dict) -> str:
    return json.dumps(record, sort_keys=True) + "\n"  # as crosscheck/plugin.py writes them


def write_results(path: Path, spec: str, env: str, form: str = "plugin") -> list[dict]:
    """The cases' records as the plugin writes them (a passing case's compact), or ``form="v1"``: every
    one in full, as records were before ``record_version``."""
    loaded = sut.load(spec)
    records = []
    for i, (case, _) in enumerate(CASES):
        result = check.check(problems.build({**BASE, **case}), loaded, ORACLES)
        records.append({"test": f"tests/test_x.py::test_case[{i}]", "worker": None, "kind": "case", "env": env,
                        **(result.record() if form == "plugin" else result.to_json())})
    records.append({"test": "", "worker": None, "kind": "run", "env": env, "sut": spec, "oracles": ORACLES,
                    "python": "3.11.7", "platform": "Linux-test", "hypothesis_profile": "ci", "hypothesis_seed": 12345,
                    "versions": {"numpy": "2.2.6", "scipy": "1.17.1", "torch": "2.13.0+cpu", "jax": "0.10.2",
                                 "jaxlib": "0.10.2", "hypothesis": "6.170.15", "pytest": "9.2.0"},
                    "workers": 2, "started": 1795436082.0, "duration": 12.5})
    for r in records:
        if r["kind"] == "case" and r["verdict"] == "fail":
            records.append({"test": r["test"], "worker": None, "kind": "blob",
                            "blob": f"@reproduce_failure('6.170.15', b'BLOB{r['test'][-2]}')"})
    path.write_text("".join(line(r) for r in records))
    return records


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    folder = tmp_path_factory.mktemp("results")
    green, red = folder / "green.jsonl", folder / "red.jsonl"
    return {"green": green, "red": red, "green_records": write_results(green, "reference_impl:backprop", "green-box"),
            "red_records": write_results(red, BUGGY, "red-box"), "red_v1": folder / "red-v1.jsonl",
            "red_v1_records": write_results(folder / "red-v1.jsonl", BUGGY, "red-box", form="v1")}


@pytest.fixture(scope="module")
def red_html(results, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "red.html"
    build_report([results["red"]], out)
    return out


class Tags(HTMLParser):
    """Every start tag with its attributes, and the text of each script element."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags, self.scripts, self._in_script = [], [], False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._in_script = True
            self.scripts.append("")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, text):
        if self._in_script:
            self.scripts[-1] += text


def parse(html: str) -> Tags:
    tags = Tags()
    tags.feed(html)
    tags.close()
    return tags


def assert_offline(html: str) -> None:
    """No request leaves the page: no external src/href, no <link>, no <script src>, no @import or url(http)."""
    __tracebackhide__ = True
    tags = parse(html)
    for tag, attrs in tags.tags:
        assert tag not in ("link", "iframe", "object", "embed", "base"), f"<{tag}> in the report"
        for name in ("src", "href", "xlink:href", "action", "srcset", "poster"):
            value = (attrs.get(name) or "").strip().lower()
            assert not value.startswith(("http:", "https:", "//", "ftp:")), f"<{tag} {name}={value!r}>"
            assert not (value and tag == "script" and name == "src"), "<script src> in the report"
            if value:
                assert value.startswith(("data:", "#")), f"<{tag} {name}={value[:60]!r}>"
        if tag == "a" and attrs.get("href"):
            assert attrs["href"].startswith("#"), f"link out of the page: {attrs['href']!r}"
    assert "<link" not in html and "@import" not in html
    assert "http://" not in html and "https://" not in html, "a URL in the report"
    assert len(tags.scripts) == 1, "one inline script: the case table's"


def test_green_report_summarises_every_case(results, tmp_path):
    out = tmp_path / "green.html"
    build_report([results["green"]], out)
    html = out.read_text()
    assert "PASS: all 4 case records pass" in html
    assert 'data-summary="cases">4<' in html and 'data-summary="pass">4<' in html and 'data-summary="fail">0<' in html
    assert "No failing cases." in html
    for text in ("green-box", ">ci<", "12345", "2.13.0+cpu", "0.10.2", "Linux-test",
                 "3.11.7", "12.5 s", "sigmoid", "cross_entropy", "float32", "columns"):
        assert text in html, text
    assert '<svg class="figure"' in html, "the passing margins' histograms"
    assert_offline(html)


def failure_counts(html: str) -> list[str]:
    """Every place the page gives the number of failures: the banner, the nav and the section."""
    return re.findall(r'<span data-count="failures">(\d+)</span>', html)


def test_red_report_shows_the_failures_and_where_they_start(results, red_html):
    html = red_html.read_text()
    failing = [r for r in results["red_records"] if r["kind"] == "case" and r["verdict"] == "fail"]
    assert len(failing) == 2
    assert 'data-summary="cases">4<' in html and 'data-summary="fail">2<' in html and 'data-summary="pass">2<' in html
    assert 'FAIL: <span data-count="failures">2</span> failing cases' in html and "2 of 4 case records failing" in html
    assert failure_counts(html) == ["2", "2", "2"], "banner, nav and section say the same number"
    for (_, first), r in zip(CASES, (r for r in results["red_records"] if r["kind"] == "case"), strict=True):
        assert r["first_divergence"] == first
        if first:
            assert f'<code class="first-divergence">{first}</code>' in html
    # the smallest case comes first ([2, 3], dZ1), with its heatmaps, its reproduction and its test's blob
    assert html.index('id="failure-1"') < html.index('<code class="first-divergence">dZ1</code>') \
        < html.index('id="failure-2"') < html.index('<code class="first-divergence">dZ2</code>')
    index = html[html.index('id="failure-index"'):html.index("</table>", html.index('id="failure-index"'))]
    assert "dZ1 (sigmoid)" in index and "dZ2 (sigmoid)" in index, "the first divergence names its activation"
    assert "rel. error" in index and "SUT ÷ oracle" in index
    assert html.count('<svg class="heatmap"') >= 2
    assert "python -m crosscheck reproduce --sut" in html
    assert "@reproduce_failure(&#39;6.170.15&#39;, b&#39;BLOB0&#39;)" in html
    assert "Oracles among themselves" in html and "torch~fd" in html
    assert_offline(html)


def test_the_diagnosis_leads_a_red_report(results, red_html, tmp_path):
    from crosscheck import diagnose
    from crosscheck import results as _results

    html = red_html.read_text()
    box = html[html.index('<section id="diagnosis"'):html.index('<section id="summary">')]
    assert html.index('id="diagnosis"') < html.index('id="summary"') < html.index('id="failures"')
    findings = diagnose.diagnose(_results.cases(_results.read([results["red"]]).records), replay_catalogue=True)
    assert findings and findings[0].component == "sigmoid"
    components = re.findall(r'<strong class="component">([^<]+)</strong>', box)
    assert components == [f.component for f in findings], "every finding, most telling first"
    assert f"{findings[0].cases_failing} failing of {findings[0].cases_total} generate-phase cases" in box
    assert re.findall(r'<a href="#(failure-\d+)"', box) == ["failure-1", "failure-2"], "links to example cases"
    green = tmp_path / "green.html"
    build_report([results["green"]], green)
    assert 'id="diagnosis"' not in green.read_text(), "nothing to diagnose in a green run"


def test_a_report_of_several_bugs_labels_each_finding_with_its_failure(tmp_path):
    # examples/suts/three_bugs.py: a wrong sigmoid derivative, and dW in float64 from float32 cases
    def case(seed, activations, dtype):
        return dict(BASE, sizes=[3, 4, 2], activations=activations, loss="sse", layout="rows", dtype=dtype,
                    reduction="sum", batch=3, seed=seed)

    cases = ([case(s, ["sigmoid", "identity"], "float64") for s in range(3)]
             + [case(s, ["relu", "identity"], "float32") for s in range(3)]
             + [case(s, ["tanh", "identity"], "float64") for s in range(4)])
    spec = f"{ROOT / 'examples' / 'suts' / 'three_bugs.py'}:backprop"
    loaded = sut.load(spec, "none")
    records = [{"kind": "run_start", "sut": spec}]
    records += [{"test": "t", "worker": None, "kind": "case", "phase": "generate",
                 **check.check(problems.build(c), loaded, ["torch"]).record()} for c in cases]
    records.append({"kind": "run", "sut": spec, "completed": True, "exitstatus": 1})
    path, out = tmp_path / "three.jsonl", tmp_path / "three.html"
    path.write_text("".join(line(r) for r in records))
    build_report([path], out)
    html = out.read_text()
    box = html[html.index('<section id="diagnosis"'):html.index('<section id="summary">')]
    assert "2 distinct failures, each diagnosed on its own" in box
    labels = re.findall(r'<span class="failure">([^<]+)</span>', box)
    assert set(labels) == {"values of dZ", "dtype of dW"}, labels


def test_the_report_diagnoses_at_most_its_cap_of_failing_records(results, tmp_path, monkeypatch):
    from reports import build

    monkeypatch.setattr(build, "MAX_DIAGNOSED", 1)
    out = tmp_path / "capped.html"
    build_report([results["red"]], out)
    box = out.read_text()
    box = box[box.index('<section id="diagnosis"'):box.index('<section id="summary">')]
    assert "Reasoned over the first 1 of the 2 failing records of the generate phase" in box
    assert re.search(r"1 failing of 3 generate-phase cases", box), "one failing record, and every passing one"


def test_agreeing_oracles_share_a_column_and_a_heatmap(red_html):
    html = red_html.read_text()
    card = html[html.index('id="failure-1"'):html.index('id="failure-2"')]
    assert "<th>vs fd, torch agree</th>" in card and "<th>vs torch</th>" not in card
    heatmaps = re.findall(r"<h4>(\w+): \|SUT − oracle\| per entry</h4>", card)
    assert heatmaps and card.count('<svg class="heatmap"') == len(heatmaps), "one heatmap a tensor, not one an oracle"
    assert "<strong>vs fd, torch agree</strong>" in card
    assert 'data-tip="{' in card, "every cell's numbers for the tooltip"
    assert "also the largest |error|" in card or "the largest |error| is elsewhere" in card


def test_oracles_are_grouped_only_where_they_agree():
    from reports.build import oracle_groups

    def pairs(failing=()):
        return [{"against": f"{a}~{b}", "tensor": t, "passed": (a, b) not in failing}
                for a, b in (("torch", "jax"), ("torch", "fd"), ("jax", "fd")) for t in ("loss", "dZ1")]

    oracles = ["fd", "jax", "torch"]
    assert oracle_groups(oracles, pairs()) == [["fd", "jax", "torch"]]
    assert oracle_groups(oracles, pairs({("torch", "fd"), ("jax", "fd")})) == [["fd"], ["jax", "torch"]]
    assert oracle_groups(oracles, pairs({("torch", "jax")})) == [["fd", "jax"], ["torch"]]
    assert oracle_groups(oracles, pairs(), alone=["fd"]) == [["fd"], ["jax", "torch"]], "probes keep their column"
    assert oracle_groups(oracles, []) == [["fd"], ["jax"], ["torch"]], "no pair compared, no agreement known"


def test_a_tensor_of_a_few_entries_gets_a_value_table(tmp_path):
    case = dict(sizes=[2, 1], activations=["sigmoid"], loss="sse", layout="rows", dtype="float64",
                reduction="sum", batch=1, seed=5)
    result = check.check(problems.build({**BASE, **case}), sut.load(BUGGY), ORACLES)
    assert result.verdict == "fail" and result.first_divergence == "dZ1"
    path = tmp_path / "r.jsonl"
    path.write_text(line({"test": "t::small", "worker": None, "kind": "case", "env": "x", **result.record()}))
    build_report([path], tmp_path / "r.html")
    html = (tmp_path / "r.html").read_text()
    assert "<h4>dZ1: its values, entry by entry</h4>" in html and "<h4>dZ1: |SUT" not in html
    table = html[html.index('<table class="values">'):]
    table = table[:table.index("</table>")]
    kept = result.tensors
    assert f"{kept['sut'][0][0]:.3g}" in table and f"{kept['reference'][0][0]:.3g}" in table


def test_tensors_too_large_to_draw_are_named_not_drawn(tmp_path, monkeypatch):
    # per-entry errors are kept only up to DETAIL_MAX_ENTRIES: a larger diverging tensor is named
    monkeypatch.setattr(check, "DETAIL_MAX_ENTRIES", 6)
    case, first = CASES[0]
    result = check.check(problems.build({**BASE, **case}), sut.load(BUGGY), ORACLES)
    assert result.first_divergence == first == "dZ2"
    path = tmp_path / "r.jsonl"
    path.write_text(line({"test": "t::big", "worker": None, "kind": "case", "env": "x", **result.to_json()}))
    build_report([path], tmp_path / "r.html")
    html = (tmp_path / "r.html").read_text()
    note = html[html.index("not drawn: "):]
    drawn = {m for m in re.findall(r"<h4>(d[A-Za-z]+\d+): \|SUT", html)}
    assert drawn and first not in drawn  # dZ2 has 10 entries, over the cap of 6
    assert note.startswith(f"not drawn: {first}") and all(t not in note.split("(")[0] for t in drawn)


def test_failures_are_ordered_smallest_first_with_severity_as_a_toggle(results, tmp_path):
    """fail before oracle_disagreement before no_oracle; within a verdict, the smallest case first by
    default, and each card carries its place in the most-severe-first order for the toggle."""
    red = [r for r in results["red_v1_records"] if r["kind"] == "case"]  # every comparison, to make verdicts of
    fails = [r for r in red if r["verdict"] == "fail"]
    disagreement = {**red[2], "verdict": "oracle_disagreement", "test": "t::disagree"}
    disagreement["oracle_pairs"] = [{**c, "passed": False, "margin": 7.0} for c in disagreement["oracle_pairs"]]
    nothing = {**red[3], "verdict": "no_oracle", "test": "t::no_oracle", "comparisons": [], "oracle_pairs": [],
               "problems": ["no oracle ran: torch: not installed"],
               "oracles": {"torch": {"ran": False, "reason": "torch is not installed", "seconds": 0.0}}}
    path = tmp_path / "mixed.jsonl"
    path.write_text("".join(line(r) for r in [nothing, disagreement] + fails))
    out = tmp_path / "mixed.html"
    build_report([path], out)
    html = out.read_text()
    cards = re.findall(r'<details class="failure verdict-(\w+)" id="failure-\d+" data-size="(\d+)" '
                       r'data-severity="(\d+)"[^>]*>\s*<summary><h3>(.*?)</h3>', html, re.S)
    assert [v for v, *_ in cards] == ["fail", "fail", "oracle_disagreement", "no_oracle"]
    by_size = sorted(fails, key=lambda r: (len(r["case"]["sizes"]), sum(r["case"]["sizes"]), r["case"]["batch"]))
    firsts = [re.search(r"first-divergence\">(\w+)<", h).group(1) for *_, h in cards[:2]]
    assert firsts == [r["first_divergence"] for r in by_size]
    by_margin = sorted(fails, key=lambda r: -max(float(c["margin"]) for c in r["comparisons"]))
    by_severity = sorted(cards, key=lambda card: int(card[2]))
    assert [re.search(r"first-divergence\">(\w+)<", h).group(1) for *_, h in by_severity[:2]] == \
           [r["first_divergence"] for r in by_margin]
    assert [int(size) for _, size, _, _ in cards] == [1, 2, 3, 4]
    assert 'id="failure-order"' in html and 'value="severity"' in html
    assert "DISAGREE on" in html and "torch is not installed" in html


def test_rows_and_columns_twins_of_a_case_are_one_failure(results, tmp_path):
    failing = next(r for r in results["red_records"] if r.get("verdict") == "fail")
    twin = json.loads(json.dumps(failing))
    twin["case"]["layout"] = "columns" if failing["case"]["layout"] == "rows" else "rows"
    path = tmp_path / "twins.jsonl"
    path.write_text(line(failing) + line(twin))
    out = tmp_path / "twins.html"
    build_report([path], out)
    html = out.read_text()
    assert failure_counts(html) == ["1", "1", "1"] and "2 of 2 case records failing" in html
    assert html.count('<details class="failure') == 1 and "in both layouts (columns, rows" in html
    rows = html[html.index('id="case-rows"'):]
    assert rows.count('href="#failure-1"') == 2, "both records link to the one card"
    assert rows.count("python -m crosscheck reproduce") == 2, "every failing row carries its reproduce command"


def test_the_same_inputs_give_the_same_bytes(results, tmp_path):
    a, b, c = tmp_path / "a.html", tmp_path / "b.html", tmp_path / "c.html"
    build_report([results["red"], results["green"]], a)
    build_report([results["red"], results["green"]], b)
    assert a.read_bytes() == b.read_bytes()
    assert reports_main(["build", str(results["red"]), str(results["green"]), "-o", str(c), "--timestamp"]) == 0
    assert "built 20" in c.read_text() and "built 20" not in a.read_text()
    # another process, another hash seed: no set or dict order leaks into the page
    d = tmp_path / "d.html"
    subprocess.run([sys.executable, "-m", "reports", "build", str(results["red"]), str(results["green"]), "-o", str(d)],
                   check=True, cwd=ROOT, env={**os.environ, "PYTHONHASHSEED": "12345"}, capture_output=True)
    assert d.read_bytes() == a.read_bytes()


def test_records_without_sorted_keys_give_the_same_report(results, tmp_path):
    """The loader's fast path (sort_keys lines) and its fallback (anything else) agree."""
    (tmp_path / "x").mkdir()
    shuffled = tmp_path / "x" / "red.jsonl"
    records = [json.loads(r) for r in results["red"].read_text().splitlines()]
    shuffled.write_text("".join(json.dumps(dict(reversed(list(r.items())))) + "\n" for r in records))
    fast, slow = data.load([results["red"]]), data.load([shuffled])
    assert [(c.key, c.margins, c.pair_margin, c.verdict) for c in fast.cases] == \
           [(c.key, c.margins, c.pair_margin, c.verdict) for c in slow.cases]
    assert render(fast) == render(slow)


def test_a_passing_record_is_compact_and_a_failing_one_full(results):
    for name in ("green", "red"):
        for text in results[name].read_text().splitlines():
            r = json.loads(text)
            if r["kind"] != "case":
                continue
            assert r["record_version"] == check.RECORD_VERSION == 2
            if r["verdict"] == "pass":
                assert len(text.encode()) + 1 <= 2048, len(text)
                assert not {"comparisons", "oracle_pairs", "tensors", "reproduce"} & set(r)
                assert set(r["margins"]) == set(ORACLES) and set(r["pair_margins"]) == {"torch~fd"}
                assert all(0 <= m <= 1 for by in r["margins"].values() for m in by.values())
                assert r["margins"]["fd"].keys() >= {"loss", "dZ1", "dW1", "db1"}
            else:
                assert r["verdict"] == "fail" and r["tensors"]["tensor"] == r["first_divergence"]
                assert len(r["comparisons"]) == len(ORACLES) * len({c["tensor"] for c in r["comparisons"]})
                assert r["oracle_pairs"] and r["reproduce"] and "margins" not in r
                assert any(c["detail"] for c in r["comparisons"]), "per-entry errors for the heatmaps"


def test_the_deepest_pinned_case_with_three_oracles_fits_in_2_kb():
    from crosscheck import contract, suite

    pinned = max(suite.PINNED.values(), key=lambda c: len(c["sizes"]))
    case = {"contract_version": contract.CONTRACT_VERSION, "batch": 7, "seed": 1, **pinned, "dtype": "float32",
            "layout": "columns", "reduction": "mean"}
    result = check.check(problems.build(case), sut.load("reference_impl:backprop"), ["torch", "jax", "fd"])
    record = {"test": "crosscheck/suite.py::test_pinned_case[deeper-than-the-jax-depth-bucket-float32-columns]",
              "worker": "gw11", "kind": "case", "env": "local", "phase": "explicit", **result.record()}
    assert result.verdict == "pass" and len(case["sizes"]) >= 6
    assert len(line(record).encode()) <= 2048 < len(line({**record, **result.record(detail=True)}).encode())
    assert len(record["margins"]["jax"]) == 3 * (len(case["sizes"]) - 1) + 2  # dZ, dW, db a layer, dA0, loss


def test_the_loader_takes_its_fast_path_for_both_forms(results):
    for name, failing in (("green", 0), ("red", 2)):
        loaded = data.load([results[name]])
        assert loaded.parsed == {"fast": 4}, loaded.parsed
        assert sum(c.failing for c in loaded.cases) == failing
    (red,) = [c for c in data.load([results["red"]]).cases if c.first_divergence == "dZ2"]
    assert red.contract_broken is False and red.margin > 1


def test_records_of_version_1_still_load(results, tmp_path):
    old, v1 = results["red_v1"], results["red_v1_records"]
    assert not any("record_version" in r or "margins" in r for r in v1)
    shuffled = tmp_path / "v1-shuffled.jsonl"
    shuffled.write_text("".join(json.dumps(dict(reversed(list(r.items())))) + "\n" for r in v1))
    new, fast, slow = (data.load([p]) for p in (results["red"], old, shuffled))
    assert (fast.parsed, slow.parsed) == ({"fast": 4}, {"slow": 4})
    for a, b, c in zip(new.cases, fast.cases, slow.cases, strict=True):
        assert a.key == b.key == c.key and a.verdict == b.verdict == c.verdict
        assert a.reproduce == b.reproduce == c.reproduce, "a compact record's command is made from its case"
        assert b.margins == c.margins and b.pair_margin == c.pair_margin
        assert a.margins.keys() == b.margins.keys()
        for o in a.margins:  # 3 significant digits in a compact record
            assert a.margins[o] == pytest.approx(b.margins[o], rel=5e-3, abs=1e-300)
        assert a.pair_margin == pytest.approx(b.pair_margin, rel=5e-3, abs=1e-300)
        assert len(new.comparisons(a)) == len(fast.comparisons(b)) == len(slow.comparisons(c))


def test_summary_diagnose_and_report_read_both_forms(results, tmp_path, capsys):
    from crosscheck import diagnose
    from crosscheck import results as _results
    from crosscheck.__main__ import main

    old = results["red_v1"]
    outputs = []
    for path in (results["red"], old):
        assert main(["summary", str(path)]) == 1
        outputs.append(capsys.readouterr().out)
        main(["diagnose", str(path)])
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[2] and "4 cases: fail 2, pass 2" in outputs[0], outputs
    assert outputs[1] == outputs[3] and "sigmoid" in outputs[1], outputs
    forms = [_results.cases(_results.read([p]).records) for p in (results["red"], old)]
    assert diagnose.diagnose(forms[0]) == diagnose.diagnose(forms[1]) != []
    htmls = []
    for path in (results["red"], old):
        out = tmp_path / f"{path.stem}.html"
        build_report([path], out)
        html = out.read_text()
        failures = html[html.index('<section id="failures">'):html.index('<section id="margins">')]
        htmls.append(re.sub(r"[0-9.e-]+ s\b", "(time)", failures))  # each run of a case takes its own time
        assert "2 of 4 case records failing" in html and '<svg class="figure"' in html
    assert htmls[0] == htmls[1] and htmls[0].count('<svg class="heatmap"') >= 2 * len(ORACLES)


def test_a_compact_record_and_a_full_one_are_compared_across_environments(results, tmp_path):
    old = tmp_path / "v1.jsonl"
    write_results(old, "reference_impl:backprop", "old-box", form="v1")
    loaded = data.load([results["green"], old])
    compared = environments.compare(loaded)
    assert compared["shared"] == 4 and compared["without_values"] == 4
    (fd,) = [rows for oracle, rows in compared["fields"] if oracle == "fd"]
    assert fd and fd[0].tensor == "loss" and fd[0].compared == 4
    for r in fd:  # a compact record has no worst entry: only the margins are set side by side
        _, _, _, a, b = r.margin_where
        assert r.same_index == 0 and r.diff == -1.0 and abs(a - b) <= 5e-3 * max(a, b)


def test_several_environments_get_a_column_each_and_are_compared(results, tmp_path):
    # the same label in two files: the columns fall back to the file names
    other = tmp_path / "again.jsonl"
    other.write_text(results["green"].read_text())
    out = tmp_path / "envs.html"
    build_report([results["green"], other, results["red"]], out)
    html = out.read_text()
    table = html[html.index('id="summary-verdicts"'):]
    table = table[:table.index("</table>")]
    assert re.findall(r'<th class="env">([^<]+)</th>', table) == ["green.jsonl", "again.jsonl", "red-box", "(all)"]
    assert 'id="environments"' in html
    assert html.index('id="summary"') < html.index('id="environments"') < html.index('id="failures"')
    assert "values were not recorded" in html or "lack values" in html
    assert "Verdicts that differ between environments (2" in html  # the two sigmoid cases


def test_environments_with_values_are_compared_entry_by_entry(tmp_path):
    loaded = sut.load("reference_impl:backprop")
    case, _ = CASES[0]
    result = check.check(problems.build({**BASE, **case}), loaded, ORACLES, keep_values=True)
    record = {"test": "t", "worker": None, "kind": "case", **result.record()}
    assert "margins" in record and record["values"], "a passing case's compact record keeps recorded values"
    moved = json.loads(json.dumps(record))
    moved["values"]["torch"]["dW1"][1][2] += 1e-9
    (tmp_path / "a.jsonl").write_text(line({**record, "env": "box-a"}))
    (tmp_path / "b.jsonl").write_text(line({**moved, "env": "box-b"}))
    out = tmp_path / "v.html"
    build_report([tmp_path / "a.jsonl", tmp_path / "b.jsonl"], out)
    html = out.read_text()
    section = html[html.index('id="environments"'):html.index('id="case-table"')]
    torch_table = section[section.index("torch: largest difference"):]
    row = torch_table[torch_table.index("<th>dW1</th>"):]
    row = row[:row.index("</tr>")]
    assert "1e-09" in row and "(1, 2)" in row and "box-a vs box-b" in row
    assert torch_table[:torch_table.index("</table>")].count('<tr class="differs">') == 1, "the row that moved"
    ulp = 1e-9 / np.spacing(abs(record["values"]["torch"]["dW1"][1][2]) + 1e-9)
    headline = re.search(r"torch answers differ in 1 of 1 cases, at most ([0-9.e+]+) ulp", section)
    assert headline and float(headline.group(1)) == pytest.approx(ulp, rel=1e-2)
    assert "jax answers are identical" not in section  # not asked for
    assert re.search(r"fd answers are identical in all 1 cases", section)
    assert '<p class="folded">fd: every entry bit-identical' in section, "an all-identical table is one line"


def test_kill_matrix_rows(results, tmp_path):
    out = tmp_path / "kills.html"
    build_report([results["red"], ROOT / "docs" / "kill_matrix.jsonl"], out)
    html = out.read_text()
    assert 'id="kill-matrix"' in html
    first = json.loads((ROOT / "docs" / "kill_matrix.jsonl").read_text().splitlines()[0])
    assert f"<code>{first['mutant']}</code>" in html


def hostile_records(results) -> list[dict]:
    """A real failing record (and friends) with hostile strings in every field a report shows."""
    base = next(r for r in results["red_records"] if r["kind"] == "case" and r["verdict"] == "fail")
    r = json.loads(json.dumps(base))
    r["case"]["loss"] = HOSTILE
    r["case"]["activations"] = [HOSTILE] * len(r["case"]["activations"])
    r["case"][HOSTILE] = HOSTILE
    r["sut"] = HOSTILE
    r["env"] = HOSTILE
    r["test"] = HOSTILE
    r["problems"] = [HOSTILE]
    r["reproduce"] = HOSTILE
    r["oracles"][HOSTILE] = {"ran": False, "reason": HOSTILE, "seconds": 0.0}
    for c in r["comparisons"]:
        if c["against"] == "torch":
            c["against"] = HOSTILE
    passing = json.loads(json.dumps(next(x for x in results["red_records"] if x.get("verdict") == "pass")))
    passing["env"], passing["case"]["dtype"] = HOSTILE, HOSTILE
    passing["margins"][HOSTILE] = passing["margins"].pop("torch")  # compact: margins in place of comparisons
    passing["margins"]["fd"][HOSTILE] = 0.5
    # sampled records with hostile strings, and with fields of the wrong type
    sampled = json.loads(json.dumps(r))
    sampled["case"]["sample"] = {"units": HOSTILE}
    sampled["probed"] = [HOSTILE, 5]
    for c in sampled["comparisons"]:
        c["against"], c["checked"] = HOSTILE, HOSTILE
    odd = [json.loads(json.dumps(r)) for _ in range(3)]
    for x, sample, probed in zip(odd, (3, [1], None), (5, "fd", {"fd": 1}), strict=True):
        x["case"]["sample"], x["probed"] = sample, probed
    return [r, passing, sampled, *odd,
            {"kind": "blob", "test": HOSTILE, "blob": HOSTILE, "worker": None},
            {"kind": "run", "env": HOSTILE, "python": HOSTILE, "platform": HOSTILE, "versions": {"numpy": HOSTILE},
             "hypothesis_profile": HOSTILE, "hypothesis_seed": HOSTILE, "oracles": [HOSTILE], "duration": 1.0},
            {"kind": "mutant", "mutant": HOSTILE, "bug_class": HOSTILE, "cases": 1, "kills": 1, "first_kill": 1,
             "expected_first": [HOSTILE], "first_divergence": HOSTILE, "caught_by": [HOSTILE], "mislocalized": [],
             "killed": True, "localized": True},
            {"kind": HOSTILE}]


@pytest.mark.parametrize("sorted_keys", [True, False], ids=["plugin-layout", "other-layout"])
def test_hostile_strings_are_escaped(results, tmp_path, sorted_keys):
    path = tmp_path / "hostile.jsonl"
    path.write_text("".join(json.dumps(r, sort_keys=sorted_keys) + "\n" for r in hostile_records(results)))
    other = tmp_path / "other.jsonl"
    other.write_text(results["red"].read_text())  # a second environment: env labels in headers and legends
    out = tmp_path / "hostile.html"
    build_report([path, other], out)
    html = out.read_text()
    assert "<script>alert" not in html and "</pre> " not in html
    assert SCRIPT_ESCAPED in html
    assert "&#34;quoted&#34;" in html or "&quot;quoted&quot;" in html
    assert "&amp; $x$" in html
    tags = parse(html)
    assert [t for t, _ in tags.tags].count("script") == 1
    assert "alert" not in tags.scripts[0]
    for tag, attrs in tags.tags:
        assert not any(name.startswith("on") for name in attrs), f"an event handler on <{tag}>"
    assert_offline(html)


MORE_SIGMOID = [dict(sizes=[2, 2, 3], activations=["sigmoid", "identity"], loss="mse", layout="rows", dtype="float64",
                     reduction="mean", batch=3, seed=s) for s in (11, 12, 13)]


@pytest.fixture
def browser(tmp_path):
    pytest.importorskip("selenium.webdriver", reason="the browser test needs selenium (the report extra)")
    driver = screenshot.browser(1400, 900, str(tmp_path / "profile"))
    try:
        yield driver
    finally:
        driver.quit()


def assert_fits(driver, name: str) -> None:
    """Nothing overflows the page width, with every card and every details block open too."""
    __tracebackhide__ = True
    assert driver.execute_script("return window.innerWidth") == 1400
    assert driver.execute_script(screenshot.OVERFLOW) == [], f"{name}: elements overflow the page at 1400 px"
    driver.execute_script('document.querySelectorAll("details").forEach(function (d) { d.open = true; })')
    assert driver.execute_script(screenshot.OVERFLOW) == [], f"{name}: elements overflow the page at 1400 px, all open"


@pytest.mark.skipif(not (shutil.which("chromium") and shutil.which("chromedriver")),
                    reason="headless browser test needs chromium and chromedriver on PATH "
                           "(apt-get install chromium chromium-driver)")
def test_report_in_a_real_browser(results, red_html, tmp_path, browser):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver = browser
    # a red run with more failures than the cards open at first
    more = tmp_path / "more.jsonl"
    records = [{"test": f"t::more[{i}]", "worker": None, "kind": "case", "env": "red-box", "phase": "generate",
                **check.check(problems.build({**BASE, **case}), sut.load(BUGGY), ORACLES).record()}
               for i, case in enumerate(MORE_SIGMOID)]
    assert all(r["verdict"] == "fail" for r in records)
    more.write_text(results["red"].read_text() + "".join(line(r) for r in records))
    red, green, envs = tmp_path / "red.html", tmp_path / "green.html", tmp_path / "envs.html"
    build_report([more], red)
    build_report([results["green"]], green)
    build_report([results["green"], results["red"]], envs)

    driver.get(red.as_uri())
    text = lambda selector: driver.find_element(By.CSS_SELECTOR, selector).text  # noqa: E731
    assert text('[data-summary="cases"]') == "7"
    assert text('[data-summary="fail"]') == "5"
    assert {e.text for e in driver.find_elements(By.CSS_SELECTOR, "[data-count=failures]")} == {"5"}
    # the diagnosis box comes first, and names sigmoid
    box = driver.find_element(By.ID, "diagnosis")
    assert box.location["y"] < driver.find_element(By.ID, "summary").location["y"]
    assert box.find_element(By.CSS_SELECTOR, "strong.component").text == "sigmoid"
    assert box.is_displayed() and box.location["y"] + 40 < driver.execute_script("return window.innerHeight")
    # the cards: the first three open, the rest collapsed; expand and collapse all
    cards = driver.find_elements(By.CSS_SELECTOR, "details.failure")
    assert [c.get_attribute("open") is not None for c in cards] == [True, True, True, False, False]
    driver.find_element(By.ID, "collapse-all").click()
    assert not any(c.get_attribute("open") is not None for c in cards)
    driver.find_element(By.ID, "expand-all").click()
    assert all(c.get_attribute("open") is not None for c in cards)
    driver.find_element(By.ID, "collapse-all").click()
    # an index link opens its card, and its heading shows below the sticky nav
    driver.find_element(By.CSS_SELECTOR, '#failure-index a[href="#failure-5"]').click()
    card = driver.find_element(By.ID, "failure-5")
    assert card.get_attribute("open") is not None
    top = driver.execute_script("return arguments[0].getBoundingClientRect().top", card)
    nav = driver.execute_script("return document.querySelector('nav').getBoundingClientRect().bottom")
    assert nav <= top < nav + 40
    back = card.find_element(By.CSS_SELECTOR, "p.back a")
    assert back.get_attribute("href").endswith("#failure-index")
    # the order toggle: most severe first
    sizes = lambda: [int(c.get_attribute("data-severity")) for c in  # noqa: E731
                     driver.find_elements(By.CSS_SELECTOR, "details.failure")]
    Select(driver.find_element(By.ID, "failure-order")).select_by_value("severity")
    assert sizes() == sorted(sizes())
    Select(driver.find_element(By.ID, "failure-order")).select_by_value("size")
    # a heatmap's tooltip gives the numbers of the cell under the pointer
    driver.find_element(By.ID, "expand-all").click()
    heatmap = driver.find_element(By.CSS_SELECTOR, "svg.heatmap")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", heatmap)
    ActionChains(driver).move_to_element_with_offset(heatmap, 0, 0).perform()
    tip = driver.find_element(By.ID, "tip")
    assert tip.is_displayed() and "|error|" in tip.text and "allowed" in tip.text, tip.text
    # the case table: filter float32 rows, then failing ones; sort by margin
    driver.find_element(By.ID, "case-filter").send_keys("float32")
    assert text("#case-count") == "2"
    Select(driver.find_element(By.ID, "verdict-filter")).select_by_value("fail")
    assert text("#case-count") == "1"
    driver.find_element(By.ID, "case-filter").clear()
    driver.execute_script("document.getElementById('case-filter').dispatchEvent(new Event('input'))")
    Select(driver.find_element(By.ID, "verdict-filter")).select_by_value("")
    assert text("#case-count") == "7"
    header = next(h for h in driver.find_elements(By.CSS_SELECTOR, "#case-rows thead th") if h.text == "margin")
    column = header.get_attribute("cellIndex")
    margins = lambda: [float(r.find_elements(By.TAG_NAME, "td")[int(column)].get_attribute("data-v"))  # noqa: E731
                       for r in driver.find_elements(By.CSS_SELECTOR, "#case-rows tbody tr")]
    header.click()
    assert margins() == sorted(margins())
    header.click()
    assert margins() == sorted(margins(), reverse=True)
    assert header.get_attribute("aria-sort") == "descending"
    assert_fits(driver, "red")

    driver.get(green.as_uri())
    assert driver.find_elements(By.ID, "diagnosis") == [], "a green run has nothing to diagnose"
    assert driver.find_elements(By.CSS_SELECTOR, "details.failure") == []
    assert text("#verdict").startswith("PASS")
    assert_fits(driver, "green")

    driver.get(envs.as_uri())
    assert driver.find_element(By.ID, "diagnosis").find_element(By.CSS_SELECTOR, "strong.component").text == "sigmoid"
    ys = [driver.find_element(By.ID, i).location["y"] for i in ("summary", "environments", "failures")]
    assert ys == sorted(ys), "the environments right after the summary"
    assert driver.find_elements(By.CSS_SELECTOR, "#environments ul.drift li")
    assert [c.get_attribute("open") is not None for c in driver.find_elements(By.CSS_SELECTOR, "details.failure")] \
        == [True, True]
    assert_fits(driver, "several environments")


def test_pytest_report_option_builds_the_report(pytester, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    pytester.makepyfile(test_it='''
import pytest
from crosscheck import problems

@pytest.mark.crosscheck
def test_one(crosscheck):
    crosscheck(problems.build({"contract_version": "1.0", "sizes": [2, 3], "activations": ["sigmoid"],
                               "loss": "sse", "layout": "rows", "dtype": "float64", "reduction": "mean",
                               "batch": 3, "seed": 1, "scale": "unit"}))
''')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--oracles=torch,fd", "--report=out/r.html",
                                           "--env=plugin-box")
    result.assert_outcomes(passed=1)
    html = (pytester.path / "out" / "r.html").read_text()
    assert 'data-summary="cases">1<' in html and "plugin-box" in html
    assert (pytester.path / "out" / "r.html.jsonl").exists()
