"""Scripts that measure the engine and plot what they measured; nothing imports them.

    python -m benchmarks.throughput --help

They use only the public APIs of ``nn`` and ``autoencoders`` (and, where installed, PyTorch and
CuPy as references), so they measure what a user of the library gets.
"""
