"""Run the body of a CuPy ElementwiseKernel on the CPU: wrapped in a C loop, compiled with the C compiler.

A body written in CUDA C's arithmetic subset is plain C too, so ``c_elementwise(inputs, outputs, body,
dtype)`` gives a callable taking what the ElementwiseKernel takes (inputs, then outputs; NumPy arrays
and numbers) that runs the body once per element, with ``T`` the C type of ``dtype``. Arrays are
broadcast against each other as CuPy does; outputs are written in place (so they must already have
the broadcast shape).
"""
import ctypes
import re
import shutil
import subprocess

import numpy

COMPILER = shutil.which("cc") or shutil.which("gcc")
C_TYPES = {"float64": ("double", ctypes.c_double), "float32": ("float", ctypes.c_float)}


def _parameters(text, dtype):
    """[(name, C type name, ctypes type)] of ``"T x, float64 t"``, T being ``dtype``."""
    result = []
    for part in text.split(","):
        kind, name = re.fullmatch(r"\s*(\w+)\s+(\w+)\s*", part).groups()
        c_name, c_type = C_TYPES[numpy.dtype(dtype).name if kind == "T" else kind]
        result.append((name, c_name, c_type))
    return result


def c_elementwise(inputs, outputs, body, dtype, scalars, directory):
    """The body compiled for ``dtype`` as a callable (see the module docstring); ``scalars`` names the
    inputs passed as numbers, every other parameter is an array."""
    dtype = numpy.dtype(dtype)
    inputs, outputs = _parameters(inputs, dtype), _parameters(outputs, dtype)
    arrays = [parameter for parameter in inputs if parameter[0] not in scalars] + outputs
    signature = ", ".join(f"{c_name} *{name}_array" if (name, c_name, _) in arrays else f"{c_name} {name}"
                          for name, c_name, _ in inputs + outputs)
    loads = "\n".join(f"        {c_name} {name} = {name}_array[i];" for name, c_name, _ in arrays)
    stores = "\n".join(f"        {name}_array[i] = {name};" for name, _, _ in outputs)
    source = (f"#include <math.h>\ntypedef {C_TYPES[dtype.name][0]} T;\n"
              f"void kernel(long n, {signature}) {{\n    for (long i = 0; i < n; i++) {{\n"
              f"{loads}\n{body}\n{stores}\n    }}\n}}\n")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "kernel.c").write_text(source)
    library = directory / "kernel.so"
    # -ffp-contract=off: no fused multiply-adds the plain NumPy form does not do either
    subprocess.run([COMPILER, "-O1", "-ffp-contract=off", "-shared", "-fPIC", "-o", str(library),
                    str(directory / "kernel.c"), "-lm"], check=True, capture_output=True)
    function = ctypes.CDLL(str(library)).kernel
    parameters = inputs + outputs

    def call(*arguments):
        assert len(arguments) == len(parameters), f"{len(parameters)} arguments expected, got {len(arguments)}"
        shape = numpy.broadcast_shapes(*(numpy.shape(a) for a, p in zip(arguments, parameters) if p in arrays))
        converted = []  # also keeps the broadcast copies alive during the call
        for argument, parameter in zip(arguments, parameters):
            name, _, c_type = parameter
            if parameter not in arrays:
                converted.append(c_type(float(argument)))
                continue
            assert argument.dtype == numpy.dtype(c_type), f"{name}: {argument.dtype} is not {c_type.__name__}"
            if parameter in outputs:
                assert argument.shape == shape and argument.flags.c_contiguous, f"output {name} must be full size"
                converted.append(argument)
            else:
                converted.append(numpy.ascontiguousarray(numpy.broadcast_to(argument, shape)))
        function(ctypes.c_long(int(numpy.prod(shape))),
                 *(item.ctypes.data_as(ctypes.POINTER(numpy.ctypeslib.as_ctypes_type(item.dtype)))
                   if isinstance(item, numpy.ndarray) else item for item in converted))
        written = [argument for argument, parameter in zip(arguments, parameters) if parameter in outputs]
        return written[0] if len(written) == 1 else tuple(written)
    return call
