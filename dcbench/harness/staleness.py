"""Whether a finished result (or a shared condensed set) is still current: the settings it recorded against the
ones its cell would use now."""

from __future__ import annotations

import json
from pathlib import Path

from dcbench.errors import DcbenchError
from dcbench.harness.identity import CellConfig, make_method
from dcbench.results import RESULT_FILE, DriftCheck, ResultRecord, read_result_record


def current_settings(config: CellConfig, method=None) -> dict:
    """The protocol values and full method config (defaults included) this cell runs with now, as JSON values.
    Protocol fields that only some methods read (the forge's) count only for the methods that declare them, so a
    changed forge length leaves Random's results current."""
    method = method if method is not None else make_method(config.method, config.method_options)
    from dcbench.protocols import METHOD_FIELDS

    read = set(getattr(method, "protocol_fields", ()))
    protocol = {k: v for k, v in config.protocol.as_dict().items() if k not in METHOD_FIELDS or k in read}
    return {"protocol": json.loads(json.dumps(protocol, default=str)), "method": method_settings(method)}


def method_settings(method) -> dict:
    """A method's full config (defaults included) as JSON values, less its bookkeeping options (they change how
    it reports, not what it produces)."""
    describe = getattr(method, "describe", None)
    skip = set(getattr(method, "bookkeeping_options", ()))
    return json.loads(
        json.dumps({k: v for k, v in (describe() if describe else {}).items() if k not in skip}, default=str)
    )


def drift_check() -> DriftCheck:
    """The staleness check a reader of results alone (the leaderboard) is given: for a finished record, the method
    settings it was made with that the installed method no longer runs with (a default or its behaviour changed
    since: its ``version``). Empty when current, when the record keeps no method settings, or when its method is
    not installed here. Each (method, options) pair's settings now are made once per check."""
    memo: dict[tuple[str, str], dict | None] = {}

    def drift(record: ResultRecord) -> list[str]:
        cfg, recorded = record["config"], (record.get("method") or {}).get("options")
        if not recorded:
            return []
        options = cfg.get("method_options") or {}
        key = (cfg["method"], json.dumps(options, sort_keys=True, default=str))
        if key not in memo:
            try:
                memo[key] = method_settings(make_method(cfg["method"], options))
            except DcbenchError:  # a plugin not installed here, or options it no longer takes
                memo[key] = None
        if memo[key] is None:
            return []
        return [d.split(".", 1)[1] for d in settings_drift({"method": recorded}, {"method": memo[key]})]

    return drift


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
    """The cell's finished result, or None (none, or one that cannot be read: the cell is redone; see
    :func:`damaged_result` for why)."""
    f = Path(cell_dir) / RESULT_FILE
    if not f.is_file():
        return None
    try:
        return read_result_record(f)
    except DcbenchError:
        return None


def damaged_result(cell_dir: Path) -> str | None:
    """Why the cell's ``result.json`` is not a finished result (one line naming it: not UTF-8, not JSON, a schema
    this dcbench does not read, ...), or None when it is one or there is none."""
    f = Path(cell_dir) / RESULT_FILE
    if not f.exists() and not f.is_symlink():
        return None
    try:
        read_result_record(f)
    except DcbenchError as exc:
        return str(exc)
    return None
