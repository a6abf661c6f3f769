"""A third-party plugin that misbehaves in any way -- ends the process at import, raises KeyboardInterrupt, returns
the wrong thing from a hook, registers something that is not a class -- is one warning line naming it and is
skipped: the built-ins and the other plugins keep working, and the command's exit status is its own."""

from __future__ import annotations

import re
import sys
import textwrap
from types import SimpleNamespace

import pytest

from dcbench.cli.app import main
from dcbench.plugins import hookimpl, manager
from dcbench.plugins.manager import build_registries


class FakeEntryPoint:
    """An installed plugin's entry point, with the distribution that declares it."""

    def __init__(self, name: str, module: str):
        self.name, self.value, self.group = name, module, "dcbench"
        self.dist = SimpleNamespace(name=f"dcbench-{name}", version="6.6.6")

    def load(self):
        import importlib

        return importlib.import_module(self.value)


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """``installed(name, source)``: a plugin module on the path, declared as an entry point (with the good one
    beside it, which must keep working)."""
    eps = []
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(manager, "entry_points", lambda group: list(eps) if group == "dcbench" else [])

    def install(name: str, source: str) -> None:
        module = f"plugin_{re.sub(r'[^A-Za-z0-9]', '_', name)}_{len(eps)}"
        (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
        eps.append(FakeEntryPoint(name, module))

    install(
        "good",
        """
        from dcbench.plugins import hookimpl

        @hookimpl
        def dcbench_register_datasets(registry):
            registry.add("good-data", "dcbench.data.shapes:shapes_dataset", "from the good plugin")
        """,
    )
    yield install
    for ep in eps:
        sys.modules.pop(ep.value, None)


IMPORT_FAULTS = {
    "sys.exit(0)": ("import sys\nsys.exit(0)\n", "SystemExit"),
    "sys.exit('bye')": ("import sys\nsys.exit('bye')\n", "SystemExit"),
    "KeyboardInterrupt": ("raise KeyboardInterrupt\n", "KeyboardInterrupt"),
    "a BaseException of its own": ("class Odd(BaseException):\n    pass\nraise Odd('odd')\n", "Odd"),
    "an ImportError": ("import no_such_module_anywhere_xyz\n", "ModuleNotFoundError"),
}


def _list_survives(capsys, plugin: str, what: str) -> str:
    assert main(["list", "datasets"]) == 0
    captured = capsys.readouterr()
    assert "shapes" in captured.out and "good-data" in captured.out, captured
    problems = [line for line in captured.err.splitlines() if line.strip()]
    assert len(problems) == 1 and "Traceback" not in captured.err, captured.err
    assert problems[0].startswith("warning:") and plugin in problems[0] and what in problems[0], problems[0]
    return problems[0]


@pytest.mark.parametrize("fault", list(IMPORT_FAULTS))
def test_a_plugin_ending_the_process_at_import_is_one_warning_and_list_lists_the_rest(fault, installed, capsys):
    source, what = IMPORT_FAULTS[fault]
    installed("evil", source)
    line = _list_survives(capsys, "'evil'", what)
    assert "dcbench-evil 6.6.6" in line and "at import" in line


HOOK_FAULTS = {
    "sys.exit(0)": ("import sys\nsys.exit(0)", "SystemExit"),
    "KeyboardInterrupt": ("raise KeyboardInterrupt", "KeyboardInterrupt"),
    "a ValueError": ("raise ValueError('no')", "ValueError"),
    "returns a string": ("return 'methods'", "returned a str"),
    "registers an int": ("registry.add('x', 42, 'an int')", "42"),
    "registers an instance": ("registry.add('x', object(), 'an instance')", "object"),
    "registers a bad reference": ("registry.add('x', 'no colon here', 'a string')", "module:attribute"),
}


@pytest.mark.parametrize("fault", list(HOOK_FAULTS))
def test_a_hook_that_misbehaves_is_one_warning_naming_the_plugin(fault, installed, capsys):
    body, what = HOOK_FAULTS[fault]
    hook = "@hookimpl\ndef dcbench_register_datasets(registry):\n" + textwrap.indent(body, "    ")
    installed("evil", f"from dcbench.plugins import hookimpl\n\n{hook}\n")
    line = _list_survives(capsys, "'evil'", what)
    assert "dcbench_register_datasets" in line and "dcbench-evil" in line


def test_a_misbehaving_plugin_object_is_reported_by_its_name():
    class Quitter:
        __name__ = "quitter"

        @hookimpl
        def dcbench_register_methods(self, registry):
            raise SystemExit(0)

    class WrongType:
        __name__ = "wrong-type"

        @hookimpl
        def dcbench_register_methods(self, registry):
            registry.add("notaclass", 3.5, "a float")

    regs = build_registries(autoload=False, extra=(Quitter(), WrongType()))
    assert sorted(p.plugin for p in regs.problems) == ["quitter", "wrong-type"]
    assert "notaclass" not in regs.methods and "random" in regs.methods


def test_a_lazy_target_that_ends_the_process_when_used_is_one_line(tmp_path, monkeypatch, capsys):
    (tmp_path / "quitting_method.py").write_text("import sys\nsys.exit(0)\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    class Plugin:
        __name__ = "quitting"

        @hookimpl
        def dcbench_register_methods(self, registry):
            registry.add("quits", "quitting_method:Method", "ends the process when imported")

    try:
        with manager.registered(Plugin()):
            assert main(["run", "--method", "quits", "--protocol", "smoke", "--out", str(tmp_path / "o")]) == 2
    finally:
        sys.modules.pop("quitting_method", None)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "quits" in lines[0] and "SystemExit" in lines[0], err


def test_a_plugin_name_holding_markup_is_printed_verbatim(installed, capsys):
    installed("[bold]x[/]", "raise RuntimeError('[red]boom')\n")
    line = _list_survives(capsys, "[bold]x[/]", "[red]boom")
    assert "RuntimeError" in line
