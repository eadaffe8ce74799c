"""The run folder and what goes into it, shared by both command lines (``python -m autoencoders`` and
``python -m gans``) and written once, below both:

    folder.py            run folders (one run at a time, staged, committed) and files written whole
    checkpoint.py        checkpoint files: one .npz of plain arrays, saved, read within limits, restored
    checkpoint_checks.py the checks every checkpoint passes: keys, kinds, sizes, Adam and generator states
    record.py            Record (a run's measurements as lists) and TrainingDiverged
    arguments.py         argparse number types with one-line messages
    figures.py           image grids drawn and saved as PNG files
    cli.py               the pieces of a command line: parser, usage errors, data loading, SIGTERM, exit codes
    startup.py           the check, before anything else, that this project's packages are the ones found
    progress.py          the training progress bar both command lines show, on stderr

It may import ``nn`` and ``datasets``, nothing else of the project (tests/test_runfolder_layering.py).
Nothing is imported here: ``import runfolder`` stays free of matplotlib (figures.py) and of the engine;
import the module you need.
"""
