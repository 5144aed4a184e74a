"""One exception class per kind of mistake, all under :class:`ChainruleError`.

Each also derives from the built-in exception a Python user would catch for that mistake
(``ValueError`` for a bad shape, ``TypeError`` for a bad dtype, ``RuntimeError`` for misuse of
the graph), so ``except ValueError`` keeps working.
"""

from __future__ import annotations

import numpy as np


class ChainruleError(Exception):
    """Base class of every error chainrule raises on purpose."""


class ShapeError(ChainruleError, ValueError):
    """Shapes that do not fit an op: the message names the op and the shapes."""


class DTypeError(ChainruleError, TypeError):
    """A dtype an op cannot take, e.g. an integer tensor asked to require gradients."""


class BackwardError(ChainruleError, RuntimeError):
    """``backward()`` cannot run as asked, e.g. on a non-scalar without a ``grad``."""


class GraphFreedError(BackwardError):
    """A second backward pass through a graph whose saved buffers were already freed."""


class InplaceError(ChainruleError, RuntimeError):
    """A tensor saved for backward was modified in place after it was saved."""


class AnomalyError(ChainruleError, FloatingPointError):
    """Under ``detect_anomaly()``, an op produced NaN or Inf; the message names the op."""


class GradcheckError(ChainruleError, AssertionError):
    """``gradcheck`` found an analytical gradient that disagrees with finite differences."""


class StateDictError(ChainruleError, KeyError):
    """``load_state_dict`` found missing, unexpected or mis-shaped entries."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class TargetError(ChainruleError, ValueError):
    """Loss targets that do not fit: out-of-range class indices, wrong dtype, bad probabilities."""


class NonFiniteError(ChainruleError, FloatingPointError):
    """A loss input, gradient or update that is NaN or infinite."""


class DataError(ChainruleError, ValueError):
    """Data that cannot be used: a missing column, non-numeric features, empty cells, bad files."""


class CheckpointError(ChainruleError, ValueError):
    """A checkpoint that is missing, corrupt, truncated or does not match the model."""


class OptimizerError(ChainruleError, ValueError):
    """An optimiser, scheduler or gradient clipper set up wrongly: no parameters, a setting out
    of range (negative learning rate, betas outside [0, 1)), or options that do not fit."""


class DomainError(ChainruleError, ValueError):
    """Input values outside the range an op accepts, e.g. probabilities outside [0, 1] given
    to ``binary_cross_entropy`` (usually logits passed by mistake)."""


class IndexRangeError(ChainruleError, IndexError):
    """An index outside a table, e.g. an ``Embedding`` lookup with an index not in
    [0, num_embeddings)."""


class UnsupportedModelError(ChainruleError, ValueError):
    """A model ``cr.explain.trace`` cannot follow layer by layer in the seeds' notation (not
    a Sequential of Linear layers and element-wise activations ending with a Linear)."""


class GraphvizError(ChainruleError, RuntimeError):
    """Graphviz's ``dot`` program is missing, or failed to render a graph."""


class ExportError(ChainruleError, TypeError):
    """A model that has no exported form (ONNX): the message names the layer and its type."""


class DeviceError(ChainruleError, RuntimeError):
    """A device that cannot be used (CuPy missing, no GPU answering, a bad device name), or
    tensors on different devices meeting in one op: the message names the devices."""


class DistributedError(ChainruleError, RuntimeError):
    """Processes of a distributed run that disagree (data sizes, model shapes), or MPI that
    cannot be used: the message names the ranks and what each has."""


class NotDifferentiableError(ChainruleError, TypeError):
    """A function without a gradient rule (a plain NumPy one reached through
    ``chainrule.numpy``) was given a tensor that requires gradients; the message names it."""


class LinAlgError(ChainruleError, np.linalg.LinAlgError):
    """A matrix a linear-algebra op cannot take: singular (``inv``, ``solve``), not positive
    definite (``cholesky``), or a gradient that does not exist there (repeated eigenvalues or
    singular values under eigenvectors). The message names the op and the shape. Also a
    ``numpy.linalg.LinAlgError`` (and so a ``ValueError``)."""


class FolderLockedError(ChainruleError, RuntimeError):
    """A folder (a run being trained) is locked by another process; the message names its
    PID."""


class CompileWarning(UserWarning):
    """``cr.compile`` found something its record cannot replay (a tensor's value read into
    Python, a side effect outside a replayable call): the function runs eagerly from then on;
    the message names the reason. Warned once per compiled function."""
