"""A matrix spec (TOML): datasets x detectors x methods x ratios x seeds under one protocol, expanded into cells.

::

    name = "shapes-quick"
    protocol = "quick"                 # a preset; [protocol_overrides] may change single fields (recorded)
    datasets = ["shapes"]              # specs, or tables {spec = "voc:DIR", test = "voc:OTHER"}
    detectors = ["yolov3-tiny"]        # condense with ...
    eval_detectors = ["faster-rcnn"]   # ... and evaluate with (default: the condensing detector itself)
    ratios = [0.01, 0.02, 0.05]
    seeds = [0, 1, 2]
    full_data = true                   # add the full-train-set row (method "full", ratio 1) per evaluation detector
    skip_bad_images = false            # true: leave unreadable images out (listed in each result) instead of failing
    gpus_per_cell = 0.25               # Ray: GPUs per training task, 0.25 packs four cells on a GPU (default 1)

    [[methods]]
    name = "random"

    [[methods]]                        # several variants of one method are separate rows
    name = "dcod"
    options = { fbd = false, ipe = false }

    [[methods]]                        # a row trained on the Fetch teacher's boxes (harness.labels)
    name = "random"
    labels = "teacher"                 # "stored" (default) or "teacher"
    label_score = 0.25                 # teacher boxes at or above this score (the default)

``labels`` and ``label_score`` may also be given at the top level, as the default of every method row; the
full-data row keeps the stored labels (it trains the teacher).

Everything is checked before the first cell runs: unknown keys, unknown methods or detectors, invalid method
options and ratios are one-line errors naming the spec file. Every value that shapes a cell is in the cell's
name and its ``result.json``; the spec is a convenience, never needed to read results.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dcbench.errors import ConfigError, DcbenchError
from dcbench.harness.identity import CellConfig
from dcbench.harness.labels import check_labels
from dcbench.harness.staleness import current_settings, damaged_result, read_result, settings_drift
from dcbench.protocols import Protocol, get_protocol
from dcbench.results import DEFAULT_LABEL_SCORE, LABEL_MODES, STORED, TEACHER

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

FAILED_FILE = "failed.json"
_KEYS = {
    "name",
    "protocol",
    "protocol_overrides",
    "datasets",
    "detectors",
    "eval_detectors",
    "ratios",
    "seeds",
    "full_data",
    "methods",
    "device",
    "labels",
    "label_score",
    "skip_bad_images",
    "gpus_per_cell",
}
_ROW_KEYS = {"name", "options", "labels", "label_score"}


@dataclass(frozen=True)
class DatasetEntry:
    spec: str
    test: str | None = None


@dataclass(frozen=True)
class MethodEntry:
    name: str
    options: dict[str, Any] = field(default_factory=dict)
    labels: str = STORED
    label_score: float = DEFAULT_LABEL_SCORE


@dataclass
class MatrixSpec:
    path: Path
    name: str
    protocol: Protocol
    datasets: list[DatasetEntry]
    detectors: list[str]
    eval_detectors: list[str]
    ratios: list[float]
    seeds: list[int]
    methods: list[MethodEntry]
    full_data: bool = False
    # the bad-image policy of every cell (identity.CellConfig): stop at unreadable images, or leave them out
    skip_bad_images: bool = False
    # GPUs each Ray training task asks for: how cells are packed on GPUs, never part of a cell or its result
    gpus_per_cell: float = 1.0
    # (train, test) fingerprints per dataset entry, taken when the spec is checked: what a finished cell must match
    fingerprints: dict[tuple, tuple[str, str]] = field(default_factory=dict)
    identities: dict[str, str] = field(default_factory=dict)  # dataset spec -> data.spec.dataset_identity
    train_sizes: dict[str, int] = field(default_factory=dict)  # dataset spec -> train images (budgets, estimates)
    classes: dict[str, int] = field(default_factory=dict)  # dataset spec -> classes (the GPU estimate's FLOP count)

    def cells(self) -> list[CellConfig]:
        """All cells, seed-major so that a partial run already holds complete seeds; the full-data cells of a seed
        come first because they train the teachers its other cells reuse."""
        cells: list[CellConfig] = []
        for seed in self.seeds:
            for ds in self.datasets:
                if self.full_data:
                    for det in self.detectors:
                        for ev in self.eval_detectors or [det]:
                            cells.append(self._cell(ds, MethodEntry("full"), ev, None, 1.0, seed))
                for det in self.detectors:
                    for ratio in self.ratios:
                        for m in self.methods:
                            for ev in self.eval_detectors or [det]:
                                cells.append(self._cell(ds, m, det, ev, ratio, seed))
        unique: dict[str, CellConfig] = {}
        for c in cells:  # the full-data row of an evaluation detector is shared by every condensing detector
            unique.setdefault(c.cell_name(), c)
        return list(unique.values())

    def _cell(self, ds: DatasetEntry, m: MethodEntry, det: str, ev: str | None, ratio: float, seed: int):
        return CellConfig(
            method=m.name,
            detector=det,
            ratio=ratio,
            seed=seed,
            protocol=self.protocol,
            dataset=ds.spec,
            test_dataset=ds.test,
            eval_detector=ev if ev and ev != det else None,
            method_options=dict(m.options),
            dataset_id=self.identities.get(ds.spec),
            labels=m.labels,
            label_score=m.label_score,
            skip_bad_images=self.skip_bad_images,
        )


def _fail(path: Path, problem: str) -> ConfigError:
    from dcbench.io import one_line

    return ConfigError(one_line(f"{path}: {problem}"))


def _list(raw: dict, key: str, path: Path, kind: type | tuple, *, required: bool = True) -> list:
    value = raw.get(key, [] if not required else None)
    if value is None:
        raise _fail(path, f"missing '{key}'")
    if not isinstance(value, list) or (required and not value):
        raise _fail(path, f"'{key}' must be a non-empty list")
    for v in value:
        if not isinstance(v, kind) or isinstance(v, bool) and kind is not bool:
            raise _fail(path, f"'{key}' has {v!r}, expected {getattr(kind, '__name__', kind)}")
    return value


def _flag(raw: dict, key: str, path: Path) -> bool:
    value = raw.get(key, False)
    if not isinstance(value, bool):
        raise _fail(path, f"'{key}' must be true or false")
    return value


def _gpus_per_cell(raw: dict, path: Path) -> float:
    """A share of one GPU, or whole GPUs: what Ray can schedule (it refuses fractions above 1, such as 1.5, and
    shares finer than 0.0001)."""
    value = raw.get("gpus_per_cell", 1)
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 1e-4 or (value > 1 and not float(value).is_integer()):
        raise _fail(path, f"'gpus_per_cell' is {value!r}: expected a fraction in (0, 1] or a whole number of GPUs")
    return float(value)


def load_spec(path: str | Path, *, skip_bad_images: bool = False) -> MatrixSpec:
    """The spec at ``path``, every name in it checked and every image of its datasets decoded (data.verify); with
    ``skip_bad_images`` (``--skip-bad-images``) bad images are left out whatever the spec says."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise _fail(path, "matrix spec not found") from None
    except OSError as exc:
        raise _fail(path, f"matrix spec cannot be read ({exc.strerror or type(exc).__name__})") from None
    except UnicodeDecodeError as exc:
        where = f"byte 0x{exc.object[exc.start]:02x} at offset {exc.start}"
        raise _fail(path, f"not valid TOML: not UTF-8 text ({where})") from None
    except tomllib.TOMLDecodeError as exc:
        raise _fail(path, f"not valid TOML: {exc}") from None
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise _fail(path, f"unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(_KEYS))})")
    try:
        protocol = get_protocol(str(raw.get("protocol", "quick")))
        overrides = raw.get("protocol_overrides", {})
        if not isinstance(overrides, dict):
            raise ConfigError("'protocol_overrides' must be a table")
        protocol = protocol.with_overrides(**overrides)
    except DcbenchError as exc:
        raise _fail(path, str(exc)) from None
    datasets = []
    for d in _list(raw, "datasets", path, (str, dict)):
        if isinstance(d, str):
            datasets.append(DatasetEntry(d))
        elif set(d) <= {"spec", "test"} and isinstance(d.get("spec"), str) and isinstance(d.get("test", ""), str):
            datasets.append(DatasetEntry(d["spec"], d.get("test")))
        else:
            raise _fail(path, f"dataset entry {d!r} must be a spec string or {{spec = ..., test = ...}}")
    ratios = [float(r) for r in _list(raw, "ratios", path, (int, float))]
    for r in ratios:
        if not 0 < r <= 1:
            raise _fail(path, f"ratio {r:g} is not a fraction in (0, 1] (1 % is 0.01)")
    methods = _methods(raw, path)
    full_data, spec_skip = (_flag(raw, key, path) for key in ("full_data", "skip_bad_images"))
    spec = MatrixSpec(
        path=path,
        name=str(raw.get("name", path.stem)),
        protocol=protocol,
        datasets=datasets,
        detectors=_list(raw, "detectors", path, str),
        eval_detectors=_list(raw, "eval_detectors", path, str, required=False),
        ratios=ratios,
        seeds=_list(raw, "seeds", path, int),
        methods=methods,
        full_data=full_data,
        skip_bad_images=bool(spec_skip) or skip_bad_images,
        gpus_per_cell=_gpus_per_cell(raw, path),
    )
    _check_names(spec)
    return spec


