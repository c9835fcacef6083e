"""``filterbank export MODEL OUT.onnx`` and ``filterbank import IN.onnx OUT.fbk``.

Both check first that the ``onnx`` package is installed (``pip install 'filterbank[onnx]'``);
a model file that is damaged, or an ONNX graph filterbank cannot express, is one line on
stderr and exit status 2.

Example:
    >>> from filterbank.cli import main
    >>> main(["export", "missing.fbk", "out.txt"])   # one line on stderr, status 2
    2
"""

from __future__ import annotations

import os

from .common import CLIError, add_command


def _require_onnx():
    from ..onnx.export import require_onnx

    require_onnx("filterbank export/import")


def _check_out(path: str, suffixes: tuple[str, ...], what: str) -> None:
    if not path.lower().endswith(suffixes):
        raise CLIError(f"{what} {path!r} should end in {' or '.join(suffixes)}.")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise CLIError(f"cannot write {path!r}: the folder {parent!r} does not exist.")


def export(args) -> int:
    """Write a saved model (.fbk or .keras) as ONNX."""
    _require_onnx()
    _check_out(args.output, (".onnx",), "the ONNX file")
    if not os.path.isfile(args.model):
        raise CLIError(f"no model file {args.model!r}.")
    if args.model.lower().endswith(".keras"):
        from ..saving.keras_format.h5weights import require_h5py

        require_h5py()
    from ..models import load_model
    from ..onnx import export_model

    model = load_model(args.model, compile=False)
    try:
        export_model(model, args.output, opset=args.opset, channels_first=args.channels_first)
    except ValueError as e:
        raise CLIError(str(e)) from None
    layout = "NCHW" if args.channels_first else "NHWC"
    print(
        f"Wrote {args.output}: ONNX opset {args.opset}, input {layout}, dynamic batch axis "
        f"({model.count_params():,} parameters)."
    )
    return 0


def import_(args) -> int:
    """Convert an ONNX file into a filterbank model file (.fbk, or .keras)."""
    _require_onnx()
    _check_out(args.output, (".fbk", ".keras"), "the model file")
    if args.output.lower().endswith(".keras"):
        from ..saving.keras_format.h5weights import require_h5py

        require_h5py()
    from ..onnx import load_model

    model = load_model(args.input)
    model.save(args.output)
    layout = model.onnx_input_layout
    note = (
        "; the ONNX graph took NCHW, the filterbank model takes NHWC: feed x.transpose(0, 2, 3, 1)"
        if layout == "NCHW"
        else ""
    )
    print(
        f"Wrote {args.output}: {len(model.layers)} layers, {model.count_params():,} "
        f"parameters, input {model.input_shape}{note}."
    )
    return 0


def add_parsers(sub) -> None:
    """Register the two subcommands on the CLI's subparsers."""
    p = add_command(
        sub,
        "export",
        "write a saved model as ONNX",
        "Write a saved model (.fbk or .keras) as an ONNX file that ONNX Runtime and other "
        "tools run.",
        model="a saved model file (.fbk or .keras)",
    )
    p.add_argument("output", metavar="OUT.onnx", help="the ONNX file to write")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset, 13-21 (default 17)")
    p.add_argument(
        "--channels-first",
        action="store_true",
        help="declare NCHW input (as PyTorch models take); default NHWC",
    )
    p = add_command(
        sub,
        "import",
        "convert an ONNX file into a filterbank model",
        "Convert an ONNX graph (from PyTorch, Keras/tf2onnx or filterbank) into a filterbank "
        "model file.",
    )
    p.add_argument("input", metavar="IN.onnx", help="the ONNX file to read")
    p.add_argument("output", metavar="OUT.fbk", help="the model file to write (.fbk or .keras)")
