"""``python -m gans``: the command line, after the check that this project's packages are the ones found."""
import sys

from common.startup import foreign_packages, shadowing_message

if foreign_packages():
    print(f"gans: error: {shadowing_message(foreign_packages())}", file=sys.stderr)
    sys.exit(2)
try:
    from .cli import main
except KeyboardInterrupt:
    print("\ngans: interrupted while starting; nothing was written", file=sys.stderr)
    sys.exit(130)

sys.exit(main())