def _methods(raw: dict, path: Path) -> list[MethodEntry]:
    """The method rows, each with its label setting (its own, else the spec's, else stored labels)."""
    methods = []
    for m in _list(raw, "methods", path, dict):
        if set(m) - _ROW_KEYS or not isinstance(m.get("name"), str) or not isinstance(m.get("options", {}), dict):
            raise _fail(
                path,
                f'method entry {m!r} must be {{name = "...", options = {{...}}, labels = "stored" or "teacher", '
                f"label_score = ...}}",
            )
        mode = m.get("labels", raw.get("labels", STORED))
        score = m.get("label_score", raw.get("label_score", DEFAULT_LABEL_SCORE))
        try:
            score = check_labels(mode, score)
            if "label_score" in m and mode != TEACHER:
                raise ConfigError(f"label_score applies only with labels = {TEACHER!r}")
        except ConfigError as exc:
            # a method's own option of that name (OD3's labels = "observer") belongs in its options table
            where = "; the method's own labels option goes in options = {...}" if mode not in LABEL_MODES else ""
            raise _fail(path, f"method {m['name']!r}: {exc}{where}") from None
        methods.append(MethodEntry(m["name"], dict(m.get("options", {})), mode, score))
    return methods


def _check_names(spec: MatrixSpec) -> None:
    """Unknown plugins, unreadable datasets and invalid method options fail here, before anything is trained."""
    from dcbench.data.spec import dataset_identity, load_dataset, parse_spec, resolve_train_test
    from dcbench.harness.cell import verified_split
    from dcbench.harness.identity import check_method_labels, make_method
    from dcbench.plugins.manager import get_registries

    reg = get_registries()
    try:
        for det in {*spec.detectors, *spec.eval_detectors}:
            reg.detectors.load(parse_spec(det)[0])
        for ds in spec.datasets:  # a broken dataset is a spec error, not one failure per cell
            whole = load_dataset(ds.spec)
            spec.identities[ds.spec] = dataset_identity(ds.spec, whole)
            split = resolve_train_test(whole, load_dataset(ds.test) if ds.test else None)
            # every image decoded before the first cell (cached: the cells' own checks are then instant); the
            # fingerprints are those of what the cells will train and test on, bad images left out or not
            split, _ = verified_split(split, spec.skip_bad_images)
            spec.fingerprints[(ds.spec, ds.test)] = (split.train.fingerprint(), split.test.fingerprint())
            spec.train_sizes[ds.spec] = len(split.train)
            spec.classes[ds.spec] = split.train.num_classes
        for m in spec.methods:
            make_method(m.name, m.options)
            check_method_labels(m.name, m.labels)
    except DcbenchError as exc:
        raise _fail(spec.path, str(exc)) from None


