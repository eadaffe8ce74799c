"""``python -m autoencoders``: the command line, with the checks that must come first.

By the time this file runs, the package's __init__ has run (see there for the shadowing check and
Ctrl-C during those imports); here the command line's own imports (matplotlib: about a second) get
the same one-line treatment.
"""
import sys

try:
    from .cli import main
except KeyboardInterrupt:
    print("\nautoencoders: interrupted while starting; nothing was written", file=sys.stderr)
    sys.exit(130)

sys.exit(main())
