"""Torch's signatures are the contract: for every public class of ``nn`` that torch also has (modules,
losses, optimizers), ``inspect.signature`` gives torch's parameters, with the same names, kinds and
defaults in the same order, followed only by keyword-only extras of the engine (``rng``, ``seed``...).
A torch call ported line by line then either means the same thing here or fails by name."""
import inspect

import pytest
import torch

import nn


def _torch_twin(name):
    for namespace in (torch.nn, torch.optim):
        twin = getattr(namespace, name, None)
        if isinstance(twin, type):
            return twin
    return None


# The base classes take *args/**kwargs in torch (Module) or are not built by users (Optimizer's
# (params, defaults)); Parameter is a tensor there, not a module.
BASES = {"Module", "Optimizer", "Parameter"}
CLASSES = [getattr(nn, name) for name in nn.__all__
           if isinstance(getattr(nn, name), type) and name not in BASES and _torch_twin(name) is not None]


def _parameters(cls):
    """The constructor's parameters. A torch module without an __init__ of its own (Sigmoid, Tanh)
    shows Module's ``(*args, **kwargs)``, which refuses every argument: it takes none."""
    if cls.__init__ is torch.nn.Module.__init__:
        return []
    return list(inspect.signature(cls).parameters.values())


def _describe(parameter):
    """kind, name and default; a variadic's name (``*args``, ``*modules``) is no caller's concern."""
    if parameter.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
        return parameter.kind.description
    default = "" if parameter.default is inspect.Parameter.empty else f"={parameter.default!r}"
    return f"{parameter.kind.description} {parameter.name}{default}"


def test_the_catalogue_covers_the_public_classes():
    names = {cls.__name__ for cls in CLASSES}
    assert {"Linear", "Dropout", "BatchNorm1d", "BatchNorm2d", "LayerNorm", "Conv2d", "MSELoss", "Adam"} <= names


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
def test_signature_matches_torch(cls):
    ours, theirs = _parameters(cls), _parameters(_torch_twin(cls.__name__))
    head = [_describe(parameter) for parameter in ours[:len(theirs)]]
    expected = [_describe(parameter) for parameter in theirs]
    assert head == expected, f"{cls.__name__}: torch's parameters are {expected}, ours start {head}"
    extras = [parameter.name for parameter in ours[len(theirs):] if parameter.kind is not inspect.Parameter.KEYWORD_ONLY]
    assert not extras, f"{cls.__name__}: engine-only parameters {extras} must be keyword-only, after torch's"


def test_a_misplaced_argument_is_caught_by_the_comparison():
    """The check bites: a class whose extra sits among torch's positions fails it."""
    class Dropout(nn.Module):
        def __init__(self, p=0.5, seed=None, inplace=False):
            pass

    ours, theirs = _parameters(Dropout), _parameters(torch.nn.Dropout)
    assert [_describe(p) for p in ours[:len(theirs)]] != [_describe(p) for p in theirs]
