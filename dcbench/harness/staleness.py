"""Whether a finished result (or a shared condensed set) is still current: the settings it recorded against the
ones its cell would use now."""

from __future__ import annotations

import json
from pathlib import Path

from dcbench.api import RESULT_FILE, ResultRecord, read_result_record
from dcbench.errors import DcbenchError
from dcbench.harness.identity import CellConfig, make_method


def current_settings(config: CellConfig, method=None) -> dict:
    """The protocol values and full method config (defaults included) this cell runs with now, as JSON values.
    Protocol fields that only some methods read (the forge's) count only for the methods that declare them, so a
    changed forge length leaves Random's results current."""
    method = method if method is not None else make_method(config.method, config.method_options)
    from dcbench.protocols import METHOD_FIELDS

    describe = getattr(method, "describe", None)
    options = {k: v for k, v in (describe() if describe else {}).items() if k not in config._bookkeeping()}
    read = set(getattr(method, "protocol_fields", ()))
    protocol = {k: v for k, v in config.protocol.as_dict().items() if k not in METHOD_FIELDS or k in read}
    return json.loads(json.dumps({"protocol": protocol, "method": options}, default=str))


def settings_drift(recorded: dict, now: dict) -> list[str]:
    """Settings recorded with a finished result (or condensed set) that differ from what the cell would use now.

    A preset's values or a method's default may change between dcbench versions while the cell's name stays the
    same; such a result must not pass for a current one. Only keys present on both sides are compared: a new option
    whose default keeps the old behaviour does not make old results stale. A method whose behaviour changes with no
    option to show it bumps the ``version`` its ``describe()`` reports; a record without one is version 1."""
    drift = []
    for part in ("protocol", "method"):
        old, new = recorded.get(part) or {}, now.get(part) or {}
        drift += [
            f"{part}.{k}"
            for k in sorted(old.keys() & new.keys())
            if k not in ("description", "protocol_id", "version") and old[k] != new[k]
        ]
        if "version" in new and old.get("version", 1) != new["version"]:
            drift.append(f"{part}.version")
    return drift


def read_result(cell_dir: Path) -> ResultRecord | None:
    """The cell's finished result, or None (none, or one that cannot be read: the cell is redone)."""
    f = Path(cell_dir) / RESULT_FILE
    if not f.is_file():
        return None
    try:
        return read_result_record(f)
    except DcbenchError:
        return None
