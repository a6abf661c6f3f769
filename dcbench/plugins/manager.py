"""Finding plugins and filling the registries.

Built-in plugins are registered first, then every entry point of the ``dcbench`` group (unless autoloading is
disabled). A plugin that fails to import, or whose hook raises or clashes with a name already taken, is recorded
in :attr:`Registries.problems` -- reported by name, one line each -- and skipped; the rest keep working.

"Fails" means anything a third-party plugin can do: an exception, but also ``sys.exit()`` or a
``KeyboardInterrupt`` raised at import (a script reading ``dcbench list``'s exit status must not take a plugin's
``sys.exit(0)`` for success), a hook that returns something, or a target that is no class, function or lazy
reference. A built-in plugin that fails is a bug in dcbench and raises.
"""

from __future__ import annotations

import importlib
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

import pluggy

from dcbench.errors import DcbenchError, RegistryError
from dcbench.plugins import PROJECT, hookspecs
from dcbench.plugins.registry import Registrar, Registry

ENTRY_POINT_GROUP = PROJECT
DISABLE_AUTOLOAD_ENV = "DCBENCH_DISABLE_PLUGIN_AUTOLOAD"

BUILTIN_PLUGINS = (
    "dcbench.data.plugin",
    "dcbench.methods.plugin",
    "dcbench.detectors.plugin",
)


REQUIRED_NAMES = {"CondensationMethod": ("name",)}  # class attributes a target must set, as text


def _methods_of(protocol: type) -> tuple[str, ...]:
    """The methods a Protocol class declares: what a registered target must provide, derived, not hand-kept."""
    return tuple(n for n, v in vars(protocol).items() if callable(v) and not n.startswith("_"))


def _provides(protocol_path: str):
    """A registry check against the Protocol at ``module:Name``, imported on first use (the CLI stays light)."""

    def check(obj: Any) -> str | None:
        module, name = protocol_path.split(":")
        protocol = getattr(importlib.import_module(module), name)
        missing = [n for n in _methods_of(protocol) if not callable(getattr(obj, n, None))]
        # a required name: without one a method's manifests would carry a base class's, or fail after condensing
        missing += [n for n in REQUIRED_NAMES.get(name, ()) if not isinstance(getattr(obj, n, None), str)]
        return (f"does not provide {', '.join(missing)} (see {name} in {module})") if missing else None

    return check


def _is_callable(obj: Any) -> str | None:
    return None if callable(obj) else "is not callable (a dataset target must be a loader function)"


@dataclass(frozen=True)
class PluginProblem:
    plugin: str
    error: str
    distribution: str | None = None  # "name version" of the installed package that declares the plugin

    def __str__(self) -> str:
        source = f" ({self.distribution})" if self.distribution else ""
        return f"plugin {self.plugin!r}{source} skipped: {self.error}"


def what_it_did(exc: BaseException) -> str:
    """What a plugin raised, in one line: ``SystemExit: sys.exit(0)``, ``KeyboardInterrupt``, ``ValueError: ...``."""
    if isinstance(exc, SystemExit):
        return f"SystemExit: sys.exit({exc.code!r})"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _distribution(ep) -> dict | None:
    dist = getattr(ep, "dist", None)
    return None if dist is None else {"name": dist.name, "version": dist.version, "plugin": ep.name}


@dataclass
class Registries:
    methods: Registry = field(default_factory=lambda: Registry("method", _provides("dcbench.api:CondensationMethod")))
    detectors: Registry = field(default_factory=lambda: Registry("detector", _provides("dcbench.api:DetectorBackend")))
    datasets: Registry = field(default_factory=lambda: Registry("dataset", _is_callable))
    problems: list[PluginProblem] = field(default_factory=list)
    plugins: list[str] = field(default_factory=list)
    # plugin name -> the installed distribution that provides it ({"name", "version"}), recorded with results
    distributions: dict[str, dict] = field(default_factory=dict)

    def provider(self, kind: str, name: str) -> dict:
        """The distribution that registered ``name`` of ``kind``: dcbench itself for the built-ins."""
        import dcbench

        source = self.by_kind(kind).entry(name).source
        return self.distributions.get(source) or {"name": "dcbench", "version": dcbench.__version__, "plugin": source}

    def by_kind(self, kind: str) -> Registry:
        return {"methods": self.methods, "detectors": self.detectors, "datasets": self.datasets}[kind]


def autoload_disabled() -> bool:
    return os.environ.get(DISABLE_AUTOLOAD_ENV, "").strip().lower() not in ("", "0", "false", "no")


def make_plugin_manager(
    *, autoload: bool = True, extra: tuple[Any, ...] = ()
) -> tuple[pluggy.PluginManager, list[PluginProblem], dict[str, dict]]:
    """The plugin manager with the built-ins, ``extra`` and (unless disabled) the entry points registered; the
    problems met; and, per entry-point plugin, the distribution that provides it."""
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    problems: list[PluginProblem] = []
    distributions: dict[str, dict] = {}
    for module_name in BUILTIN_PLUGINS:
        pm.register(importlib.import_module(module_name), name=module_name)
    for plugin in extra:
        pm.register(plugin, name=getattr(plugin, "__name__", type(plugin).__name__))
    if autoload and not autoload_disabled():
        for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            if pm.get_plugin(ep.name) is not None or pm.is_blocked(ep.name):
                continue
            dist = _distribution(ep)
            problem = _register_entry_point(pm, ep)
            if problem is not None:
                label = f"{dist['name']} {dist['version']}" if dist else None
                problems.append(PluginProblem(ep.name, problem, label))
            elif dist is not None:
                distributions[ep.name] = dist
    problems += _unknown_hooks(pm, builtin=set(BUILTIN_PLUGINS))
    return pm, problems, distributions


