"""``python -m filterbank.cli ...`` runs the ``filterbank`` command."""

from filterbank.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
