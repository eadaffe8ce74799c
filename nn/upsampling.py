"""Upsample: resize (N, C, H, W) images to a size or by scale factors, nearest or bilinear.

Resizing acts on each axis on its own: output row i is a weighted sum of input rows, with weights
that depend only on i. Written as an (H_out, H) matrix A_h (and A_w for the columns),

    y[n, c] = A_h x[n, c] A_w^T        dL/dx[n, c] = A_h^T dL/dy[n, c] A_w

so the backward pass is the forward pass with the matrices transposed: each input pixel collects the
gradients of the outputs it contributed to, times the weight it had.

The matrices say what is computed, not how: a row of A_h holds one or two non-zero weights, and a
product with the whole row would multiply every other input row by 0. Where an input pixel (or an
upstream gradient) is infinite, 0 * inf is NaN, and a matrix product would spread that NaN over the
whole row and column. So the layer reads, per output index, only the input indices its row names
(nearest: one; bilinear: two, as torch's kernel does), and an inf reaches exactly the outputs torch's
reaches (bilinear: those whose two taps include it, even with a weight of 0, as in torch).

Where output row i reads from, with scale = 1 / scale_factor (or H / H_out when a size is given or
recompute_scale_factor=True), as torch computes it:

    nearest                     src = min(floor(i * scale), H - 1)          A_h[i, src] = 1
                                (in float32 arithmetic, as torch, so ties fall the same way; torch
                                takes src = i when H_out = H and i // 2 when H_out = 2H, whatever the scale)
    bilinear, align_corners=False
                                src = max(scale * (i + 0.5) - 0.5, 0)
    bilinear, align_corners=True
                                src = i * (H - 1) / (H_out - 1)             (0 when H_out = 1)
    then, for bilinear:         h0 = min(floor(src), H - 1), h1 = min(h0 + 1, H - 1),
                                lambda = clamp(src - h0, 0, 1)
                                A_h[i, h0] += 1 - lambda,   A_h[i, h1] += lambda
                                (torch's taps when H_out = H, whatever the scale: h0 = h1 = i, lambda = 0)

align_corners. Think of a pixel as a small square and its value as sitting at the square's centre.
With align_corners=False (torch's default) the input and output images cover the same area: output
pixel centre i + 0.5 sits at input position (i + 0.5) * scale, hence the half-pixel shifts above, and
the edge pixels are clamped. With align_corners=True the centres of the corner pixels are pinned to
each other: output pixel 0 is input pixel 0 and the last output pixel is the last input pixel, the
rest spread evenly in between; the grid is then independent of scale_factor, and upsampling by 2
does not simply put each input pixel at every other output pixel.
"""
import math

import numpy

from . import backend
from .spatial import Spatial2d

MODES = ("nearest", "bilinear")
TORCH_ONLY_MODES = ("linear", "bicubic", "trilinear", "area", "nearest-exact")


def _number_pair(name, value, kind):
    values = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(values) != 2 or any(isinstance(v, bool) or not isinstance(v, kind) or v <= 0 for v in values):
        what = "a positive integer" if kind is int else "a positive number"
        raise ValueError(f"Upsample: {name} must be {what} or a pair of them, got {value!r}")
    return values


def nearest_matrix(size, out, scale):
    """(out, size) one-hot rows: output i reads input min(floor(i * scale), size - 1), in float32 as torch,
    which takes i itself when out = size and i // 2 when out = 2 size, whatever the scale."""
    if out in (size, 2 * size):
        source = numpy.arange(out) // (out // size)
    else:
        source = numpy.minimum(numpy.floor(numpy.arange(out, dtype=numpy.float32) * numpy.float32(scale)), size - 1)
    matrix = numpy.zeros((out, size))
    matrix[numpy.arange(out), source.astype(numpy.int64)] = 1.0
    return matrix


