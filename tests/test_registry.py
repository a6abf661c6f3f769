import subprocess
import sys
import textwrap

import pytest

from dcbench.errors import RegistryError
from dcbench.plugins import hookimpl
from dcbench.plugins.manager import build_registries
from dcbench.plugins.registry import Registry


def test_lazy_target_is_imported_on_first_use_and_checked():
    reg = Registry("method", lambda obj: None if hasattr(obj, "condense") else "has no condense")
    reg.add("ok", "collections:OrderedDict", "not a method")
    with pytest.raises(RegistryError, match="has no condense"):
        reg.load("ok")
    reg.add("good", type("M", (), {"condense": lambda self: None}), "a method")
    assert reg.load("good") is reg.load("good")


def test_duplicate_name_names_both_sources():
    reg = Registry("method")
    reg.add("random", "a:b", source="plugin-one")
    with pytest.raises(RegistryError, match=r"plugin-one.*plugin-two"):
        reg.add("random", "c:d", source="plugin-two")


def test_registrar_commits_all_or_nothing():
    from dcbench.plugins.registry import Registrar

    reg = Registry("method")
    registrar = Registrar(reg, "plugin-x")
    registrar.add("fine", "a:b", "first")
    registrar.add("not valid", "c:d", "a name with a space")
    with pytest.raises(RegistryError, match="invalid method name"):
        registrar.commit()
    assert "fine" not in reg and len(reg) == 0


def test_unknown_name_lists_known_and_suggests_closest():
    reg = Registry("detector")
    for n in ("yolov3", "yolov3-tiny", "faster-rcnn"):
        reg.add(n, "x:y")
    with pytest.raises(RegistryError) as err:
        reg.entry("yolov3-tny")
    message = str(err.value)
    assert "did you mean 'yolov3-tiny'" in message
    assert "faster-rcnn" in message and "yolov3" in message


def test_unloadable_target_is_a_clear_error():
    reg = Registry("dataset")
    reg.add("ghost", "no_such_module_xyz:load", source="ghost-plugin")
    with pytest.raises(RegistryError, match="ghost-plugin.*ModuleNotFoundError"):
        reg.load("ghost")


class _Clashing:
    @hookimpl
    def dcbench_register_datasets(self, registry):
        registry.add("extra", "x:y", "fine")
        registry.add("shapes", "x:y", "clashes with the built-in")


class _Raising:
    @hookimpl
    def dcbench_register_methods(self, registry):
        raise RuntimeError("boom")


def test_a_bad_plugin_is_reported_and_isolated():
    regs = build_registries(autoload=False, extra=(_Clashing(), _Raising()))
    # the clashing plugin's datasets are all dropped (no half registration), the built-ins survive
    assert "shapes" in regs.datasets and "extra" not in regs.datasets
    assert regs.datasets.entry("shapes").source == "dcbench.data.plugin"
    problems = [str(p) for p in regs.problems]
    assert any("duplicate dataset name 'shapes'" in p for p in problems)
    assert any("RuntimeError: boom" in p for p in problems)


def test_builtins_register_through_the_hooks():
    regs = build_registries(autoload=False)
    assert {"shapes", "voc", "coco", "yolo", "voc0712", "coco2017"} <= set(regs.datasets.names())


