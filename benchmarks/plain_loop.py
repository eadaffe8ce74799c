"""The reference the engine is held to at large batches: the same training step written as a plain
NumPy loop, with every array allocated once, no modules and no checks.

For a dense autoencoder of Linear layers with ReLU between and an optional Sigmoid last, one step is

    forward    a_0 = x;  z_k = a_k W_k^T + b_k;  a_{k+1} = f_k(z_k), f_k the activation after
               layer k: relu, sigmoid (after the last) or none (the deep model's linear code)
    loss       d = y - x;  L = d . d / M                       (M = N * 784, MSE mean)
    backward   g = 2 d / M;  g *= y (1 - y)   (Sigmoid)
               for each layer, last first:  dW_k = g^T a_k;  db_k = sum_n g;  g = g W_k,
               times [a_k > 0] where a_k came out of a ReLU
               (the first layer's input gradient is skipped, as the engine skips it)
    Adam       torch's rule on one flat buffer of all parameters:
               m = b1 m + (1 - b1) dW;  v = b2 v + (1 - b2) dW^2
               p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)

which is the engine's arithmetic (the same products, in the same order); what the loop saves is
the module calls, the checks, and the allocation of each step's arrays. The engine's step at batch
2048 divided by this one says how much of NumPy's own speed the engine's structure costs.
"""
import math

import numpy

from .workloads import LEARNING_RATE, layer_plan

BETAS, EPS = (0.9, 0.999), 1e-8


class PlainLoop:
    """A dense model's training step on preallocated NumPy buffers, from an engine model's weights."""

    def __init__(self, model, batch_size):
        plan = layer_plan(model)
        self.linears = [(weight, bias) for kind, weight, bias in plan if kind == "linear"]
        # activation_after[k]: "relu", "sigmoid" or None, what follows Linear layer k.
        self.activation_after = []
        for kind, _, _ in plan:
            if kind == "linear":
                self.activation_after.append(None)
            elif self.activation_after and self.activation_after[-1] is None:
                self.activation_after[-1] = kind
            else:
                raise TypeError(f"PlainLoop: {kind} must follow a Linear layer")
        dtype = self.linears[0][0].dtype
        sizes = [weight.size + bias.size for weight, bias in self.linears]
        self.params, self.grads = (numpy.empty(sum(sizes), dtype) for _ in range(2))
        self.m, self.v, self.work = (numpy.zeros(sum(sizes), dtype) for _ in range(3))
        self.layers, offset = [], 0
        for (weight, bias), size in zip(self.linears, sizes):
            views = []
            for array in (self.params, self.grads):
                flat = array[offset:offset + size]
                views.append((flat[:weight.size].reshape(weight.shape), flat[weight.size:]))
            (w, b), (dw, db) = views
            w[...], b[...] = weight, bias
            self.layers.append((w, b, dw, db))
            offset += size
        # outputs[k] is layer k's output (after its activation); grads_in[k] the gradient at its input.
        self.outputs = [numpy.empty((batch_size, w.shape[0]), dtype) for w, _, _, _ in self.layers]
        self.grads_in = [numpy.empty((batch_size, w.shape[1]), dtype) for w, _, _, _ in self.layers]
        self.masks = [numpy.empty((batch_size, w.shape[0]), bool) for w, _, _, _ in self.layers]
        self.grad_output, self.sigmoid_work = numpy.empty_like(self.outputs[-1]), numpy.empty_like(self.outputs[-1])
        self.step_count = 0
        if "sigmoid" in self.activation_after[:-1]:
            raise TypeError("PlainLoop: a Sigmoid is written for the last layer only")

    def forward(self, x):
        a = x
        for (w, b, _, _), z, activation in zip(self.layers, self.outputs, self.activation_after):
            numpy.matmul(a, w.T, out=z)
            z += b
            if activation == "relu":
                numpy.maximum(z, 0, out=z)
            elif activation == "sigmoid":
                numpy.negative(z, out=z)
                numpy.exp(z, out=z)
                z += 1
                numpy.divide(1, z, out=z)
            a = z
        return a

    def loss_and_gradient(self, x):
        """The MSE value; leaves dL/dz of the last layer in self.grad_output."""
        y, g, work = self.outputs[-1], self.grad_output, self.sigmoid_work
        numpy.subtract(y, x, out=g)
        flat = g.reshape(-1)
        value = numpy.dot(flat, flat) / g.size
        g *= 2.0 / g.size
        if self.activation_after[-1] == "sigmoid":
            numpy.subtract(1, y, out=work)
            work *= y
            g *= work
        return value

    def backward(self, x):
        g = self.grad_output
        for index in range(len(self.layers) - 1, -1, -1):
            w, _, dw, db = self.layers[index]
            a = self.outputs[index - 1] if index > 0 else x
            numpy.matmul(g.T, a, out=dw)
            numpy.sum(g, axis=0, out=db)
            if index == 0:
                break
            g_in = self.grads_in[index]
            numpy.matmul(g, w, out=g_in)
            if self.activation_after[index - 1] == "relu":
                mask = self.masks[index - 1]
                numpy.greater(a, 0, out=mask)
                g_in *= mask
            g = g_in

    def adam(self):
        self.step_count += 1
        (beta1, beta2), m, v, work, grad = BETAS, self.m, self.v, self.work, self.grads
        m *= beta1
        numpy.multiply(grad, 1 - beta1, out=work)
        m += work
        v *= beta2
        numpy.multiply(grad, grad, out=work)
        work *= 1 - beta2
        v += work
        numpy.sqrt(v, out=work)
        work *= 1 / math.sqrt(1 - beta2 ** self.step_count)
        work += EPS
        numpy.divide(m, work, out=work)
        work *= LEARNING_RATE / (1 - beta1 ** self.step_count)
        self.params -= work

    def train_step(self, x):
        self.forward(x)
        value = self.loss_and_gradient(x)
        self.backward(x)
        self.adam()
        return value