def slice_cells(cells: list, field: str, wanted: list | None, spec: str | Path) -> list:
    """The cells whose ``field`` (ratio, seed or method) is one of ``wanted`` (all of them when none are given); a
    value the spec does not have is an error, not an empty run."""
    if not wanted:
        return cells

    def same(a, b) -> bool:
        return a == b if isinstance(a, str) else math.isclose(a, b)

    def show(v) -> str:
        return v if isinstance(v, str) else f"{v:g}"

    have = sorted({getattr(c, field) for c in cells})
    for w in wanted:
        if not any(same(w, h) for h in have):
            raise ConfigError(
                f"{spec}: no cells at {field} {show(w)} (the spec's {field}s: {', '.join(map(show, have))})"
            )
    return [c for c in cells if any(same(getattr(c, field), w) for w in wanted)]


# -- state of a results folder -------------------------------------------------------------------------------------
def cell_state(out: Path, cell: CellConfig, fingerprints: dict[tuple, tuple[str, str]] | None = None) -> str:
    """``done`` (a result file), ``stale`` (a result made from other dataset files than those behind the spec now,
    or with other protocol values or method defaults than the cell would use now: redone), ``damaged`` (a result
    file that cannot be read: redone, see ``staleness.damaged_result``), ``failed`` (an error record, retried on
    the next run) or ``pending``."""
    cell_dir = Path(out) / cell.cell_name()
    if damaged_result(cell_dir):
        return "damaged"
    result = read_result(cell_dir)
    if result is not None:
        expected = (fingerprints or {}).get((cell.dataset, cell.test_dataset))
        data = result.get("data", {})
        if expected and (data.get("train_fingerprint"), data.get("test_fingerprint")) != expected:
            return "stale"
        recorded = {
            "protocol": result.get("config", {}).get("protocol"),
            "method": result.get("method", {}).get("options"),
        }
        if settings_drift(recorded, current_settings(cell)):
            return "stale"
        return "done"
    if (cell_dir / FAILED_FILE).is_file():
        return "failed"
    return "pending"
