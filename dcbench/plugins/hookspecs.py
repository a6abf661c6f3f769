"""The dcbench plugin contract. Read this file to write a plugin.

A plugin is a module (or object) with functions marked ``@dcbench.plugins.hookimpl`` whose names are the hooks
below. dcbench finds plugins in two places:

* its own built-ins (``dcbench.data.plugin``, ``dcbench.methods.plugin``, ``dcbench.detectors.plugin``), which
  use these same hooks and nothing else;
* installed packages that declare an entry point in the group ``dcbench``::

      [project.entry-points.dcbench]
      my_plugin = "my_package.dcbench_plugin"

  Set ``DCBENCH_DISABLE_PLUGIN_AUTOLOAD=1`` (or pass ``dcbench --no-plugins``) to skip them.

Each hook receives a *registrar* and calls ``registry.add(name, target, description)`` once per thing it
provides. ``target`` is a lazy reference ``"package.module:attribute"`` (preferred: nothing is imported until
the thing is used, so ``dcbench --help`` and ``dcbench list`` stay fast) or the object itself.

What a target must be, per kind -- every type is in ``dcbench.api``, the contract's one module:

* method: a class whose instances have ``condense(train_set, budget, *, context)`` returning a
  ``CondensedSet``, and ``describe()`` -- ``dcbench.api.CondensationMethod``;
* detector: a class whose instances have ``train``, ``predict``, ``features`` and ``inversion_target``
  -- ``dcbench.api.DetectorBackend``;
* dataset: a callable ``load(arg: str | None) -> DetectionDataset`` -- ``dcbench.api.DatasetLoader``. ``arg`` is
  what follows the first ``:`` in a dataset spec (``voc:DIR`` gives ``"DIR"``; ``shapes`` gives ``None``).

The registry checks a target against these Protocols when it is first used.

Names are global per kind: registering a name twice (in one plugin or across plugins) is an error naming both
sources, and the offending plugin's registrations for that kind are dropped; the other plugins keep working.

Contract version: ``CONTRACT_VERSION`` below. It changes its major number when a hook or protocol changes in a
way that breaks existing plugins. A plugin module may declare ``dcbench_contract = "1"``; a plugin declaring
another major version is reported and skipped instead of failing later in the middle of a run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dcbench.plugins import hookspec

if TYPE_CHECKING:
    from dcbench.plugins.registry import Registrar

# the major number changes when a hook or a Protocol of dcbench.api changes in a way that breaks existing plugins;
# 1.1 added optional members (protocol_fields, estimated_steps, describe()'s version) and the typed result record
CONTRACT_VERSION = "1.1"


@hookspec
def dcbench_register_methods(registry: Registrar) -> None:
    """Register condensation methods: ``registry.add("random", "pkg.mod:RandomSelection", "one line")``."""


@hookspec
def dcbench_register_detectors(registry: Registrar) -> None:
    """Register detector backends: ``registry.add("yolov3", "pkg.mod:factory", "one line")``."""


@hookspec
def dcbench_register_datasets(registry: Registrar) -> None:
    """Register datasets or dataset formats: ``registry.add("shapes", "pkg.mod:load_shapes", "one line")``."""
