"""Floor 6: backprop you can see.

* :func:`trace`: one forward and backward pass of a feed-forward network, every quantity of
  the seeds' backpropagation (h_{k-1}, a_k, h_k, ŷ, ℒ, ∇_{a_k} ℒ, ∇_{h_k} ℒ, ∇_{W_k} ℒ,
  ∇_{b_k} ℒ) computed by the engine and by the explicit formulas (and by finite
  differences), rendered for a terminal, in Markdown, LaTeX and a self-contained HTML page;
* :func:`trace_conv`: backpropagation through a convolution (∇K as the correlation of the
  input with ∇a, ∇x as the full convolution with the flipped kernel, max pooling routing each
  gradient to its window's winner); :func:`trace` hands convolutional models to it
* :func:`trace_rnn` / :func:`trace_attention`: backpropagation through time (∇h_t as the sum
  of what the output at t and what step t + 1 send back, per-step gradient norms) and through
  softmax(QKᵀ/√d)V, checked three ways, as text, HTML and LaTeX;
* :func:`graph` / :func:`render`: the computation graph behind a tensor as Graphviz DOT, and
  its drawing;
* :class:`GradientFlow`: a training callback recording per-layer gradient and weight norms,
  update/weight ratios and dead ReLU units, warning when gradients vanish or explode;
* :func:`run_report`: one HTML page for a training run.

Imports the floors below it only; rich and matplotlib are imported when a rendering needs
them.
"""

from chainrule.explain.backprop import ACTIVATIONS, LayerTrace, Quantity, Trace, derivative, trace
from chainrule.explain.compgraph import graph, render
from chainrule.explain.conv import ConvTrace, trace_conv
from chainrule.explain.diagnostics import (
    ExplodingGradientWarning,
    GradientFlow,
    GradientFlowWarning,
    VanishingGradientWarning,
    gradient_norms,
    load_gradient_flow,
    plot_gradient_flow,
)
from chainrule.explain.recurrent import AttentionTrace, RecurrentTrace, trace_attention, trace_rnn
from chainrule.explain.report import run_report, write_report
from chainrule.explain.views import rich_view, to_html, to_latex, to_markdown, to_text

__all__ = [
    "ACTIVATIONS",
    "AttentionTrace",
    "ConvTrace",
    "ExplodingGradientWarning",
    "GradientFlow",
    "GradientFlowWarning",
    "LayerTrace",
    "Quantity",
    "RecurrentTrace",
    "Trace",
    "VanishingGradientWarning",
    "derivative",
    "gradient_norms",
    "graph",
    "load_gradient_flow",
    "plot_gradient_flow",
    "render",
    "rich_view",
    "run_report",
    "to_html",
    "to_latex",
    "to_markdown",
    "to_text",
    "trace",
    "trace_attention",
    "trace_conv",
    "trace_rnn",
    "write_report",
]  # fmt: skip
