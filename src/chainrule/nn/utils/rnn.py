"""Batches of sequences of different lengths, as ``torch.nn.utils.rnn``.

:func:`pack_padded_sequence` turns a padded batch and its lengths into a
:class:`~chainrule.nn.recurrent.PackedSequence`, which ``RNN``, ``LSTM`` and ``GRU`` accept: each
sequence then stops at its own length (its final state is the one after its last real step,
its outputs past the end are zeros). :func:`pad_packed_sequence` turns it back. Both are
gathers, so gradients flow through them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule import backend
from chainrule.nn.recurrent import PackedSequence, _pack, _unpack
from chainrule.ops.shape import concatenate, getitem, stack, swapaxes
from chainrule.tensor import Tensor

__all__ = [
    "PackedSequence", "pack_padded_sequence", "pack_sequence", "pad_packed_sequence",
    "pad_sequence",
]  # fmt: skip


def pack_padded_sequence(
    input: Tensor, lengths: Any, batch_first: bool = False, enforce_sorted: bool = True
) -> PackedSequence:
    """Pack a padded batch (T, N, *) — (N, T, *) with ``batch_first`` — whose sequence ``b``
    has ``lengths[b]`` real steps. With ``enforce_sorted`` the lengths must be decreasing;
    otherwise the batch is sorted inside and the order restored on the way out.

    Raises ``ValueError`` for lengths that are not 1-D with one per sequence, outside
    1..T, or not decreasing when ``enforce_sorted``.
    """
    x = input if isinstance(input, Tensor) else Tensor._make(backend.xp.asarray(input))
    if batch_first:
        x = swapaxes(x, 0, 1)
    lengths = np.asarray(lengths.numpy() if isinstance(lengths, Tensor) else lengths)
    steps, batch = x.shape[0], x.shape[1] if x.ndim > 1 else 0
    if lengths.ndim != 1 or len(lengths) != batch:
        raise ValueError(
            f"pack_padded_sequence: expected one length per sequence ({batch}), got lengths "
            f"of shape {lengths.shape} for input of shape {tuple(input.shape)}"
        )
    lengths = lengths.astype(np.int64)
    if batch and (lengths.min() < 1 or lengths.max() > steps):
        raise ValueError(
            f"pack_padded_sequence: lengths must lie in 1..{steps} (the sequence length), got "
            f"{lengths.tolist()}"
        )
    sorted_indices = unsorted_indices = None
    if enforce_sorted:
        if np.any(np.diff(lengths) > 0):
            raise ValueError(
                f"pack_padded_sequence: lengths {lengths.tolist()} must be sorted in decreasing "
                "order when enforce_sorted=True (or pass enforce_sorted=False)"
            )
    else:
        sorted_indices = np.argsort(-lengths, kind="stable")
        unsorted_indices = np.argsort(sorted_indices)
        x = getitem(x, (slice(None), backend.xp.asarray(sorted_indices)))
        lengths = lengths[sorted_indices]
    batch_sizes = (lengths[None, :] > np.arange(lengths.max())[:, None]).sum(axis=1)
    return PackedSequence(_pack(x, batch_sizes), batch_sizes, sorted_indices, unsorted_indices)


def pad_packed_sequence(
    sequence: PackedSequence,
    batch_first: bool = False,
    padding_value: float = 0.0,
    total_length: int | None = None,
) -> tuple[Tensor, Tensor]:
    """Undo :func:`pack_padded_sequence`: returns (padded (T, N, *) — (N, T, *) with
    ``batch_first`` —, lengths) in the caller's original batch order, padded with
    ``padding_value`` up to ``total_length`` steps if given.

    Raises ``ValueError`` when ``total_length`` is shorter than the longest sequence.
    """
    padded = _unpack(sequence, padding_value)
    lengths = sequence.lengths
    steps = padded.shape[0]
    if total_length is not None:
        if total_length < steps:
            raise ValueError(
                f"pad_packed_sequence: total_length {total_length} is shorter than the longest "
                f"sequence ({steps} steps)"
            )
        if total_length > steps:
            fill = backend.xp.full(
                (total_length - steps, *padded.shape[1:]), padding_value, padded.data.dtype
            )
            padded = concatenate([padded, Tensor._make(fill)], axis=0)
    if sequence.unsorted_indices is not None:
        padded = getitem(padded, (slice(None), backend.xp.asarray(sequence.unsorted_indices)))
        lengths = lengths[sequence.unsorted_indices]
    if batch_first:
        padded = swapaxes(padded, 0, 1)
    return padded, Tensor._make(np.asarray(lengths, dtype=np.int64))


def pad_sequence(
    sequences: Sequence[Tensor], batch_first: bool = False, padding_value: float = 0.0
) -> Tensor:
    """Stack tensors of shapes (L_i, *) into one (max L, N, *) batch — (N, max L, *) with
    ``batch_first`` — padding the shorter ones with ``padding_value``.

    Raises ``ValueError`` for an empty list or trailing shapes that differ.
    """
    if not sequences:
        raise ValueError("pad_sequence: expected at least one sequence")
    seqs = [s if isinstance(s, Tensor) else Tensor._make(backend.xp.asarray(s)) for s in sequences]
    trailing = {tuple(s.shape[1:]) for s in seqs}
    if len(trailing) != 1:
        raise ValueError(f"pad_sequence: trailing shapes differ: {sorted(trailing)}")
    longest = max(s.shape[0] for s in seqs)
    rows = []
    for s in seqs:
        if s.shape[0] < longest:
            fill = backend.xp.full(
                (longest - s.shape[0], *s.shape[1:]), padding_value, s.data.dtype
            )
            s = concatenate([s, Tensor._make(fill)], axis=0)
        rows.append(s)
    return stack(rows, axis=0 if batch_first else 1)


def pack_sequence(sequences: Sequence[Tensor], enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of tensors (L_i, *) directly: :func:`pad_sequence` then
    :func:`pack_padded_sequence`."""
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)
