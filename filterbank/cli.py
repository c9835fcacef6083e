"""Placeholder: replaced by its owner branch."""


def main(argv=None):
    raise SystemExit("filterbank: the command line is not built yet")
