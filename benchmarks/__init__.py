"""Scripts that measure the engine and plot what they measured; nothing imports them.

    python -m benchmarks.training_run --help     the main job's whole run, engine against PyTorch
    python -m benchmarks.throughput --help       one training step, against PyTorch, JAX, DeZero, plain NumPy
    python -m benchmarks.step_budget --help      where the engine's step spends its microseconds

They use only the public APIs of ``nn`` and ``autoencoders`` (and, where installed, PyTorch, CuPy,
JAX and DeZero as references), so they measure what a user of the library gets. benchmarks/README.md
says what each measures and holds the results.
"""
