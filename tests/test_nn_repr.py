"""Module.__repr__ prints as torch's: extra_repr lines first, then the children."""
import pytest

import nn

torch = pytest.importorskip("torch")


def _pair(extra, with_child, lines=1):
    text = "\n".join(f"{extra}_{index}=1" for index in range(lines)) if extra else ""

    class Ours(nn.Module):
        def __init__(self):
            if with_child:
                self.body = nn.Sequential(nn.Linear(2, 3), nn.ReLU())

        def extra_repr(self):
            return text

    class Theirs(torch.nn.Module):
        def __init__(self):
            super().__init__()
            if with_child:
                self.body = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU())

        def extra_repr(self):
            return text

    Ours.__name__ = Theirs.__name__ = "Model"
    return Ours(), Theirs()


@pytest.mark.parametrize("extra", ["", "latent_dim"])
@pytest.mark.parametrize("with_child", [False, True])
@pytest.mark.parametrize("lines", [1, 2])
def test_repr_equals_torch(extra, with_child, lines):
    ours, theirs = _pair(extra, with_child, lines)
    assert repr(ours) == repr(theirs)
