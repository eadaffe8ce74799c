"""``python -m gans``: the command line, after the checks in the package's __init__ (see
runfolder/startup.py)."""
from runfolder.startup import run_command_line

run_command_line("gans", "gans.cli")
