"""What ``autoencoders`` and ``gans`` both need, written once, below both:

    runfolder.py         run folders (one run at a time, staged, committed) and files written whole
    checkpoint.py        checkpoint files: one .npz of plain arrays, saved, read within limits, restored
    checkpoint_checks.py the checks every checkpoint passes: keys, kinds, sizes, Adam and generator states
    record.py            Record (a run's measurements as lists) and TrainingDiverged
    arguments.py         argparse number types with one-line messages
    figures.py           image grids drawn and saved as PNG files
    cli.py               the pieces of a command line: parser, usage errors, data loading, SIGTERM, exit codes
    startup.py           the check, before anything else, that this project's packages are the ones found

Nothing is imported here: ``import common`` stays free of matplotlib (figures.py) and of the engine;
import the module you need.
"""
