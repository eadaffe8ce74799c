"""The fast room: every speed and GPU form of the engine's formulas, each naming the plain form it
computes, with a test holding the two equal. Nothing in the core (nn/*.py) imports this package.

    step = nn.fast.compile(model, loss)        fused and in-place forms of a model's training step,
                                               as torch.compile makes a torch model fast (step.py)
    nn.Adam(params, foreach=True)              torch's switch: one flat buffer per parameter group,
    nn.Adam(params, fused=True)                or one GPU kernel (optim.py)
    with rescaled_state(optimizer): ...        a block of foreach Adam steps, two passes fewer each (optim.py)
    CapturedStep(model, loss, optimizer, ...)  the whole step as one CUDA graph (cuda_graph.py)
    set_flush_denormal(True)                   subnormal floats flushed to zero (floats.py)
    with flushing_denormals(): ...             the same for a block, the thread's setting back after it

kernels.py holds the fused GPU kernels beside the plain chains they compute; activations.py the
Sigmoid's in-place forms.
"""
from . import optim  # noqa: F401  (registers foreach=True and fused=True with the optimizers)
from .floats import flush_denormal, flushing_denormals, set_flush_denormal
from .optim import rescaled_state
from .step import FastStep, compile

__all__ = ["compile", "FastStep", "flush_denormal", "flushing_denormals", "rescaled_state", "set_flush_denormal"]
