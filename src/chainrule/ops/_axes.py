"""Axis arguments shared by the shape, indexing and sort ops."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any


def accepts_dim(fn: Callable) -> Callable:
    """Decorator: the function also takes PyTorch's ``dim=`` (or ``dims=``) for ``axis=``.

    Raises ``TypeError`` when both spellings are given.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        for torch_name in ("dim", "dims"):
            if torch_name in kwargs:
                if "axis" in kwargs:
                    raise TypeError(
                        f"{fn.__name__}: got both axis= and {torch_name}= (the same argument "
                        "spelled the NumPy and the PyTorch way); give one"
                    )
                kwargs["axis"] = kwargs.pop(torch_name)
        return fn(*args, **kwargs)

    return wrapper
