"""crosscheck grade: the example class of examples/course gets the scores it should, in every output format.

The bundle is prepared once (torch and finite differences); the class is graded once, in a subprocess whose
import system refuses torch and JAX, so the grading path is shown to need neither.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np
import pytest

from crosscheck import boundary, grade, ops

ROOT = Path(__file__).resolve().parent.parent
COURSE = ROOT / "examples" / "course"
ASSIGNMENT = COURSE / "assignment.toml"
CLASS = COURSE / "class"

EXPECTED = {  # student -> item -> score (items in the assignment's order; L_model_backward last)
    "alice": [10, 10, 20, 20, 20, 10, 20],
    "bob": [10, 10, 2.5, 20, 20, 0, 20],  # db without 1/m: only the pinned one-example case passes
    "carol": [0, 10, 20, 20, 20, 10, 20],  # sigmoid_backward without (1 - s)
    "dave": [10, 0, 20, 20, 20, 10, 20],  # relu_backward unmasked
    "erin": [10, 10, 20, 20, 20, 10, 20],  # the correct code in a notebook, with magics
    "frank": [10, 0, 20, 20, 20, 10, 20],  # relu_backward loops forever
    "grace": [0, 0, 0, 0, 0, 0, 0],  # a syntax error
    "heidi": [10, 10, 20, 0, 0, 10, 20],  # no linear_activation_backward
    "ivan": [0, 10, 20, 20, 20, 10, 20],  # sigmoid_backward ends the process
    "judy": [10, 10, 0, 20, 20, 0, 20],  # linear_backward returns lists
    "kim": [10, 10, 20, 20, 20, 10, 20],  # a folder: activations in a module of their own
    "mallory": [10, 10, 0, 20, 20, 0, 20],  # dW transposed
    "nina": [10, 10, 12.5, 20, 20, 0, 20],  # exits on float32: 5 of the 8 cases are float64
    "oscar": [10, 10, 20, 20, 20, 10, 0],  # L_model_backward's dAL without its minus
}
POINTS = [10, 10, 20, 20, 20, 10, 20]

BLOCKER = """
import sys
class Block:
    tried = []
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "jax", "jaxlib"):
            Block.tried.append(name)
            raise ImportError(name + " is blocked in the grading process")
