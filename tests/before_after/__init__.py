"""Speed of this checkout against a git ref's, side by side: ``python -m tests.before_after.step_before_after``
(the seed autoencoder's step) and ``python -m tests.before_after.gans_before_after`` (a GAN step). Tools for
whoever changes the engine, not benchmarks a user runs; not installed. Run from the repository root."""
