"""Padding an (N, C, H, W) image, and its adjoint: torch's four ``padding_mode`` values.

Along one axis of n pixels, with a pixels added before and b after, padded position k (0 <= k < a + n + b)
holds the input pixel src(k), where i = k - a:

    zeros       0 outside the input
    reflect     i < 0 -> -i,      i >= n -> 2 (n - 1) - i      (mirror about the edge pixel: a < n)
    replicate   clip(i, 0, n - 1)                             (the edge pixel repeated)
    circular    i mod n                                       (the image wrapped around: a, b <= n)

Backward: every padded pixel is a copy of src(k), so its gradient is added back there:

    dL/dx[src(k)] += dL/dx_pad[k]      for every k; the centre copies itself, zeros sends nothing back.

H is padded first, then W; the adjoint folds W back first, then H.
"""
from . import backend

MODES = ("zeros", "reflect", "replicate", "circular")


def source_index(k, before, size, mode):
    """The input pixel copied at padded position k (None for the zeros outside the input)."""
    i = k - before
    if 0 <= i < size:
        return i
    if mode == "reflect":
        return -i if i < 0 else 2 * (size - 1) - i
    if mode == "replicate":
        return min(max(i, 0), size - 1)
    if mode == "circular":
        return i % size
    return None


def check_fits(owner, mode, pads, size):
    """torch's limits: reflect needs padding < the input size, circular padding <= it."""
    for (before, after), n in zip(pads, size):
        if mode == "reflect" and max(before, after) >= n:
            raise ValueError(f"{owner}: padding_mode='reflect' needs a padding smaller than the input size; "
                             f"padding ({before}, {after}) on an axis of size {n}: use less padding or 'replicate'")
        if mode == "circular" and max(before, after) > n:
            raise ValueError(f"{owner}: padding_mode='circular' needs a padding at most the input size; "
                             f"padding ({before}, {after}) on an axis of size {n}: use less padding")


def _along(axis, start, stop=None):
    """The index selecting [start:stop] along ``axis`` of an (N, C, H, W) array (one pixel without stop)."""
    index = [slice(None)] * 4
    index[axis] = slice(start, start + 1 if stop is None else stop)
    return tuple(index)


def pad(x, pads, mode, fill=0.0):
    """(N, C, H, W) -> (N, C, H + top + bottom, W + left + right); pads = ((top, bottom), (left, right)).
    ``fill`` is the value outside the input for mode 'zeros' (max pooling pads with -inf)."""
    xp = backend.get_array_module(x)
    for axis, (before, after) in zip((2, 3), pads):
        if not before and not after:
            continue
        size = x.shape[axis]
        pieces = []
        for k in list(range(before)) + list(range(before + size, before + size + after)):
            source = source_index(k, before, size, mode)
            if source is None:
                shape = list(x.shape)
                shape[axis] = 1
                pieces.append(xp.full(shape, fill, dtype=x.dtype))
            else:
                pieces.append(x[_along(axis, source)])
        x = xp.concatenate(pieces[:before] + [x] + pieces[before:], axis=axis)
    return x


def pad_backward(grad_pad, pads, mode):
    """The adjoint of ``pad``: (N, C, H_pad, W_pad) -> (N, C, H, W), each padded pixel's gradient
    added onto the pixel it copied."""
    grad = grad_pad
    for axis, (before, after) in reversed(list(zip((2, 3), pads))):
        if not before and not after:
            continue
        size = grad.shape[axis] - before - after
        folded = grad[_along(axis, before, before + size)].copy()
        for k in list(range(before)) + list(range(before + size, before + size + after)):
            source = source_index(k, before, size, mode)
            if source is not None:
                folded[_along(axis, source)] += grad[_along(axis, k)]
        grad = folded
    return grad