def bilinear_taps(size, out, scale, align_corners, dtype):
    """Torch's two taps per output index along one axis, computed in the input's dtype as torch:
    (low, high, weight_low, weight_high), each of length out, with

        x_out[i] = weight_low[i] * x[low[i]] + weight_high[i] * x[high[i]]

    low = min(floor(src), size - 1), high = min(low + 1, size - 1), weight_high = lambda (the module
    docstring's src and lambda), weight_low = 1 - lambda. When out = size torch takes low = high = i
    with weights (1, 0), whatever the scale and align_corners."""
    one, half = dtype.type(1), dtype.type(0.5)
    if align_corners:
        scale = dtype.type((size - 1) / (out - 1)) if out > 1 else dtype.type(0)
    else:
        scale = dtype.type(scale)
    low, high = numpy.zeros(out, dtype=numpy.int64), numpy.zeros(out, dtype=numpy.int64)
    weight_low, weight_high = numpy.zeros(out, dtype=dtype), numpy.zeros(out, dtype=dtype)
    for i in range(out):
        if out == size:
            low[i], high[i], weight_low[i], weight_high[i] = i, i, one, 0
            continue
        source = scale * dtype.type(i) if align_corners else max(scale * (dtype.type(i) + half) - half, dtype.type(0))
        low[i] = min(int(math.floor(source)), size - 1)
        high[i] = low[i] + (1 if low[i] < size - 1 else 0)
        weight_high[i] = min(max(source - dtype.type(low[i]), dtype.type(0)), one)
        weight_low[i] = one - weight_high[i]
    return low, high, weight_low, weight_high


def bilinear_matrix(size, out, scale, align_corners, dtype):
    """A_h of the module docstring: the (out, size) matrix whose row i holds the two taps' weights
    (added up where both taps are one index). It states the map; the layer computes with the taps."""
    low, high, weight_low, weight_high = bilinear_taps(size, out, scale, align_corners, dtype)
    matrix = numpy.zeros((out, size), dtype=dtype)
    numpy.add.at(matrix, (numpy.arange(out), low), weight_low)
    numpy.add.at(matrix, (numpy.arange(out), high), weight_high)
    return matrix


def bilinear_readers(taps, size):
    """The taps seen from the input side, for the backward pass: input r is read by the outputs i with
    low[i] = r (weight weight_low[i]) and those with high[i] = r (weight weight_high[i]), in the order
    torch adds them (i ascending, low before high). Returned as two (K, size) tables, K the most readers
    of any input: the k-th reader of input r is output index[k, r] - 1 with weight[k, r]; index 0 (weight 0)
    stands for "no k-th reader" and points at a slot of zeros, not at a real output (no 0 * g)."""
    low, high, weight_low, weight_high = taps
    readers = [[] for _ in range(size)]
    for i in range(len(low)):
        readers[low[i]].append((i + 1, weight_low[i]))
        readers[high[i]].append((i + 1, weight_high[i]))
    depth = max(len(pairs) for pairs in readers)
    index, weight = numpy.zeros((depth, size), dtype=numpy.int64), numpy.zeros((depth, size), dtype=weight_low.dtype)
    for r, pairs in enumerate(readers):
        for k, (reader, reader_weight) in enumerate(pairs):
            index[k, r], weight[k, r] = reader, reader_weight
    return index, weight


def interpolate(x, taps, axis):
    """One axis of bilinear resizing, the rows of A times x read as two taps per output index:

        x_out[..., i, ...] = weight_low[i] * x[..., low[i], ...] + weight_high[i] * x[..., high[i], ...]

    ``taps`` = (low, high, weight_low, weight_high) of ``bilinear_taps`` (NumPy). No other input index
    is touched, so an infinite pixel reaches only the outputs that read it."""
    xp = backend.get_array_module(x)
    low, high, weight_low, weight_high = (xp.asarray(t) for t in taps)
    x_low, x_high = xp.take(x, low, axis=axis), xp.take(x, high, axis=axis)
    x_low *= _along(weight_low, axis, x.ndim)          # in place: a fresh array of this size costs page faults
    x_high *= _along(weight_high, axis, x.ndim)
    x_low += x_high
    return x_low


def interpolate_backward(grad, readers, axis):
    """The transpose of ``interpolate``: input index r collects the gradients of the outputs that read it,
    times the weight they read it with,

        dL/dx[..., r, ...] = sum_{i: low[i] = r} weight_low[i] g[..., i, ...]
                           + sum_{i: high[i] = r} weight_high[i] g[..., i, ...]

    summed as  sum_k weight[k, r] g[..., index[k, r] - 1, ...]  over the tables of ``bilinear_readers``,
    with g behind a slot of zeros at index 0 (an input with fewer readers, or none when downsampling,
    adds zeros there: never 0 * g, which is NaN where g is infinite)."""
    xp = backend.get_array_module(grad)
    index, weight = readers
    zeros_shape = list(grad.shape)
    zeros_shape[axis] = 1
    padded = xp.concatenate([xp.zeros(zeros_shape, dtype=grad.dtype), grad], axis=axis)
    total = None
    for index_k, weight_k in zip(xp.asarray(index), xp.asarray(weight)):
        term = xp.take(padded, index_k, axis=axis)
        term *= _along(weight_k, axis, grad.ndim)
        if total is None:
            total = term
        else:
            total += term
    return total


