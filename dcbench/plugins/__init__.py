"""The plugin contract: hookspecs (what a plugin implements), registry (what it registers into), manager
(how plugins are found: built-ins first, then the ``dcbench`` entry-point group)."""

import pluggy

PROJECT = "dcbench"
hookimpl = pluggy.HookimplMarker(PROJECT)
hookspec = pluggy.HookspecMarker(PROJECT)

__all__ = ["PROJECT", "hookimpl", "hookspec"]
