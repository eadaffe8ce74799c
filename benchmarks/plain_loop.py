"""The reference the engine is held to: the fastest plain NumPy training step written here for a dense
autoencoder (the seed model: Linear layers, ReLU between, an optional linear code, Sigmoid last, MSE,
Adam), every array allocated once, no modules and no checks, and the fewest whole-array passes.

For a batch of N images, layers k = 1..K with weights W_k (out, in) and biases b_k, one step is

    forward    z_1 = x W_1^T + b_1;  z_k = [a_{k-1} 1] [W_k b_k]^T (k > 1);  a_k = f_k(z_k)
    loss       u = y - x;  L = u . u / M                  (M = N * 784, y = a_K, MSE mean)
    backward   u *= y (1 - y)                             (the Sigmoid's derivative; the loss's 2 / M
                                                           is not applied: see Adam below)
               for k = K..2:  [dW_k db_k] = u^T [a_{k-1} 1];  u = (u W_k) * [a_{k-1} > 0]
               k = 1:         dW_1 = u^T x;  db_1 = sum_n u
    Adam       torch's rule, on one flat buffer of all parameters, with its state rescaled

What is rearranged, each the same arithmetic up to rounding:

- bias in the product: every layer after the first reads its input from a buffer with a column of
  ones after the activations, and its weights and bias lie side by side ([W_k b_k], one row per
  output), so one matrix product adds the bias in the forward pass and one gives both dW_k and db_k
  (the ones column sums u) in the backward pass: no bias pass, no bias sum. The first layer keeps
  its own bias pass and sum (its input x is the data; giving it a ones column would copy x each step).
- the loss's factor s = 2 / M is never multiplied in: the gradients are all 1/s of torch's, and Adam's
  state is kept in those units, where only eps sees the difference (below).
- Adam's state rescaled: m~ = m / ((1 - b1) s) and v~ = v / ((1 - b2) s^2), so that
      m~ = b1 m~ + g           (2 passes: m~ *= b1; m~ += g; torch's form takes 3)
      v~ = b2 v~ + g^2         (3 passes: w = g g; v~ *= b2; v~ += w; torch's form takes 4)
      p -= S m~ / (sqrt(v~) + E)      (5 passes), with c1 = 1 - b1^t, c2 = 1 - b2^t, r = sqrt((1 - b2) / c2),
      S = lr (1 - b1) / (c1 r),  E = eps / (s r)
  which is torch's p -= lr (m / c1) / (sqrt(v / c2) + eps), term by term: 10 passes over the
  parameters where the engine's foreach form takes 12.
- the Sigmoid and its derivative in place: 1 / (1 + e^-z) in 4 passes over the output buffer; the
  derivative y (1 - y) and its product with u in 3.

``PlainLoop(model, batch_size)`` copies an engine model's weights; ``train_step(x)`` returns the loss.
The engine's step at batch 2048 divided by this one says how much of NumPy's own speed the engine's
structure costs; at batch 32 it says what the engine's Python costs.
"""
import math

import numpy

from .workloads import LEARNING_RATE, layer_plan

BETAS, EPS = (0.9, 0.999), 1e-8


def _activations(plan):
    """What follows each Linear layer: "relu", "sigmoid" (the last only) or None (the linear code)."""
    after = []
    for kind, _, _ in plan:
        if kind == "linear":
            after.append(None)
        elif after and after[-1] is None:
            after[-1] = kind
        else:
            raise TypeError(f"PlainLoop: {kind} must follow a Linear layer")
    if "sigmoid" in after[:-1]:
        raise TypeError("PlainLoop: a Sigmoid is written for the last layer only")
    return after


