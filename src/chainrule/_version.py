"""chainrule's version, read from the installed package's metadata once, when first asked."""

from __future__ import annotations

import functools

UNKNOWN = "0+unknown"
"""The version reported by a source tree that was never installed (no package metadata)."""


@functools.cache
def version() -> str:
    """The installed distribution's version (``importlib.metadata``), or :data:`UNKNOWN` when
    chainrule runs from a source tree that was never installed. Read on first use, not at
    ``import chainrule``: importing the metadata machinery costs as long as the engine."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as distribution_version

    try:
        return distribution_version("chainrule")
    except PackageNotFoundError:
        return UNKNOWN
