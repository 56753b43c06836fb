"""``python -m autoens`` runs the command line (same as the ``autoens`` script)."""

from autoens.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
