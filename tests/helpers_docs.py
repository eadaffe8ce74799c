"""What the documentation and example tests share: the repository and the environment a reader's
session has (the repository importable, the venv's python first on PATH, figures to files)."""
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def environment():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["MPLBACKEND"] = "Agg"
    # One BLAS thread: on a busy machine OpenBLAS's idle threads spin and make these small runs
    # ten times slower; the blocks check results, not speed.
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    return env
