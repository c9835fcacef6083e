"""Keras-style constructor arguments a family of classes shares, declared once on its base.

Keras gives every optimizer the same trailing arguments (``weight_decay, clipnorm,
clipvalue, global_clipnorm, name``), every random augmentation layer ``fill_mode, ...,
data_format``, every kernel layer ``activation, use_bias, kernel_initializer, ...``.
Written out in each class, those lists drift apart (a default changed in one place only).
Here the family's base ``__init__`` declares them -- names, defaults, checks -- and a
subclass decorated with :func:`takes_base_args` declares only its own arguments and
``**kwargs``. The subclass still has Keras's whole signature: ``help()`` and
``inspect.signature`` show the base's arguments after its own, and they may be passed
positionally, in that order, as in Keras.

Example:
    >>> class Base:
    ...     def __init__(self, clipnorm=None, name=None, **kwargs):
    ...         self.clipnorm, self.name = clipnorm, name
    >>> @takes_base_args
    ... class SGD(Base):
    ...     def __init__(self, momentum=0.0, **kwargs):
    ...         super().__init__(**kwargs)
    ...         self.momentum = momentum
    >>> import inspect
    >>> str(inspect.signature(SGD))
    '(momentum=0.0, clipnorm=None, name=None, **kwargs)'
    >>> SGD(0.9, 1.0).clipnorm
    1.0
"""

from __future__ import annotations

import functools
import inspect
import sys

import numpy as np

_NAMED = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def takes_base_args(cls):
    """Class decorator: append the base class's ``__init__`` arguments to ``cls.__init__``.

    ``cls.__init__`` must end with ``**kwargs`` and hand them to ``super().__init__``.
    The base's named arguments that ``cls`` does not declare itself follow ``cls``'s own
    ones, with the base's defaults; positional values past ``cls``'s own arguments are
    passed on by name.
    """
    init = cls.__dict__["__init__"]
    own = inspect.signature(init)
    own_params = list(own.parameters.values())
    if not own_params or own_params[-1].kind is not inspect.Parameter.VAR_KEYWORD:
        raise TypeError(f"{cls.__name__}.__init__ must end with **kwargs to take base arguments")
    head, var_kw = own_params[:-1], own_params[-1]
    names = {p.name for p in head}
    base = inspect.signature(super(cls, cls).__init__)
    tail = [
        p.replace(kind=inspect.Parameter.POSITIONAL_OR_KEYWORD)
        for p in list(base.parameters.values())[1:]  # after self
        if p.kind in _NAMED and p.name not in names
    ]
    n_own = sum(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in head) - 1  # - self
    tail_names = [p.name for p in tail]

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        if len(args) > n_own:
            extra = args[n_own:]
            if len(extra) > len(tail_names):
                raise TypeError(
                    f"{cls.__name__}() takes at most {n_own + len(tail_names)} positional "
                    f"arguments ({len(args)} given)"
                )
            for name, value in zip(tail_names, extra):
                if name in kwargs:
                    raise TypeError(f"{cls.__name__}() got multiple values for argument {name!r}")
                kwargs[name] = value
            args = args[:n_own]
        init(self, *args, **kwargs)

    __init__.__signature__ = own.replace(parameters=[*head, *tail, var_kw])
    cls.__init__ = __init__
    return cls


def user_stacklevel() -> int:
    """The ``warnings.warn`` stacklevel of the nearest caller outside filterbank.

    A warning about a constructor argument should point at the user's line, however many
    filterbank frames (subclass constructors, :func:`takes_base_args` wrappers) lie between.
    """
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_globals.get("__name__", "").startswith("filterbank."):
        frame, level = frame.f_back, level + 1
    return level


def is_positive_int(value) -> bool:
    """An int or NumPy integer >= 1, and not a bool (True would otherwise pass as 1)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 1