sys.meta_path.insert(0, Block())
from crosscheck.__main__ import main
rc = main(sys.argv[1:])
print("IMPORT-ATTEMPTS " + repr(Block.tried))
sys.exit(rc)
"""


def _grader(*args, **kw):
    return subprocess.run([sys.executable, "-c", BLOCKER, "grade", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, timeout=600, **kw)


def _once(tmp_path_factory, name: str, make) -> Path:
    """A folder made once per test run, shared by every xdist worker (the pattern of pytest-xdist's docs: the
    workers' common base directory and a file lock), so the class is prepared and graded once, not per worker."""
    from filelock import FileLock

    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent
    folder = shared / f"grade-{name}"
    with FileLock(str(folder) + ".lock"):
        if not (folder / "done").exists():
            folder.mkdir(exist_ok=True)
            make(folder)
            (folder / "done").write_text("")
    return folder


@pytest.fixture(scope="session")
def bundle_dir(tmp_path_factory):
    pytest.importorskip("torch")
    return _once(tmp_path_factory, "bundle", lambda out: grade.prepare(grade.load_assignment(ASSIGNMENT), out,
                                                                        progress=lambda _: None))


@pytest.fixture(scope="session")
def graded_class(bundle_dir, tmp_path_factory):
    def make(out):
        done = _grader(CLASS, "--assignment", ASSIGNMENT, "--bundle", bundle_dir, "--out", out / "class", "-j", "2")
        assert done.returncode == 0, done.stderr
        (out / "stdout.txt").write_text(done.stdout)

    out = _once(tmp_path_factory, "class", make)
    return out / "class", (out / "stdout.txt").read_text()


def _students(out: Path) -> dict:
    return {s["student"]: s for s in json.loads((out / "class.json").read_text())["students"]}


def test_the_class_gets_the_expected_scores(graded_class):
    out, _ = graded_class
    students = _students(out)
    assert sorted(students) == sorted(EXPECTED)
    for name, scores in EXPECTED.items():
        got = [i["score"] for i in students[name]["items"]]
        assert got == scores, f"{name}: {got}"
        assert students[name]["score"] == sum(scores)
        assert students[name]["max_score"] == sum(POINTS)


def test_grading_imports_no_torch_or_jax(graded_class):
    out, stdout = graded_class
    assert "IMPORT-ATTEMPTS []" in stdout
    assert all(s["frameworks_imported"] == [] for s in _students(out).values())


def test_partial_credit_is_the_fraction_of_fixed_cases(graded_class):
    bob = {i["name"]: i for i in _students(graded_class[0])["bob"]["items"]}
    item = bob["linear_backward"]
    assert (item["passed"], item["total"], item["score"]) == (1, 8, 2.5)
    assert item["first_wrong"].startswith("db ")
    assert "without the 1/m" in item["diagnosis"]


def test_a_wrong_dependency_is_not_penalized_twice(graded_class):
    """A wrong step function costs its own item only: the items that call it (the step above, and the whole
    network through L_model_backward) are graded with the staff function standing in."""
    students = _students(graded_class[0])
    for name, function in (("bob", "linear_backward"), ("carol", "sigmoid_backward"), ("dave", "relu_backward")):
        items = {i["name"]: i for i in students[name]["items"]}
        dependents = [i for i in items.values() if i["name"].startswith("linear_activation")
                      and function in i["stand_ins"]]
        assert dependents, name
        assert all(i["score"] == i["max_score"] for i in dependents)
        assert "not counted twice" in dependents[0]["output"]
        network = items["L_model_backward"]
        assert function in network["stand_ins"] and network["score"] == network["max_score"]
    heidi = {i["name"]: i for i in students["heidi"]["items"]}  # the function is missing altogether
    assert "linear_activation_backward" in heidi["L_model_backward"]["stand_ins"]
    assert all(not i["stand_ins"] for i in students["alice"]["items"])


def test_a_whole_network_item_names_the_first_wrong_tensor_and_the_bug(graded_class):
    item = next(i for i in _students(graded_class[0])["oscar"]["items"] if i["name"] == "L_model_backward")
    assert item["score"] == 0 and item["first_wrong"].startswith("dW")
    assert "times -1" in item["diagnosis"]
    assert "python -m crosscheck reproduce --sut oscar.py --convention ng" in item["output"]


def test_the_staff_function_stands_in_through_the_boundary(bundle_dir):
    """Without the stand-in bob's linear_activation_backward fails (his linear_backward is wrong); with it, the
    staff function runs in this process and answers the child's call."""
    bundle = grade.load_bundle(ASSIGNMENT, bundle_dir)
    calls = []
    staff = bundle.references()["linear_backward"]
    references = {"linear_backward": lambda *args: calls.append(1) or staff(*args)}
    child = boundary.Child(str(CLASS / "bob.py"), convention="ng-steps", references=references)
    try:
        entry = bundle.cases["linear_activation_backward (relu)"][0]
        problem = ops.build(entry["case"])
        args = (entry["case"], problem.params, problem.X, problem.Y)
        alone = grade.judge(entry, child.call(*args), "bob.py", "ng-steps")
        helped = grade.judge(entry, child.call(*args, ("linear_backward",)), "bob.py", "ng-steps")
    finally:
        child.close()
    assert alone.verdict == "fail" and alone.first_divergence == "db"
    assert helped.verdict == "pass"
    assert len(calls) == 2  # the case is called twice (boundary.call_twice)


@pytest.mark.parametrize(("student", "item", "words"), [
    ("frank", "relu_backward", "took longer than the 5 s time limit"),
    ("grace", "sigmoid_backward", "SyntaxError"),
    ("heidi", "linear_activation_backward (relu)", "defines no linear_activation_backward"),
    ("ivan", "sigmoid_backward", "exited with status 0"),
    ("judy", "linear_backward", "is a list, not an ndarray"),
])
def test_hostile_submissions_get_zero_with_a_message(graded_class, student, item, words):
    items = {i["name"]: i for i in _students(graded_class[0])[student]["items"]}
    assert items[item]["score"] == 0
    assert words in items[item]["output"]


def test_a_hanging_submission_costs_its_time_limit_once(graded_class):
    frank = _students(graded_class[0])["frank"]
    relu = next(i for i in frank["items"] if i["name"] == "relu_backward")
    assert relu["verdicts"] == {"timeout": 1, "not run": 5}
    assert frank["timed_out"] and frank["seconds"] < 5 + 30  # one case limit, plus loading and the other items


def test_results_json_is_what_gradescope_reads(graded_class):
    out = graded_class[0]
    for student in EXPECTED:
        r = json.loads((out / student / "results.json").read_text())
        assert {"score", "execution_time", "output", "visibility", "stdout_visibility", "tests"} <= set(r)
        assert isinstance(r["score"], (int, float)) and isinstance(r["execution_time"], (int, float))
        assert r["visibility"] in grade.VISIBILITY and r["stdout_visibility"] in grade.VISIBILITY
        assert len(r["tests"]) == len(POINTS)
        for t in r["tests"]:
            assert {"name", "score", "max_score", "output", "visibility", "tags"} <= set(t)
            assert isinstance(t["name"], str) and isinstance(t["output"], str) and isinstance(t["tags"], list)
            assert 0 <= t["score"] <= t["max_score"] and t["visibility"] in grade.VISIBILITY
        assert r["score"] == pytest.approx(sum(t["score"] for t in r["tests"]))


def test_junit_xml_parses_and_counts_failures(graded_class):
    out = graded_class[0]
    for student, scores in EXPECTED.items():
        suite = ET.parse(out / student / "junit.xml").getroot()
        cases = suite.findall("testcase")
        assert [c.get("name") for c in cases] == [i.name for i in grade.load_assignment(ASSIGNMENT).items]
        lost = [c for c in cases if c.find("failure") is not None or c.find("error") is not None]
        assert len(lost) == sum(s < full for s, full in zip(scores, POINTS, strict=True))


def test_feedback_respects_visibility(graded_class):
    out = graded_class[0]
    nina = {i["name"]: i for i in _students(out)["nina"]["items"]}
    assert "nina-debug-print" in nina["linear_backward"]["output"]  # a visible item shows what the code printed
    hidden = nina["linear_backward in float32"]
    assert hidden["visibility"] == "hidden" and hidden["score"] == 0
    assert "nina-debug-print" not in hidden["output"] and "dims" not in hidden["output"]
    assert hidden["smallest"] is None and hidden["diagnosis"] is None and hidden["first_wrong"] is None
    junit = ET.parse(out / "nina" / "junit.xml").getroot()
    lost = next(c for c in junit.findall("testcase") if c.get("name") == "linear_backward in float32")
    assert lost.find("failure").get("message") == "0 of 4 cases passed"
    for student in EXPECTED:
        text = (out / student / "feedback.md").read_text() + (out / student / "results.json").read_text()
        assert "staff solution of examples/course" not in text and "def linear_backward" not in text
        assert "solution.py" not in text


def test_feedback_says_how_to_reproduce_a_visible_failure(graded_class):
    item = next(i for i in _students(graded_class[0])["carol"]["items"] if i["name"] == "sigmoid_backward")
    assert "python -m crosscheck reproduce --layers carol.py --convention ng" in item["output"]
    assert "sigmoid_backward's dZ = dA σ(Z), the (1 - σ(Z)) forgotten" in item["output"]
    assert "The smallest failing case" in item["output"]


def test_a_class_folder_without_out_is_refused_not_graded_as_one_submission(bundle_dir):
    done = _grader(CLASS, "--assignment", ASSIGNMENT, "--bundle", bundle_dir)
    assert done.returncode == 2 and done.stdout.count("IMPORT-ATTEMPTS") == 0
    assert f"holds {len(grade.submissions(CLASS))} submissions, a class: grading a class needs --out DIR" in done.stderr


def test_class_report(graded_class):
    html = (graded_class[0] / "index.html").read_text()
    for words in ("Score distribution", "Most common bugs", "Timed out or crashed", "frank", "grace",
                  'href="bob/feedback.md"', "without the 1/m"):
        assert words in html


def test_partial_results_survive_a_killed_grader(bundle_dir, tmp_path):
    """results.json is rewritten after each item: a grader killed during frank's hanging item leaves a valid file."""
    target = tmp_path / "results.json"
    proc = subprocess.Popen([sys.executable, "-m", "crosscheck", "grade", str(CLASS / "frank.py"), "--assignment",
                             str(ASSIGNMENT), "--bundle", str(bundle_dir), "--gradescope", str(target)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not target.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    r = json.loads(target.read_text())
    assert 1 <= len(r["tests"]) < len(POINTS) and r["tests"][0]["name"] == "sigmoid_backward"
    assert f"Graded so far: {len(r['tests'])} of {len(POINTS)} items" in r["output"]


def test_autograder_zip(bundle_dir):
    with zipfile.ZipFile(bundle_dir / "autograder.zip") as z:
        names = set(z.namelist())
        assert {"setup.sh", "run_autograder", "requirements.txt", "bundle/bundle.json", "bundle/assignment.toml",
                "crosscheck/grade.py", "crosscheck/boundary.py"} <= names
        requirements = z.read("requirements.txt").decode()
        run = z.read("run_autograder").decode()
    assert "torch" not in requirements and "jax" not in requirements
    assert "/autograder/results/results.json" in run


def test_bundle_holds_every_oracles_answers_and_allowances(bundle_dir):
    data = json.loads((bundle_dir / grade.BUNDLE_FILE).read_text())
    entry = data["items"][2]["cases"][0]
    assert entry["case"]["dims"] == {"N": 1, "D": 3, "M": 2}  # the pinned case first
    assert set(entry["answers"]) == set(entry["allowed"]) == {"torch", "fd"}
    assert np.asarray(entry["allowed"]["fd"]["dW"]).shape == (2, 3)
    assert oct((bundle_dir / grade.BUNDLE_FILE).stat().st_mode & 0o777) == "0o600"


def test_notebook_code_skips_magics_and_markdown(tmp_path):
    nb = {"nbformat": 4, "cells": [
        {"cell_type": "markdown", "source": "# x = 1"},
        {"cell_type": "code", "source": ["%matplotlib inline\n", "!pip install numpy\n", "x = 2\n"]},
        {"cell_type": "code", "source": "%%time\nnot python"},
    ]}
    path = tmp_path / "a.ipynb"
    path.write_text(json.dumps(nb))
    code = grade.notebook_code(path)
    assert "x = 2" in code and "%" not in code and "!pip" not in code and "not python" not in code
    compile(code, "a.py", "exec")
    path.write_text("{not json")
    with pytest.raises(grade.SubmissionError, match="not a readable Jupyter notebook"):
        grade.notebook_code(path)


@pytest.mark.parametrize(("edit", "words"), [
    (("op = \"ng_sigmoid\"", "op = \"affine\""), "is not a ng op"),
    (("points = 10\ncount = 6\ntags", "points = 10\ncount = 6\ncolour = 1\ntags"), "unknown key 'colour'"),
    (("depends_on = [\"linear_backward\", \"relu_backward\"]", "depends_on = [\"nope\"]"), "'nope'"),
    (("visibility = \"hidden\"", "visibility = \"secret\""), "visibility 'secret'"),
    (("dims = { N = [2, 8], D = [2, 8] }", "dims = { N = [0, 8] }"), "dims.N"),
    (("network = \"ng\"", "network = \"keras\""), "network 'keras'"),
    (("network = \"ng\"", "network = \"nielsen\"\nfunctions = [\"Network\", \"QuadraticCost\"]"),
     "a nielsen network is a class: functions names it alone"),
])
def test_a_bad_assignment_is_named(tmp_path, edit, words):
    text = ASSIGNMENT.read_text()
    assert edit[0] in text
    (tmp_path / "solution.py").write_text("")
    path = tmp_path / "a.toml"
    path.write_text(text.replace(edit[0], edit[1], 1))
    with pytest.raises(grade.AssignmentError, match=words.replace("(", r"\(").replace("[", r"\[")):
        grade.load_assignment(path)


def test_a_bundle_from_another_assignment_is_refused(bundle_dir, tmp_path):
    (tmp_path / "solution.py").write_text("")
    path = tmp_path / "a.toml"
    path.write_text(ASSIGNMENT.read_text().replace("seed = 20261129", "seed = 1"))
    with pytest.raises(grade.AssignmentError, match="differs from the assignment the bundle"):
        grade.load_bundle(path, bundle_dir)


PEEK = '''
import errno, socket


def sigmoid(Z):
    return Z, Z


def sigmoid_backward(dA, cache):
    found = []
    try:
        open(BUNDLE).read(1)
        found.append("bundle readable")
    except OSError:
        found.append("bundle unreadable")
    try:
        socket.create_connection(("127.0.0.1", 9), timeout=2)
        found.append("network")
    except OSError as exc:
        found.append("no network" if exc.errno == errno.ENETUNREACH else "network")
    raise ValueError("PEEK " + ", ".join(found))
'''


def test_the_protections_the_output_claims_hold(bundle_dir, tmp_path):
    """What ``protections`` says applied is what a submission meets: no network, and no reading the bundle."""
    wrapper, words = grade.protections()
    path = tmp_path / "peek.py"
    path.write_text(PEEK.replace("BUNDLE", repr(str(bundle_dir / grade.BUNDLE_FILE))))
    graded = grade.grade(grade.load_bundle(ASSIGNMENT, bundle_dir), path)
    assert graded.protections == words
    output = graded.items[0].output
    assert "PEEK" in output
    if any(w.startswith("no network") for w in words):
        assert "PEEK" in output and "no network" in output.split("PEEK")[1]
    if any("unprivileged user" in w for w in words):
        assert "bundle unreadable" in output


def test_a_stand_in_takes_plain_data_only(bundle_dir, tmp_path):
    """What the submission passes to a stand-in crosses the boundary as plain data or not at all: an object of its
    own is refused in its process, before anything reaches the grader."""
    path = tmp_path / "odd.py"
    path.write_text((CLASS / "alice.py").read_text().replace(
        "dA_prev, dW, db = linear_backward(dZ, linear_cache)",
        "dA_prev, dW, db = linear_backward(dZ, (linear_cache, type('Mine', (), {})()))"))
    bundle = grade.load_bundle(ASSIGNMENT, bundle_dir)
    child = boundary.Child(str(path), convention="ng-steps", references=bundle.references())
    try:
        entry = bundle.cases["linear_activation_backward (sigmoid)"][0]
        problem = ops.build(entry["case"])
        outcome = child.call(entry["case"], problem.params, problem.X, problem.Y, ("linear_backward",))
    finally:
        child.close()
    assert outcome.kind == "raised"
    assert "the arguments given to linear_backward are not plain data: a Mine" in outcome.message


@pytest.mark.parametrize(("args", "words"), [
    (["--prepare", "--assignment", str(ASSIGNMENT)], "takes --assignment and --out"),
    (["--assignment", str(ASSIGNMENT)], "needs a SUBMISSION"),
    (["x.py", "--assignment", str(ASSIGNMENT), "-j", "0"], "-j must be at least 1"),
    (["x.py", "--assignment", "nope.toml"], "'nope.toml' does not exist"),
])
def test_grade_command_line_errors(args, words, capsys):
    from crosscheck.__main__ import main

    with pytest.raises(SystemExit) as exc:
        main(["grade", *args])
    assert exc.value.code == 2
    assert words in capsys.readouterr().err


CS231N = """
[assignment]
name = "Layers"
convention = "cs231n"
seed = 7
staff = "staff.py"
case_timeout = 10

[[item]]
name = "affine"
op = "affine"
points = 10
count = 3
dims = { N = [2, 6] }

[[item]]
name = "relu"
op = "relu"
points = 10
count = 3

[[item]]
name = "softmax"
op = "softmax_loss"
points = 10
count = 3
visibility = "after_due_date"
"""


def test_a_cs231n_layer_assignment(tmp_path):
    """The cs231n convention's layer functions grade the same way: a db from one example loses affine only."""
    pytest.importorskip("torch")
    layers = (ROOT / "examples" / "layers" / "cs231n_layers.py").read_text()
    (tmp_path / "staff.py").write_text(layers)
    (tmp_path / "a.toml").write_text(CS231N)
    assert "    db = dout.sum(axis=0)\n" in layers
    student = tmp_path / "student.py"
    student.write_text(layers.replace("    db = dout.sum(axis=0)\n", "    db = dout[0]\n", 1))
    grade.prepare(grade.load_assignment(tmp_path / "a.toml"), tmp_path / "bundle", progress=lambda _: None)
    graded = grade.grade(grade.load_bundle(tmp_path / "a.toml", tmp_path / "bundle"), student)
    assert [i.score for i in graded.items] == [0, 10, 10]
    affine = graded.items[0]
    assert affine.first_wrong.startswith("db ")
    assert "affine_backward's db is the first example's dout, not the sum over N" in affine.diagnosis
    assert "--convention cs231n" in affine.output
    assert graded.items[2].visibility == "after_due_date"


CS231N_COURSE = COURSE / "cs231n"
CS231N_EXPECTED = {  # student -> [affine_backward, relu_backward, FullyConnectedNet]
    "ada": [10, 10, 20],  # correct
    "ben": [10, 10, 0],  # the model's backward skips the relu
    "cy": [0, 10, 20],  # affine_backward's db not summed over N: the staff's stands in for the model
    "dot": [10, 10, 0],  # no FullyConnectedNet
}


@pytest.fixture(scope="session")
def cs231n_class(tmp_path_factory):
    pytest.importorskip("torch")

    def make(out):
        assignment = CS231N_COURSE / "assignment.toml"
        grade.prepare(grade.load_assignment(assignment), out / "bundle", progress=lambda _: None)
        done = _grader(CS231N_COURSE / "class", "--assignment", assignment, "--bundle", out / "bundle", "--out",
                       out / "class", "-j", "2")
        assert done.returncode == 0, done.stderr
        assert "IMPORT-ATTEMPTS []" in done.stdout

    return _students(_once(tmp_path_factory, "cs231n", make) / "class")


def test_a_cs231n_model_class_is_graded_as_a_whole_network(cs231n_class):
    assert {name: [i["score"] for i in s["items"]] for name, s in cs231n_class.items()} == CS231N_EXPECTED
    ben = cs231n_class["ben"]["items"][2]
    assert ben["first_wrong"].startswith("dW1 ") and ben["passed"] == 0 and ben["total"] == 3
    assert "(relu, identity; loss softmax_cross_entropy)" in ben["output"]
    assert "python -m crosscheck reproduce --sut ben.py:FullyConnectedNet --convention cs231n" in ben["output"]
    cy = cs231n_class["cy"]["items"]
    assert cy[0]["first_wrong"].startswith("db ") and cy[2]["stand_ins"] == ["affine_backward"]
    dot = cs231n_class["dot"]["items"][2]
    assert dot["status"] == "not run" and "has no callable 'FullyConnectedNet'" in dot["message"]
    assert "dot.py:FullyConnectedNet" in dot["message"] and "as the cs231n convention needs" in dot["message"]


NIELSEN = """
[assignment]
name = "Nielsen's network"
convention = "ng"
seed = 3
staff = "staff.py"

[[item]]
name = "Network.backprop"
network = "nielsen"
points = 10
count = 2
dims = { L = [2, 3], width = [2, 4], batch = [1, 4], outputs = [1, 3] }
"""


def test_a_nielsen_network_class_item(tmp_path):
    """nielsen's class Network: sigmoid everywhere, the quadratic cost, columns; a delta without σ' loses it."""
    pytest.importorskip("torch")
    examples = ROOT / "examples" / "conventions" / "nielsen"
    (tmp_path / "staff.py").write_text((examples / "network.py").read_text())
    (tmp_path / "a.toml").write_text(NIELSEN)
    grade.prepare(grade.load_assignment(tmp_path / "a.toml"), tmp_path / "bundle", progress=lambda _: None)
    case = grade.load_bundle(tmp_path / "a.toml", tmp_path / "bundle").cases["Network.backprop"][0]["case"]
    assert (case["loss"], case["layout"], set(case["activations"])) == ("half_sse", "columns", {"sigmoid"})
    student = tmp_path / "student.py"
    student.write_text((examples / "buggy_delta_without_sigmoid_prime.py").read_text())
    graded = grade.grade(grade.load_bundle(tmp_path / "a.toml", tmp_path / "bundle"), student)
    smallest = graded.items[0].smallest  # BP1 wrong: the output layer's dW_L goes wrong first, in every case
    assert graded.score == 0 and smallest["first_divergence"] == f"dW{len(smallest['case']['sizes']) - 1}"
    assert graded.items[0].first_wrong in ("dW2 (layer 2)", "dW3 (layer 3)")
    assert "--sut student.py:Network --convention nielsen" in graded.items[0].output
