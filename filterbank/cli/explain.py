"""``filterbank explain``: one prediction of a saved model, and the arithmetic behind one cell.

Prints the prediction, then the arithmetic of one output cell (by default the strongest cell
of the first conv layer; ``--layer`` and ``--index`` choose another) and that channel's map.
With ``--out DIR`` it also writes PNGs: the feature maps of every layer, the filters of every
conv layer, the cell, the max-pool winners, saliency and Grad-CAM.

Example:
    >>> from filterbank.cli import build_parser
    >>> a = build_parser().parse_args(["explain", "m.fbk", "--sample", "3", "--index", "1,2,0"])
    >>> a.sample, parse_index(a.index)
    (3, (1, 2, 0))
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .common import CLIError, add_command, add_data_options, add_invert_option, user_errors


def parse_index(text):
    """'1,2,0' -> (1, 2, 0)."""
    if text is None:
        return None
    try:
        return tuple(int(v) for v in text.replace(" ", "").split(","))
    except ValueError:
        raise CLIError(
            f"--index expects integers separated by commas, e.g. --index 3,4,0; got {text!r}."
        ) from None


def add_parser(sub):
    p = add_command(
        sub,
        "explain",
        "show the arithmetic behind one prediction",
        "Predict one image or test sample and show the arithmetic of one output cell; "
        "--out DIR writes the pictures.",
        model="a saved model file",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--image", metavar="FILE", help="an image file (PNG, JPEG, ...)")
    src.add_argument(
        "--sample", type=int, metavar="N", help="test image number N of the model's dataset"
    )
    add_data_options(p, data_help="dataset for --sample (default: as recorded beside the model)")
    p.add_argument("--layer", metavar="NAME", help="layer to explain (default: the first conv)")
    p.add_argument(
        "--index",
        metavar="I,J,C",
        help="output position in that layer, without the batch axis (default: its strongest cell)",
    )
    add_invert_option(p, "for --image: invert to light-on-dark (as filterbank predict)")
    p.add_argument("--out", type=Path, metavar="DIR", help="write the PNGs into DIR")
    return p


def _sample(args, path, model, info):
    from . import commands, images
    from . import models as M

    if args.image is not None:
        x, flipped = images.prepare(
            [args.image],
            M.model_input_shape(model),
            invert=args.invert,
            light_on_dark=info.light_on_dark,
            value_range=info.value_range,
        )
        note = " (inverted to match the training images)" if flipped[0] else ""
        return x[0], None, f"{args.image}{note}", None
    data = commands._load_data(path, model, info)
    n = len(data.x_test)
    if not 0 <= args.sample < n:
        raise CLIError(
            f"--sample {args.sample} is out of range: {data.name} has {n:,} test "
            f"images (0..{n - 1})."
        )
    return (
        data.x_test[args.sample],
        int(data.y_test[args.sample]),
        f"test image {args.sample} of {data.name}",
        data,
    )


def _default_layer(model):
    from ..layers.input_layer import InputLayer

    layers = [la for la in model.layers if not isinstance(la, InputLayer)]
    convs = [la for la in layers if type(la).__name__ in ("Conv1D", "Conv2D")]
    return (convs or layers)[0]


def run(args) -> int:
    from .. import explain
    from . import commands

    if args.out is not None:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise CLIError(
                "--out draws pictures with matplotlib, which is not installed: "
                "pip install 'filterbank[io]'."
            ) from None
    path, model = commands._load_model(args.model)
    info = commands.model_data(path, model, args.data, None, args.test_split)
    x, label, what, data = _sample(args, path, model, info)
    with user_errors("explaining"):
        probs = np.asarray(model.predict(x[None], verbose=0))[0]
    names = commands._class_names(info, data, probs.shape[-1])
    order = np.argsort(-probs, kind="stable")[:3]
    ranked = "  ".join(f"{names[i]} {100 * probs[i]:.1f}%" for i in order)
    truth = f" (true class: {names[label]})" if label is not None else ""
    print(f"{what}: {ranked}{truth}")
    with user_errors("explaining"):
        layer = model.get_layer(args.layer) if args.layer else _default_layer(model)
        index = parse_index(args.index)
        if index is None:
            fmap = explain.feature_maps(model, x, [layer])[layer.name]
            index = tuple(int(i) for i in np.unravel_index(int(np.argmax(fmap)), fmap.shape))
            print(f"The strongest cell of {layer.name} is {list(index)}:")
        e = explain.cell(model, x, layer, index)
    print()
    print(e)
    fmap = explain.feature_maps(model, x, [layer])[layer.name]
    if fmap.ndim >= 2:
        print()
        c = index[-1]
        print(
            f"{layer.name} channel {c} (min {explain.text.num(fmap[..., c].min())}, max "
            f"{explain.text.num(fmap[..., c].max())}):"
        )
        print(explain.map_text(fmap[..., c]))
    if args.out is not None:
        written = write_pictures(model, x, e, args.out, class_names=names)
        print(f"\nWrote {len(written)} pictures to {args.out}: {', '.join(written)}")
    return 0


def write_pictures(model, x, e, out: Path, class_names=None) -> list[str]:
    """The PNGs of ``filterbank explain --out``; returns their file names."""
    from ..explain import plots
    from ..layers.input_layer import InputLayer

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []

    def save(fig, name):
        fig.savefig(out / name, dpi=100)
        written.append(name)

    layers = [la for la in model.layers if not isinstance(la, InputLayer)]
    pooled = False
    for la in layers:
        if len(la.output.shape) >= 3:
            save(plots.plot_feature_maps(model, x, la), f"maps_{la.name}.png")
        if type(la).__name__ in ("Conv1D", "Conv2D"):
            save(plots.plot_filters(model, la), f"filters_{la.name}.png")
        if type(la).__name__ == "MaxPooling2D" and not pooled:
            pooled = True
            save(
                plots.plot_pool_winners(
                    model, x, la, channel=e.index[-1] if e.layer == la.input.node.layer.name else 0
                ),
                f"pool_{la.name}.png",
            )
    save(plots.plot_cell(e), "cell.png")
    single = len(model.inputs) == 1 and len(model.outputs) == 1
    if single and len(model.output.shape) == 2:
        save(plots.plot_saliency(model, x, class_names=class_names), "saliency.png")
        if any(type(la).__name__ in ("Conv1D", "Conv2D") for la in layers):
            save(plots.plot_grad_cam(model, x, class_names=class_names), "grad_cam.png")
    return written
