"""python -m cnnkit_tools.grade ASSIGNMENT ...: see cli.py."""

import sys

if __name__ == "__main__":  # guard: the local pool's worker processes re-import __main__
    from .cli import main
    sys.exit(main())
