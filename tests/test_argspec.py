"""takes_base_args: a subclass declares its own arguments; the base's follow in its signature."""

import inspect
import warnings

import pytest

from filterbank._argspec import takes_base_args, user_stacklevel


class _Base:
    def __init__(self, clipnorm=None, name=None, **kwargs):
        if kwargs:
            raise TypeError(f"unexpected {sorted(kwargs)}")
        self.clipnorm, self.name = clipnorm, name


@takes_base_args
class _Sub(_Base):
    def __init__(self, rate=0.1, momentum=0.0, **kwargs):
        super().__init__(**kwargs)
        self.rate, self.momentum = rate, momentum


@takes_base_args
class _SubSub(_Sub):
    def __init__(self, rate=0.5, decay=1.0, **kwargs):
        super().__init__(rate=rate, **kwargs)
        self.decay = decay


def test_signature_is_own_then_base_arguments():
    assert (
        str(inspect.signature(_Sub))
        == "(rate=0.1, momentum=0.0, clipnorm=None, name=None, **kwargs)"
    )
    # A decorated base hands on its whole signature, less what the subclass redeclares.
    assert str(inspect.signature(_SubSub)) == (
        "(rate=0.5, decay=1.0, momentum=0.0, clipnorm=None, name=None, **kwargs)"
    )


def test_base_arguments_by_position_and_by_name():
    s = _Sub(0.2, 0.9, 3.0, "x")
    assert (s.rate, s.momentum, s.clipnorm, s.name) == (0.2, 0.9, 3.0, "x")
    s = _Sub(0.2, name="y")
    assert (s.rate, s.momentum, s.clipnorm, s.name) == (0.2, 0.0, None, "y")
    s = _SubSub(1.0, 2.0, 0.5, 4.0)
    assert (s.rate, s.decay, s.momentum, s.clipnorm, s.name) == (1.0, 2.0, 0.5, 4.0, None)


def test_misuse_raises_as_python_does():
    with pytest.raises(TypeError, match="at most 4 positional arguments"):
        _Sub(1, 2, 3, 4, 5)
    with pytest.raises(TypeError, match="multiple values for argument 'clipnorm'"):
        _Sub(1, 2, 3, clipnorm=4)
    with pytest.raises(TypeError, match="unexpected"):
        _Sub(bogus=1)


def test_requires_var_keyword():
    class NoKwargs(_Base):
        def __init__(self, rate=0.1):
            super().__init__()

    with pytest.raises(TypeError, match="must end with \\*\\*kwargs"):
        takes_base_args(NoKwargs)


def test_user_stacklevel_points_outside_filterbank():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.warn("here", stacklevel=user_stacklevel())
    assert caught[0].filename == __file__


def test_optimizer_keeps_keras_signature_and_warns_at_the_callers_line():
    from filterbank import optimizers

    assert list(inspect.signature(optimizers.AdamW).parameters) == [
        "learning_rate",
        "weight_decay",
        "beta_1",
        "beta_2",
        "epsilon",
        "amsgrad",
        "clipnorm",
        "clipvalue",
        "global_clipnorm",
        "gradient_accumulation_steps",
        "name",
        "kwargs",
    ]
    assert optimizers.SGD(0.1, 0.9, False, None, 1.0).clipnorm == 1.0
    with pytest.warns(UserWarning, match="renamed") as caught:
        optimizers.AdamW(lr=0.1)
    assert caught[0].filename == __file__


def test_is_positive_int():
    import numpy as np

    from filterbank._argspec import is_positive_int

    assert is_positive_int(1) and is_positive_int(np.int64(7))
    assert not any(is_positive_int(v) for v in (0, -3, True, 1.0, "2", None))