class PlainLoop:
    """A dense model's training step on preallocated NumPy buffers, from an engine model's weights."""

    def __init__(self, model, batch_size):
        plan = layer_plan(model)
        linears = [(weight, bias) for kind, weight, bias in plan if kind == "linear"]
        self.activation_after = _activations(plan)
        dtype = linears[0][0].dtype
        self.batch_size = batch_size
        sizes = [weight.shape[0] * (weight.shape[1] + 1) for weight, _ in linears]
        self.params, self.grads = numpy.empty(sum(sizes), dtype), numpy.zeros(sum(sizes), dtype)
        self.m, self.v, self.work = (numpy.zeros(sum(sizes), dtype) for _ in range(3))
        # Each layer's [W b] (out, in + 1) in the flat buffers, its weight and bias as views of it.
        self.joined, self.joined_grads, self.layers, offset = [], [], [], 0
        for (weight, bias), size in zip(linears, sizes):
            out, inp = weight.shape
            joined = self.params[offset:offset + size].reshape(out, inp + 1)
            joined_grad = self.grads[offset:offset + size].reshape(out, inp + 1)
            joined[:, :inp], joined[:, inp] = weight, bias
            self.joined.append(joined)
            self.joined_grads.append(joined_grad)
            self.layers.append((joined[:, :inp], joined[:, inp], joined_grad[:, :inp], joined_grad[:, inp]))
            offset += size
        last = len(linears) - 1
        # outputs_ones[k]: layer k's output with a column of ones after it (all but the last layer).
        self.outputs_ones = []
        for index, (weight, _) in enumerate(linears):
            width = weight.shape[0] + (index < last)
            buffer = numpy.empty((batch_size, width), dtype)
            if index < last:
                buffer[:, -1] = 1
            self.outputs_ones.append(buffer)
        self.outputs = [buffer[:, :weight.shape[0]] for buffer, (weight, _) in zip(self.outputs_ones, linears)]
        self.grads_in = [numpy.empty((batch_size, weight.shape[1]), dtype) for weight, _ in linears]
        self.masks = [numpy.empty((batch_size, weight.shape[0]), bool) for weight, _ in linears]
        self.grad_output, self.sigmoid_work = numpy.empty_like(self.outputs[-1]), numpy.empty_like(self.outputs[-1])
        self.scale = 2.0 / (batch_size * linears[-1][0].shape[0])  # the loss's s = 2 / M, left out of the gradients
        self.step_count = 0

    # --- the step ---------------------------------------------------------------------------------------
    def forward(self, x):
        matmul, maximum = numpy.matmul, numpy.maximum
        weight, bias, _, _ = self.layers[0]
        z = self.outputs[0]
        matmul(x, weight.T, out=z)
        z += bias
        activation = self.activation_after[0]
        for index in range(1, len(self.layers) + 1):
            if activation == "relu":
                maximum(z, 0, out=z)
            elif activation == "sigmoid":
                numpy.negative(z, out=z)
                with numpy.errstate(over="ignore"):  # e^-z = inf for z < -88 (float32): y = 1 / inf = 0, as it should
                    numpy.exp(z, out=z)
                z += 1
                numpy.divide(1, z, out=z)
            if index == len(self.layers):
                return z
            z, activation = self.outputs[index], self.activation_after[index]
            matmul(self.outputs_ones[index - 1], self.joined[index].T, out=z)

    def loss_and_gradient(self, x):
        """The MSE value; leaves dL/dz of the last layer, over s = 2 / M, in self.grad_output."""
        y, u, work = self.outputs[-1], self.grad_output, self.sigmoid_work
        numpy.subtract(y, x, out=u)
        flat = u.reshape(-1)
        value = numpy.dot(flat, flat) / u.size
        if self.activation_after[-1] == "sigmoid":
            numpy.subtract(1, y, out=work)
            work *= y
            u *= work
        return value

    def backward(self, x):
        matmul, u = numpy.matmul, self.grad_output
        for index in range(len(self.layers) - 1, 0, -1):
            matmul(u.T, self.outputs_ones[index - 1], out=self.joined_grads[index])  # dW and db in one product
            g = self.grads_in[index]
            matmul(u, self.layers[index][0], out=g)
            if self.activation_after[index - 1] == "relu":
                mask = self.masks[index - 1]
                numpy.greater(self.outputs[index - 1], 0, out=mask)
                g *= mask
            u = g
        _, _, dw, db = self.layers[0]
        matmul(u.T, x, out=dw)
        numpy.sum(u, axis=0, out=db)

    def adam(self):
        self.step_count += 1
        t, (beta1, beta2), m, v, work, grad = self.step_count, BETAS, self.m, self.v, self.work, self.grads
        m *= beta1
        m += grad
        numpy.multiply(grad, grad, out=work)
        v *= beta2
        v += work
        r = math.sqrt((1 - beta2) / (1 - beta2 ** t))
        numpy.sqrt(v, out=work)
        work += EPS / (self.scale * r)
        numpy.divide(m, work, out=work)
        work *= LEARNING_RATE * (1 - beta1) / ((1 - beta1 ** t) * r)
        self.params -= work

    def train_step(self, x):
        if x.shape[0] != self.batch_size:
            raise ValueError(f"PlainLoop: built for batches of {self.batch_size}, given {x.shape[0]}")
        self.forward(x)
        value = self.loss_and_gradient(x)
        self.backward(x)
        self.adam()
        return value

    def adam_state(self):
        """[(exp_avg, exp_avg_sq)] in torch's units, one pair per parameter in the engine's order."""
        (beta1, beta2), s = BETAS, self.scale
        return list(zip(self.views(self.m * ((1 - beta1) * s)), self.views(self.v * ((1 - beta2) * s * s))))

    def views(self, flat):
        """A flat buffer in the [W b] layout as [W_1, b_1, W_2, ...] (views)."""
        arrays, offset = [], 0
        for joined in self.joined:
            out, width = joined.shape
            block = flat[offset:offset + out * width].reshape(out, width)
            arrays += [block[:, :-1], block[:, -1]]
            offset += out * width
        return arrays
