"""Every script in examples/ runs, with small arguments, as a learner would run it (cwd a temporary
folder, the repository on PYTHONPATH), and does what its docstring says."""
import importlib.util
import re
import subprocess
import sys

import pytest

from helpers_docs import REPO, environment

EXAMPLES = REPO / "examples"


def run(script, *arguments, cwd):
    return subprocess.run([sys.executable, str(EXAMPLES / script), *map(str, arguments)], cwd=cwd,
                          env=environment(), capture_output=True, text=True, timeout=600)


def test_every_example_is_tested():
    tested = {"train_deep.py", "new_layer.py", "own_images.py"}
    assert {path.name for path in EXAMPLES.glob("*.py")} == tested


def test_train_deep_learns(tmp_path):
    result = run("train_deep.py", "--epochs", 2, "--limit", 500, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    test_mse = [float(value) for value in re.findall(r"test MSE ([0-9.]+)", result.stdout)]
    assert len(test_mse) == 2 and test_mse[1] < test_mse[0], result.stdout
    assert "codes of five test digits" in result.stdout


def test_train_deep_refuses_a_bad_number(tmp_path):
    result = run("train_deep.py", "--epochs", 0, cwd=tmp_path)
    assert result.returncode == 2 and "--epochs: expected a positive whole number, got '0'" in result.stderr


def test_new_layer_passes_its_checks(tmp_path):
    result = run("new_layer.py", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert result.stdout.count("gradcheck (elementwise)") == 2 and " FAIL" not in result.stdout
    if importlib.util.find_spec("torch") is not None:
        assert "agrees with torch.nn.SiLU" in result.stdout


def test_new_layer_gradcheck_catches_a_wrong_backward():
    """The example's checks can fail: the same Swish with a wrong derivative is caught."""
    spec = importlib.util.spec_from_file_location("new_layer", EXAMPLES / "new_layer.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    import numpy
    import nn

    class WrongSwish(example.Swish):
        def backward(self, grad_output):
            return grad_output * self._sigmoid  # forgets the product rule's second term

    x = numpy.random.default_rng(0).standard_normal((4, 3))
    assert nn.gradcheck(example.Swish(), x).passed
    with pytest.raises(nn.GradcheckError):
        nn.gradcheck(WrongSwish(), x)


def test_own_images_on_drawn_shapes(tmp_path):
    result = run("own_images.py", "--epochs", 2, "--out", "figure.png", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "54 training and 6 held-out images of 24x24 pixels" in result.stdout
    assert (tmp_path / "figure.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [path.name for path in tmp_path.iterdir()] == ["figure.png"]


def test_own_images_on_a_folder(tmp_path):
    import matplotlib.pyplot as plt
    import numpy

    folder = tmp_path / "mine"
    folder.mkdir()
    rng = numpy.random.default_rng(0)
    for index in range(6):
        plt.imsave(folder / f"{index}.png", rng.random((12, 12, 3)))  # colour: made grey
    result = run("own_images.py", folder, "--epochs", 1, "--out", tmp_path / "out.png", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "4 training and 2 held-out images of 12x12 pixels" in result.stdout and (tmp_path / "out.png").is_file()


@pytest.mark.parametrize("case", ["sizes differ", "not square", "not a png", "empty", "no folder"])
def test_own_images_bad_input_is_one_line(tmp_path, case):
    import matplotlib.pyplot as plt
    import numpy

    folder = tmp_path / "mine"
    folder.mkdir()
    if case in ("sizes differ", "not square", "not a png"):
        plt.imsave(folder / "a.png", numpy.zeros((8, 9) if case == "not square" else (8, 8)))
        plt.imsave(folder / "b.png", numpy.zeros((9, 9) if case == "sizes differ" else (8, 8)))
    if case == "not a png":
        (folder / "c.png").write_text("not an image")
    target = folder if case != "no folder" else tmp_path / "missing"
    result = run("own_images.py", target, "--epochs", 1, cwd=tmp_path)
    expected = {"sizes differ": "b.png", "not square": "a.png: 9x8 pixels, not square", "not a png": "c.png",
                "empty": "mine", "no folder": "missing"}[case]
    assert result.returncode != 0 and expected in result.stderr, result.stderr
    assert len([line for line in result.stderr.splitlines() if "error" in line]) == 1
    assert not (tmp_path / "own_images.png").exists()