@pytest.mark.parametrize("argv", [["--help"], ["list"], ["list", "methods", "--format", "json"]])
def test_help_and_list_do_not_import_heavy_libraries(argv):
    code = textwrap.dedent(f"""
        import sys
        from dcbench.cli.app import main
        status = main({argv!r})
        heavy = sorted(m for m in ("torch", "ultralytics", "detectron2", "torchvision", "pycocotools") if m in sys.modules)
        print("HEAVY=" + ",".join(heavy))
        sys.exit(status)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY=\n" in proc.stdout or proc.stdout.rstrip().endswith("HEAVY="), proc.stdout[-500:]


def _fake_entry_points(*eps):
    from importlib.metadata import EntryPoint

    return lambda group: [EntryPoint(name=n, value=v, group="dcbench") for n, v in eps] if group == "dcbench" else []


def test_broken_entry_point_is_one_line_and_the_cli_still_works(monkeypatch, capsys):
    from dcbench.cli.app import main
    from dcbench.plugins import manager

    monkeypatch.setattr(manager, "entry_points", _fake_entry_points(("broken-plugin", "no_such_module_xyz.plugin")))
    assert main(["list", "datasets"]) == 0
    captured = capsys.readouterr()
    problem_lines = [line for line in captured.err.splitlines() if "broken-plugin" in line]
    assert len(problem_lines) == 1 and "ModuleNotFoundError" in problem_lines[0]
    assert "shapes" in captured.out
    # disabling autoload skips it silently, as pytest's PYTEST_DISABLE_PLUGIN_AUTOLOAD does
    assert main(["--no-plugins", "list", "datasets"]) == 0
    assert "broken-plugin" not in capsys.readouterr().err
    monkeypatch.setenv("DCBENCH_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert not manager.build_registries().problems


def test_plugin_for_another_contract_major_is_skipped(monkeypatch, tmp_path):
    import sys

    from dcbench.plugins import manager

    (tmp_path / "future_plugin.py").write_text(
        "from dcbench.plugins import hookimpl\n"
        "dcbench_contract = '2.0'\n"
        "@hookimpl\n"
        "def dcbench_register_methods(registry):\n"
        "    registry.add('future', 'x:y', 'from the future')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(manager, "entry_points", _fake_entry_points(("future", "future_plugin")))
    regs = manager.build_registries()
    assert "future" not in regs.methods
    assert any("plugin contract 2.0" in str(p) for p in regs.problems)
    sys.modules.pop("future_plugin", None)


def test_a_misspelled_hook_is_reported_by_name():
    class Typo:
        __name__ = "typo-plugin"

        @hookimpl
        def dcbench_register_method(self, registry):  # the hook is dcbench_register_methods
            registry.add("never", "a:b", "never registered")

    regs = build_registries(autoload=False, extra=(Typo(),))
    assert [p.plugin for p in regs.problems] == ["typo-plugin"]
    assert "unknown hook dcbench_register_method" in str(regs.problems[0])
    assert "dcbench_register_methods" in str(regs.problems[0])  # the known hooks, to spot the typo


def test_a_detector_backend_missing_part_of_the_protocol_is_refused_when_loaded():
    class HalfBackend:
        def train(self, *a, **k): ...

        def predict(self, *a, **k): ...

    class Plugin:
        __name__ = "half-detector"

        @hookimpl
        def dcbench_register_detectors(self, registry):
            registry.add("half", HalfBackend, "train and predict only")

    regs = build_registries(autoload=False, extra=(Plugin(),))
    with pytest.raises(RegistryError, match="does not provide features, inversion_target"):
        regs.detectors.load("half")


def test_a_method_without_a_name_is_refused_at_registration():
    from dcbench.api import IndexSelection

    class Nameless(IndexSelection):  # would have been recorded as the base class's "selection"
        def describe(self) -> dict:
            return {}

        def select(self, train_set, budget, seed):
            return list(range(budget))

    class Plugin:
        __name__ = "nameless"

        @hookimpl
        def dcbench_register_methods(self, registry):
            registry.add("nameless", Nameless, "no name")

    regs = build_registries(autoload=False, extra=(Plugin(),))
    with pytest.raises(RegistryError, match="does not provide name"):
        regs.methods.load("nameless")


def test_the_harness_imports_neither_the_cli_nor_typer_nor_a_rich_console():
    code = (
        "import sys, dcbench.harness.cell, dcbench.harness.matrix, dcbench.progress; "
        "bad = [m for m in sys.modules if m.startswith(('dcbench.cli', 'typer', 'rich.console'))]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr


def test_library_notes_go_through_logging_and_the_cli_prints_them(caplog, capsys):
    import logging

    from dcbench.cli import console
    from dcbench.progress import Reporter

    with caplog.at_level(logging.INFO, logger="dcbench"):
        Reporter().note("a teacher was cached")
    assert [(r.name, r.getMessage()) for r in caplog.records] == [("dcbench.progress", "a teacher was cached")]
    console.install_log_handler()
    logging.getLogger("dcbench.harness.teacher").info("shown by the CLI")
    assert "[dcbench] shown by the CLI" in capsys.readouterr().err