def _register_entry_point(pm: pluggy.PluginManager, ep) -> str | None:
    """Import and register one entry point's plugin; None when done, else what went wrong, in one line."""
    try:
        plugin = ep.load()
    except BaseException as exc:  # noqa: BLE001 - even sys.exit() or a KeyboardInterrupt at import: the plugin's fault
        return f"{what_it_did(exc)} at import"
    try:
        declared = str(getattr(plugin, "dcbench_contract", hookspecs.CONTRACT_VERSION))
        if declared.split(".")[0] != hookspecs.CONTRACT_VERSION.split(".")[0]:
            return f"written for plugin contract {declared}, this dcbench has {hookspecs.CONTRACT_VERSION}"
        pm.register(plugin, name=ep.name)
    except BaseException as exc:  # noqa: BLE001 - a broken third-party plugin must not take the CLI down
        return what_it_did(exc)
    return None


def _unknown_hooks(pm: pluggy.PluginManager, *, builtin: set[str]) -> list[PluginProblem]:
    """pluggy's check_pending, plugin by plugin: a hookimpl whose name no hookspec has (a misspelled hook) is
    reported by name and its plugin skipped; in a built-in it is a bug and raises."""
    problems: list[PluginProblem] = []
    while True:
        try:
            pm.check_pending()
            return problems
        except pluggy.PluginValidationError as exc:
            name = pm.get_name(exc.plugin) or repr(exc.plugin)
            if name in builtin:
                raise
            hooks = sorted(
                n
                for n in dir(pm.hook)
                if not n.startswith("_")
                and not getattr(pm.hook, n).has_spec()
                and any(i.plugin is exc.plugin for i in getattr(pm.hook, n).get_hookimpls())
            )
            known = ", ".join(sorted(n for n in dir(hookspecs) if n.startswith("dcbench_")))
            problems.append(PluginProblem(name, f"unknown hook {', '.join(hooks)} (known: {known})"))
            pm.unregister(exc.plugin)


_HOOKS = (
    ("dcbench_register_methods", "methods"),
    ("dcbench_register_detectors", "detectors"),
    ("dcbench_register_datasets", "datasets"),
)


def build_registries(*, autoload: bool = True, extra: tuple[Any, ...] = ()) -> Registries:
    pm, problems, distributions = make_plugin_manager(autoload=autoload, extra=extra)
    regs = Registries(problems=problems, distributions=distributions)
    builtin = set(BUILTIN_PLUGINS)
    for hook_name, kind in _HOOKS:
        registry = regs.by_kind(kind)
        # Called one implementation at a time (not through the hook caller) so that each entry records which
        # plugin registered it and a failing plugin is isolated from the others.
        for impl in getattr(pm.hook, hook_name).get_hookimpls():  # registration order: built-ins first
            registrar = Registrar(registry, impl.plugin_name)
            try:
                returned = impl.function(registry=registrar)
                if returned is not None:
                    raise RegistryError(
                        f"returned a {type(returned).__name__} ({returned!r:.40}); a hook registers with "
                        "registry.add(...) and returns nothing"
                    )
                registrar.commit()
            except BaseException as exc:  # noqa: BLE001 - sys.exit() and KeyboardInterrupt in a hook too
                if impl.plugin_name in builtin:
                    raise
                message = str(exc) if isinstance(exc, DcbenchError) else what_it_did(exc)
                dist = distributions.get(impl.plugin_name)
                label = f"{dist['name']} {dist['version']}" if dist else None
                regs.problems.append(PluginProblem(impl.plugin_name, f"{hook_name}: {message}", label))
    regs.plugins = [name for name, _ in pm.list_name_plugin()]
    return regs


_cached: Registries | None = None
_pinned: tuple[Any, ...] = ()  # plugins registered for this process as if installed (see registered())


def get_registries() -> Registries:
    """The process-wide registries (built once)."""
    global _cached
    if _cached is None:
        _cached = build_registries(extra=_pinned)
    return _cached


def reset_registries(autoload: bool | None = None) -> Registries:
    """Rebuild the process-wide registries (the CLI's ``--no-plugins`` and tests use this)."""
    global _cached
    _cached = build_registries(autoload=True if autoload is None else autoload, extra=_pinned)
    return _cached


def clear_registries() -> None:
    """Forget the process-wide registries: the next use builds them anew."""
    global _cached
    _cached = None


@contextmanager
def registered(*plugins: Any):
    """Within the block, ``plugins`` count as installed for this process: every registry built (the CLI rebuilds
    its own on each command) includes them. For testing a plugin from its checkout, or a plugin object, through
    ``dcbench`` commands, without installing it."""
    global _pinned
    before = _pinned
    _pinned = (*before, *(p for p in plugins if p not in before))
    clear_registries()
    try:
        yield get_registries()
    finally:
        _pinned = before
        clear_registries()