def _along(vector, axis, ndim):
    """A 1-D vector shaped to broadcast along ``axis`` of an ndim-D array."""
    return vector.reshape((-1,) + (1,) * (ndim - 1 - axis))


class Upsample(Spatial2d):
    """y = A_h x A_w^T per image and channel:   (N, C, H, W) -> (N, C, H_out, W_out)

    H_out = size, or floor(H * scale_factor). A_h (H_out, H) and A_w (W_out, W) are the resizing
    matrices of the module docstring (nearest: one 1 per row; bilinear: two weights summing to 1).

    Backward, with g = dL/dy of shape (N, C, H_out, W_out):
        dL/dx = A_h^T g A_w                                              (N, C, H, W)

    Neither pass multiplies by the matrices' zeros (0 * inf would be NaN across a whole row; see the
    module docstring). Bilinear reads two taps per output index, along the columns and then the rows,
    as torch's kernel does (``interpolate``; the backward ``interpolate_backward``, rows then columns,
    with each input's readers listed by ``bilinear_readers``):
        y[n, c, i, j] = wh0[i] (ww0[j] x[h0[i], w0[j]] + ww1[j] x[h0[i], w1[j]])
                      + wh1[i] (ww0[j] x[h1[i], w0[j]] + ww1[j] x[h1[i], w1[j]])
    Nearest with whole scale factors (each input pixel copied into an sH x sW block) runs a fast form,
    ``_repeat_forward``/``_block_sum_backward``: a repeat, and a sum of sH*sW strided slices, equal to
    the matrices' products (a test holds them equal). Nearest with other factors gathers the source
    pixels forward and sums each input pixel's copies backward (``_source_sum``).

    Forward caches the readers of the taps (nearest: the source indices; the fast form: the block factors).
    Torch reads a 3-D input as (N, C, L) for 1-D resizing, which this module does not do: inputs must be 4-D.
    """

    _saved = Spatial2d._saved + ("_blocks", "_sources", "_readers")

    def __init__(self, size=None, scale_factor=None, mode="nearest", align_corners=None, recompute_scale_factor=None):
        if (size is None) == (scale_factor is None):
            raise ValueError("Upsample: give exactly one of size and scale_factor, got "
                             f"size={size!r}, scale_factor={scale_factor!r}")
        if mode in TORCH_ONLY_MODES or mode not in MODES:
            raise ValueError(f"Upsample: mode={mode!r} is not supported; use one of {MODES}")
        if align_corners is not None and (mode == "nearest" or not isinstance(align_corners, bool)):
            raise ValueError(f"Upsample: align_corners={align_corners!r} can only be True or False with "
                             "mode='bilinear' (leave it None for 'nearest')")
        if recompute_scale_factor not in (None, True, False):
            raise ValueError(f"Upsample: recompute_scale_factor must be True, False or None, got {recompute_scale_factor!r}")
        if recompute_scale_factor and size is not None:
            raise ValueError("Upsample: recompute_scale_factor=True is not meaningful with an explicit size")
        self.size = tuple(size) if isinstance(size, list) else size
        self._size = _number_pair("size", size, int) if size is not None else None
        if scale_factor is not None:
            factors = _number_pair("scale_factor", scale_factor, (int, float))
            self.scale_factor = tuple(float(f) for f in factors) if isinstance(scale_factor, (tuple, list)) \
                else float(scale_factor)
            self._factors = tuple(float(f) for f in factors)
        else:
            self.scale_factor = self._factors = None
        self.mode = mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor
        self._plans = {}

    def _check(self, x):
        if x.ndim == 3:
            raise ValueError(f"{self!r}: got a 3-D input {tuple(x.shape)}, which torch reads as (N, C, L) for "
                             "1-D resizing; give a 4-D (N, C, H, W) image (x[None] adds the batch axis)")
        super()._check(x)

    def _geometry(self, size):
        """(H_out, W_out) and the scales the source positions use (torch's rules)."""
        if self._size is not None:
            out = self._size
        else:
            out = tuple(int(math.floor(s * f)) for s, f in zip(size, self._factors))
        if min(out) <= 0:
            raise ValueError(f"{self!r}: an input of size {tuple(size)} gives an output of size {out}; "
                             "use a larger scale_factor or size")
        if self._factors is not None and not self.recompute_scale_factor:
            scales = tuple(1.0 / f for f in self._factors)
        else:
            scales = tuple(s / o for s, o in zip(size, out))
        return out, scales

    def _plan(self, size, dtype):
        """How to resize an input of this size and dtype (NumPy, remembered: the layer sees few sizes):
        ("repeat", block factors) for nearest by whole factors, ("gather", source indices per axis) for
        other nearest, ("taps", (bilinear taps, their readers) per axis)."""
        key = (size, dtype)
        if key not in self._plans:
            out, scales = self._geometry(size)
            if self.mode == "bilinear":
                taps = [bilinear_taps(s, o, scale, bool(self.align_corners), dtype)
                        for s, o, scale in zip(size, out, scales)]
                self._plans[key] = ("taps", (taps, [bilinear_readers(t, s) for t, s in zip(taps, size)]))
            else:
                matrices = [nearest_matrix(s, o, scale) for s, o, scale in zip(size, out, scales)]
                blocks = tuple(o // s for s, o in zip(size, out))
                is_repeat = all(o == s * b and (m == numpy.repeat(numpy.eye(s), b, axis=0)).all()
                                for s, o, b, m in zip(size, out, blocks, matrices))
                self._plans[key] = ("repeat", blocks) if is_repeat else \
                    ("gather", tuple((m.argmax(axis=1), m.shape[1]) for m in matrices))
        return self._plans[key]

    def _forward(self, x):
        kind, plan = self._plan(x.shape[2:], x.dtype)
        self._blocks = self._sources = self._readers = None
        if kind == "repeat":
            self._blocks = plan
            return _repeat_forward(x, plan)
        xp = backend.get_array_module(x)
        if kind == "gather":
            self._sources = plan
            (rows, _), (cols, _) = plan
            return x[:, :, xp.asarray(rows)][:, :, :, xp.asarray(cols)]
        (rows, cols), self._readers = plan
        return interpolate(interpolate(x, cols, axis=3), rows, axis=2)

    def _backward(self, grad_output):
        if self._blocks is not None:
            return _block_sum_backward(grad_output, self._blocks)
        if self._sources is not None:
            (rows, height), (cols, width) = self._sources
            return _source_sum(_source_sum(grad_output, rows, height, 2), cols, width, 3)
        rows, cols = self._readers
        return interpolate_backward(interpolate_backward(grad_output, rows, axis=2), cols, axis=3)

    def _clear_cache(self):
        super()._clear_cache()
        self._plans = {}  # as before the move: the plans (NumPy, per size and dtype) are built again

    def extra_repr(self):
        text = f"scale_factor={self.scale_factor!r}" if self.scale_factor is not None else f"size={self.size!r}"
        return text + f", mode={self.mode!r}"


def _repeat_forward(x, blocks):
    """The fast form of nearest upsampling by whole factors (sH, sW): A_h x A_w^T with one-hot
    A_h[i, i // sH] = 1, computed as a repeat along each axis."""
    return x.repeat(blocks[0], axis=2).repeat(blocks[1], axis=3)


def _block_sum_backward(grad_output, blocks):
    """The fast form of A_h^T g A_w for those matrices: the sum of each sH x sW block of g,
        dL/dx[n,c,i,j] = sum_{a<sH, b<sW} g[n, c, i*sH + a, j*sW + b]."""
    scale_h, scale_w = blocks
    # A sum of sH*sW strided slices: reshape-and-sum over the two short block axes is far slower in NumPy.
    grad_input = grad_output[:, :, 0::scale_h, 0::scale_w].copy()
    for a in range(scale_h):
        for b in range(scale_w):
            if a or b:
                grad_input += grad_output[:, :, a::scale_h, b::scale_w]
    return grad_input


def _source_sum(grad, source, size, axis):
    """A^T g along ``axis`` for the one-hot A whose row i reads input source[i]: input r receives the sum
    of the gradients of the outputs that read it (none for an input skipped when downsampling). The
    sources never decrease, so the readers of one input are a run of outputs: add the k-th reader of
    every input for k = 0, 1, ..., reading a slice of zeros (not multiplying by 0) where a run is shorter."""
    xp = backend.get_array_module(grad)
    counts = numpy.bincount(source, minlength=size)
    starts = numpy.searchsorted(source, numpy.arange(size))
    zero_shape = list(grad.shape)
    zero_shape[axis] = 1
    padded = xp.concatenate([xp.zeros(zero_shape, dtype=grad.dtype), grad], axis=axis)   # output i at i + 1
    total = None
    for k in range(int(counts.max())):
        term = xp.take(padded, xp.asarray(numpy.where(counts > k, starts + k + 1, 0)), axis=axis)
        if total is None:
            total = term
        else:
            total += term
    return total
