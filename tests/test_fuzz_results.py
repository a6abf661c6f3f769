"""Fuzzing the two files dcbench reads back that a person may edit or a disk may damage: a matrix spec (TOML) and a
cell's result.json. Whatever they hold, reading them gives a spec or a result, or a DcbenchError naming the file;
never another exception. A leaderboard skips a bad result and builds its tables from the others."""

from __future__ import annotations

import copy
import json
import math
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dcbench.api import read_result_record
from dcbench.errors import DcbenchError
from dcbench.harness.matrix import MatrixSpec, load_spec
from dcbench.leaderboard.collect import load_results
from dcbench.leaderboard.tables import summarise
from tests.test_leaderboard import fake_result

FUZZ = settings(  # DCBENCH_FUZZ_EXAMPLES=2000 for a deeper search than the suite's few seconds
    max_examples=int(os.environ.get("DCBENCH_FUZZ_EXAMPLES", "100")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

TINY = "shapes:?n_train=8&n_test=2&size=32&min_extent=8&max_extent=12"
VALID_SPEC = {
    "name": "fuzz",
    "protocol": "smoke",
    "datasets": [TINY],
    "detectors": ["yolov3-tiny"],
    "ratios": [0.25, 0.5],
    "seeds": [0, 1],
    "full_data": True,
    "methods": [{"name": "random"}, {"name": "dcod", "options": {"fbd": False}}],
}
KNOWN_DATASETS = {"shapes", "voc", "coco", "yolo"}  # a random name must not generate a full-size dataset

# every JSON scalar but null (TOML has none); a random dataset name must not generate a full-size dataset
texts = st.text(max_size=20).map(lambda t: "x" + t if t.split(":")[0].strip().lower() in KNOWN_DATASETS else t)
toml_scalars = (
    st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=True, allow_infinity=True)
    | texts
)
json_values = st.recursive(
    st.none() | toml_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
)
toml_values = st.recursive(
    toml_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=8,
)


def toml_string(text: str) -> str:
    """A TOML basic string: JSON's escapes, but \\u only for control characters (TOML has no surrogate pairs)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + "".join(f"\\u{ord(c):04x}" if ord(c) < 0x20 or ord(c) == 0x7F else c for c in escaped) + '"'


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{toml_string(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


def toml_document(doc: dict) -> str:
    return "".join(f"{toml_string(k)} = {toml_value(v)}\n" for k, v in doc.items())


def spec_or_error(path: Path) -> None:
    try:
        spec = load_spec(path)
    except DcbenchError as exc:
        assert str(exc).startswith(str(path)), exc
        assert len(str(exc).splitlines()) == 1, exc
        return
    assert isinstance(spec, MatrixSpec)
    for cell in spec.cells():
        cell.cell_name()


# -- the matrix spec -------------------------------------------------------------------------------------------
@FUZZ
@given(doc=st.dictionaries(st.sampled_from([*VALID_SPEC, "skip_bad_images", "labels", "x"]), toml_values))
def test_random_toml_documents_are_a_spec_or_one_error(tmp_path, doc):
    path = tmp_path / "spec.toml"
    path.write_text(toml_document(doc))
    spec_or_error(path)


@FUZZ
@given(data=st.data())
@pytest.mark.slow
def test_mutated_valid_specs_are_a_spec_or_one_error(tmp_path, data):
    doc = mutated(VALID_SPEC, data, toml_values)
    path = tmp_path / "spec.toml"
    path.write_text(toml_document(doc))
    spec_or_error(path)


OPTION_NAMES = ["fbd", "ipe", "iterations", "epochs", "batch", "imgsz", "min_iterations", "labels", "seed", "x"]
PLACES = {  # where a value goes in a valid spec: the places a random document seldom reaches
    "method options": lambda doc, v, opts, m: doc.update(methods=[{"name": m, "options": opts}]),
    "protocol_overrides": lambda doc, v, opts, m: doc.update(protocol_overrides=opts),
    "a dataset's test": lambda doc, v, opts, m: doc.update(datasets=[{"spec": TINY, "test": v}]),
    "labels": lambda doc, v, opts, m: doc.update(labels=v),
    "label_score": lambda doc, v, opts, m: doc.update(labels="teacher", label_score=v),
    "a row's label_score": lambda doc, v, opts, m: doc.update(
        methods=[{"name": m, "labels": "teacher", "label_score": v}]
    ),
    "eval_detectors": lambda doc, v, opts, m: doc.update(eval_detectors=[v] if isinstance(v, str) else v),
    "skip_bad_images": lambda doc, v, opts, m: doc.update(skip_bad_images=v),
}


@FUZZ
@given(
    place=st.sampled_from(list(PLACES)),
    value=toml_values,
    options=st.dictionaries(st.sampled_from(OPTION_NAMES), toml_values, max_size=3),
    method=st.sampled_from(["random", "dcod", "herding", "kcenter", "uniform", "full"]),
)
@pytest.mark.slow
def test_any_value_in_each_place_of_a_spec_is_a_spec_or_one_error(tmp_path, place, value, options, method):
    doc = copy.deepcopy(VALID_SPEC)
    PLACES[place](doc, value, options, method)
    path = tmp_path / "spec.toml"
    path.write_text(toml_document(doc))
    spec_or_error(path)


@FUZZ
@given(data=st.data())
def test_damaged_spec_text_is_a_spec_or_one_error(tmp_path, data):
    text = toml_document(VALID_SPEC).encode()
    cut = data.draw(st.integers(0, len(text)))
    damaged = text[:cut] + data.draw(st.binary(max_size=6)) + text[cut + data.draw(st.integers(0, 6)) :]
    path = tmp_path / "spec.toml"
    path.write_bytes(damaged)
    spec_or_error(path)


def mutated(doc: dict, data, values) -> dict:
    """A copy of ``doc`` with one to three values somewhere inside it replaced by ``values``, deleted or added."""
    doc = copy.deepcopy(doc)
    for _ in range(data.draw(st.integers(1, 3))):
        target = doc
        while True:  # down a random path
            keys = list(range(len(target))) if isinstance(target, list) else list(target)
            key = data.draw(st.sampled_from(keys)) if keys else None
            if key is not None and isinstance(target[key], (dict, list)) and data.draw(st.booleans()):
                target = target[key]
                continue
            break
        action = data.draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "add" or key is None:
            if isinstance(target, list):
                target.append(data.draw(values))
            else:
                target[data.draw(st.text(max_size=6))] = data.draw(values)
        elif action == "delete":
            del target[key]
        else:
            target[key] = data.draw(values)
    return doc


# -- result.json ---------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def valid_record(tmp_path_factory) -> dict:
    """A result record with every key the readers use, as the harness writes it."""
    root = tmp_path_factory.mktemp("valid")
    fake_result(root, "random", 0.1, 0, 5.0)
    record = json.loads(next(root.glob("*/result.json")).read_text())
    record.update(
        schema=2,
        timings={"total_s": 3.0, "train_s": 2.0, "condense_s": 0.5},
        device={"name": "cpu", "model": "x86", "threads": 2, "cores": 2},
        teacher=None,
        warnings=[],
    )
    record["condensed"].update(boxes=30, timings={"condense_s": 0.5})
    record["condensed"]["manifest"]["features"] = {"cache_key": "k", "cached": True, "extract_s": 1.0}
    return record


def result_or_error(root: Path, record: dict) -> None:
    """``root/bad/result.json`` is read or refused in one line; the leaderboard skips it and keeps another cell
    (``record`` at another seed)."""
    reference = copy.deepcopy(record)
    reference["cell"] += "-reference"
    reference["config"]["seed"] = 99
    (root / "good").mkdir(exist_ok=True)
    (root / "good" / "result.json").write_text(json.dumps(reference))
    try:
        read_result_record(root / "bad" / "result.json")
    except DcbenchError as exc:
        assert str(exc).startswith(str(root / "bad" / "result.json")) and len(str(exc).splitlines()) == 1, exc
    try:
        frame = load_results(root)
    except DcbenchError as exc:
        assert "more than once" in str(exc), exc  # the mutated record may be the same cell as the other one
        return
    assert reference["cell"] in set(frame["cell"])
    summarise(frame)


def _write(root: Path, data: bytes) -> None:
    (root / "bad").mkdir(parents=True, exist_ok=True)
    (root / "bad" / "result.json").write_bytes(data)


@FUZZ
@given(value=json_values)
@pytest.mark.slow
def test_random_json_is_a_result_or_one_error_and_the_leaderboard_skips_it(tmp_path, valid_record, value):
    _write(tmp_path, json.dumps(value).encode())
    result_or_error(tmp_path, valid_record)


@FUZZ
@given(data=st.data())
@pytest.mark.slow
def test_mutated_results_are_a_result_or_one_error_and_the_leaderboard_skips_them(tmp_path, valid_record, data):
    _write(tmp_path, json.dumps(mutated(valid_record, data, json_values)).encode())
    result_or_error(tmp_path, valid_record)


@FUZZ
@given(data=st.data())
@pytest.mark.slow
def test_damaged_result_bytes_are_a_result_or_one_error(tmp_path, valid_record, data):
    text = json.dumps(valid_record).encode()
    cut = data.draw(st.integers(0, len(text)))
    damaged = text[:cut] + data.draw(st.binary(max_size=6)) + text[cut + data.draw(st.integers(0, 6)) :]
    _write(tmp_path, damaged)
    result_or_error(tmp_path, valid_record)
