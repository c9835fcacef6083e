"""``filterbank explore``: a local web page to look inside your own trained model.

The page (static HTML/CSS/JS shipped in ``static/``, no build step, no network) talks to a
small JSON API served by FastAPI on uvicorn (``pip install filterbank[explore]``):

========================  ==================================================================
``GET  /api/model``       layers (name, type, output shape, parameters, formulas), classes,
                          input shape and value range, the run's data and test accuracy
``POST /api/predict``     an image file (multipart field ``image``) or JSON
                          ``{"pixels": [[...]]}`` in [0, 1]: probabilities, predicted class,
                          the input used and, with ``activations``, every layer's output
``POST /api/explain``     ``{"pixels", "layer", "index"}``: the arithmetic of one output cell
``GET  /api/filters/L``   the kernel and bias of conv or dense layer ``L``
``GET  /api/history``     the run's training curves (live while ``filterbank train`` runs)
``GET  /api/samples``     test images of the run's dataset with their labels
========================  ==================================================================

:func:`create_app` builds the app; :mod:`filterbank.explore.preprocess` holds the input
rules and limits, :mod:`filterbank.explore.session` the model-side work (NumPy only) with
:mod:`filterbank.explore.helpers`.

Example:
    >>> from filterbank.explore.preprocess import check_pixels
    >>> check_pixels([[0.0, 1.0], [1.0, 0.0]], (2, 2, 1))[..., 0].tolist()
    [[0.0, 1.0], [1.0, 0.0]]
"""

from __future__ import annotations


def create_app(model_path, **kwargs):
    """The FastAPI app serving ``model_path`` (a model file or a run folder).

    See :func:`filterbank.explore.app.create_app`.
    """
    from .app import create_app as _create_app

    return _create_app(model_path, **kwargs)


__all__ = ["create_app"]
