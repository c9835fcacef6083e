"""Gradient accumulation (Keras 3's ``gradient_accumulation_steps``), for the base Optimizer.

With ``gradient_accumulation_steps=N`` every ``apply_gradients`` call is one step, but weights
move only on every N-th: the other calls add their gradients to a per-parameter
"gradient_accumulator" slot, and the N-th applies ``(g + accumulator) / N`` (clipping and
weight decay included) and zeroes the slot. As in Keras 3:

* the gradients are averaged without weights, so a smaller last batch of an epoch counts as
  much as a full one, and an accumulation that is not complete at an epoch's end carries on
  into the next epoch (nothing is flushed);
* ``optimizer.iterations`` counts weight updates (calls // N): Adam's bias correction uses it;
  learning-rate schedules get the count of calls (``_iterations``), as Keras's do.

Where N batches of size b form one batch of N * b, this is the arithmetic of N data-parallel
ranks of b samples each summing their gradients (``filterbank.distributed``): bit for bit when
N = 2 and b is a power of two (tests/distributed/test_distributed_mpi.py).

Example:
    >>> import numpy as np
    >>> from filterbank import optimizers
    >>> w = np.zeros(1, "float32")
    >>> opt = optimizers.SGD(1.0, gradient_accumulation_steps=2)
    >>> opt.apply_gradients([(np.ones(1, "float32"), w, "w")]); w, opt.iterations
    (array([0.], dtype=float32), 0)
    >>> opt.apply_gradients([(np.full(1, 3, "float32"), w, "w")]); w, opt.iterations
    (array([-2.], dtype=float32), 1)
"""

from __future__ import annotations

import numbers

import numpy as np

SLOT = "gradient_accumulator"


def check_steps(owner: str, value):
    """``value`` as an int >= 2, or None (no accumulation); anything else is an error."""
    if value is None or (isinstance(value, numbers.Integral) and value == 0):
        return None  # Keras treats 0 as "off" too
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 2:
        raise ValueError(
            f"{owner} expects gradient_accumulation_steps to be an integer >= 2 (or None), "
            f"got gradient_accumulation_steps={value!r}. Pass e.g. 2 to update the weights "
            "every second batch with the mean of the two gradients, or None for every batch."
        )
    return int(value)


def accumulate(opt, items):
    """Add this call's gradients to the accumulators; on the N-th call return the means.

    Args:
        opt: the optimizer (``gradient_accumulation_steps``, the raw ``_iterations`` and
            its slots).
        items: validated ``(grad, param, key)`` triples.

    Returns:
        The ``(mean_grad, param, key)`` triples to apply now, or None (only accumulated).
        The accumulators of those keys are zeroed by :func:`reset` after the update.
    """
    steps = opt.gradient_accumulation_steps
    update = (opt._iterations + 1) % steps == 0
    out = []
    for grad, param, key in items:
        acc = opt._slots_for(key, param)[SLOT]
        grad = grad.astype(param.dtype, copy=False)
        if not update:
            acc += grad
            continue
        # Keras's (g + acc) / steps, in a new array: acc is zeroed only after the update.
        mean = np.add(grad, acc)
        mean /= steps
        out.append((mean, param, key))
    return out if update else None


def reset(opt, items) -> None:
    """Zero the accumulators of ``items``' keys (after the update that used them)."""
    for _, _, key in items:
        opt._slots[key][SLOT][...] = 0
