"""``python -m autoencoders``: the command line.

By the time this file runs, the package's __init__ has run (the shadowing check, and Ctrl-C during
those imports); here the command line's own imports (matplotlib: about a second) get the same
one-line treatment.
"""
from runfolder.startup import run_command_line

run_command_line("autoencoders", "autoencoders.cli")
