"""A cell's identity: what it runs (method and options, detector, ratio, seed, protocol, dataset) and the names
that follow from that -- the cell's folder and the condensed set's -- and the factories that turn names into
configured plugins."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dcbench.data.spec import DEFAULT_DATASET
from dcbench.errors import ConfigError
from dcbench.harness.labels import NEEDS_TEACHER, check_labels, name_parts
from dcbench.methods.base import needs_teacher
from dcbench.protocols import Protocol
from dcbench.results import DEFAULT_LABEL_SCORE, STORED


@dataclass(frozen=True)
class MethodTraits:
    """What the harness needs to know of a method to name and run a cell: whether condensing needs the Fetch
    teacher, whether its student is the teacher (the full-data row), and its options that only report."""

    uses_teacher: bool
    student_is_teacher: bool
    bookkeeping: frozenset


@dataclass
class CellConfig:
    method: str
    detector: str
    ratio: float
    seed: int
    protocol: Protocol
    dataset: str = DEFAULT_DATASET
    test_dataset: str | None = None
    eval_detector: str | None = None  # None: evaluate with the detector that condensed
    method_options: dict[str, Any] = field(default_factory=dict)
    teacher_checkpoint: str | None = None
    # what the dataset is (data.spec.dataset_identity), set where specs enter: cells are named by it, never by how
    # a path was spelled; None names the cell by the spec itself
    dataset_id: str | None = None
    # where the student's boxes come from (harness.labels): the condensed set's own, or the Fetch teacher's
    labels: str = STORED
    label_score: float = DEFAULT_LABEL_SCORE
    # the bad-image policy (data.verify): False stops at the first check naming every bad file; True leaves them out,
    # which makes another dataset, so the cell and its condensed set are named apart
    skip_bad_images: bool = False
    _traits: MethodTraits | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.label_score = check_labels(self.labels, self.label_score)

    @property
    def evaluation_detector(self) -> str:
        return self.eval_detector or self.detector

    def cell_name(self) -> str:
        """The cell's folder name: everything that changes its result, readable."""
        extra = [f"eval-{self.eval_detector}"] if self.eval_detector and self.eval_detector != self.detector else []
        return self._name(extra + self._variant_parts() + name_parts(self.labels, self.label_score), condensing=True)

    def condense_name(self) -> str:
        """The condensed set's folder name: what changes the *condensed set*. The evaluation detector never does;
        the condensing detector, its teacher and the protocol matter only to methods that use a teacher, so a
        Random set is shared by every detector of a matrix. The label mode does not either: teacher labels are a
        copy of this set made after it (``harness.labels``), so both modes of a row train on the same images."""
        return self._name(self._variant_parts(), condensing=self.method_uses_teacher())

    def _variant_parts(self) -> list[str]:
        identity = self.variant_options()
        return ["+".join(f"{k}={v}" for k, v in sorted(identity.items()))] if identity else []

    def _name(self, extra: list[str], *, condensing: bool) -> str:
        parts = [self.dataset_id or self.dataset, self.method] + ([self.detector] if condensing else []) + extra
        if self.skip_bad_images:
            parts.append("skip-bad-images")
        if condensing and self.teacher_checkpoint:
            from dcbench.io import stable_hash

            parts.append("teacher-" + stable_hash(str(Path(self.teacher_checkpoint).resolve()), 8))
        parts += [f"r{self.ratio:g}", f"s{self.seed}"] + ([self.protocol.protocol_id] if condensing else [])
        return re.sub(r"[^A-Za-z0-9._=+-]+", "_", "__".join(parts)).strip("_")

    def traits(self) -> MethodTraits:
        """What the cell's method is, resolved once from the registry (a cell's names are asked for many times, and
        each answer would otherwise load the method and make an instance of it)."""
        if self._traits is None:
            cls = self._method_class()
            self._traits = MethodTraits(
                uses_teacher=needs_teacher(make_method(self.method, self.method_options)),
                student_is_teacher=bool(getattr(cls, "student_is_teacher", False)),
                bookkeeping=frozenset(getattr(cls, "bookkeeping_options", ())),
            )
        return self._traits

    def method_uses_teacher(self) -> bool:
        """Whether the condensation itself needs the Fetch teacher (what names the condensed set)."""
        return self.traits().uses_teacher

    def uses_teacher(self) -> bool:
        """Whether the cell needs the condensing detector's Fetch teacher: for its method, or for its labels (a
        Random cell with teacher labels needs one too)."""
        return self.labels in NEEDS_TEACHER or self.method_uses_teacher()

    def check_labels(self) -> None:
        check_method_labels(self.method, self.labels)

    def student_is_teacher(self) -> bool:
        """The full-data row: its student is the evaluation detector's teacher (see methods.full)."""
        return self.traits().student_is_teacher

    def _method_class(self):
        from dcbench.plugins.manager import get_registries

        return get_registries().methods.load(self.method)

    def variant_options(self) -> dict[str, Any]:
        """The method options that make this method variant (reporting-only options left out)."""
        return {k: v for k, v in self.method_options.items() if k not in self._bookkeeping()}

    def _bookkeeping(self) -> frozenset:
        """Options that change how a method reports, not what it produces (e.g. DCOD's snapshots): they do not
        make a new cell. A method lists them in its ``bookkeeping_options`` class attribute. An unknown method is
        the registry's one-line error, not an empty set."""
        return self.traits().bookkeeping

    def as_dict(self) -> dict:
        d = asdict(self)
        d.pop("_traits", None)  # derived from the method, not part of what the cell is
        d["protocol"] = self.protocol.as_dict()
        return d


def check_method_labels(method: str, labels: str) -> None:
    """The full-data row trains the teacher itself, on the stored boxes: teacher labels would be that teacher
    labelling its own training set to train itself again, so a method with ``student_is_teacher`` refuses them."""
    from dcbench.plugins.manager import get_registries

    if labels != STORED and getattr(get_registries().methods.load(method), "student_is_teacher", False):
        raise ConfigError(
            f"method {method!r} trains the teacher itself on the stored boxes: labels={labels!r} does not apply "
            f"to it (use labels='stored')"
        )


def make_detector(spec: str):
    from dcbench.data.spec import parse_spec
    from dcbench.plugins.manager import get_registries

    name, arg = parse_spec(spec)
    cls = get_registries().detectors.load(name)
    return cls(arg) if arg is not None else cls()


def make_method(name: str, options: dict[str, Any], registries=None):
    import inspect

    from dcbench.plugins.manager import get_registries

    cls = (registries or get_registries()).methods.load(name)
    try:
        inspect.signature(cls).bind(**options)
    except TypeError:
        params = inspect.signature(cls).parameters.values()
        known = [p.name for p in params if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
        unknown = [k for k in options if k not in known]
        takes = f"it takes {', '.join(known)}" if known else "it takes none"
        raise ConfigError(
            f"method {name!r} does not take option(s) {', '.join(unknown) or options} ({takes})"
        ) from None
    except ValueError:  # no signature to read (a builtin): let the call say what is wrong
        pass
    try:
        return cls(**options)
    except TypeError as exc:
        raise ConfigError(f"method {name!r}: invalid options {options}: {exc}") from None
