"""Mutation testing of the engine, the run folder and the data code: ``python -m tests.mutation.mutants``
(mutants.py), why each survivor survives (mutant_reasons.py), and the last full report (results/).
Not installed (setup.cfg finds only the project's packages); run from the repository root."""
