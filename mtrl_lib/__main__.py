import sys

try:
    from .book.cli import main

    code = main()
except KeyboardInterrupt:   # Ctrl-C before the command installed its own handler (while it imports)
    print("interrupted: python -m mtrl_lib, before it started any work", file=sys.stderr)
    code = 130
sys.exit(code)
