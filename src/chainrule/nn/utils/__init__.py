"""As ``torch.nn.utils``: gradient clipping (:mod:`.clip_grad`) and batches of sequences of
different lengths (:mod:`.rnn`)."""

from chainrule.nn.utils import rnn
from chainrule.nn.utils.clip_grad import clip_grad_norm_, clip_grad_value_

__all__ = ["clip_grad_norm_", "clip_grad_value_", "rnn"]
