"""Optimizer steps against torch.optim in float64, where the two formulas coincide.

They coincide for a constant learning rate with: SGD (Keras's velocity = -lr * PyTorch's
buffer), RMSprop and Adam/AdamW with epsilon = 0 (Keras puts epsilon inside the sqrt for
RMSprop and on the uncorrected sqrt(v) for Adam), and AdamW's decoupled decay. For one
Adam step, PyTorch's eps = Keras's epsilon / sqrt(1 - beta_2) makes them equal too.
"""

import numpy as np
import pytest

from filterbank import optimizers

torch = pytest.importorskip("torch")

SEEDS = range(4)
CASES = [
    (optimizers.SGD, {}, torch.optim.SGD, {}),
    (optimizers.SGD, {"momentum": 0.9}, torch.optim.SGD, {"momentum": 0.9}),
    (
        optimizers.SGD,
        {"momentum": 0.6, "nesterov": True},
        torch.optim.SGD,
        {"momentum": 0.6, "nesterov": True},
    ),
    (optimizers.RMSprop, {"epsilon": 0.0}, torch.optim.RMSprop, {"alpha": 0.9, "eps": 0.0}),
    (
        optimizers.RMSprop,
        {"rho": 0.8, "momentum": 0.5, "centered": True, "epsilon": 0.0},
        torch.optim.RMSprop,
        {"alpha": 0.8, "momentum": 0.5, "centered": True, "eps": 0.0},
    ),
    (optimizers.Adam, {"epsilon": 0.0}, torch.optim.Adam, {"eps": 0.0}),
    (
        optimizers.Adam,
        {"beta_1": 0.7, "beta_2": 0.95, "amsgrad": True, "epsilon": 0.0},
        torch.optim.Adam,
        {"betas": (0.7, 0.95), "amsgrad": True, "eps": 0.0},
    ),
    (
        optimizers.AdamW,
        {"weight_decay": 0.1, "epsilon": 0.0},
        torch.optim.AdamW,
        {"weight_decay": 0.1, "eps": 0.0},
    ),
]


def _run_both(ours_cls, ours_kw, torch_cls, torch_kw, seed, steps, lr=0.03):
    rng = np.random.default_rng(seed)
    shapes = [(3, 3, 2, 4), (4,), (5, 2)]
    init = [rng.standard_normal(s) for s in shapes]
    grads = [[rng.standard_normal(s) for s in shapes] for _ in range(steps)]
    params = [p.copy() for p in init]
    opt = ours_cls(learning_rate=lr, **ours_kw)
    tparams = [torch.tensor(p.copy(), requires_grad=True) for p in init]
    topt = torch_cls(tparams, lr=lr, **torch_kw)
    for step_grads in grads:
        opt.apply_gradients([(g, p, f"p{i}") for i, (g, p) in enumerate(zip(step_grads, params))])
        for tp, g in zip(tparams, step_grads):
            tp.grad = torch.tensor(g)
        topt.step()
    return params, [tp.detach().numpy() for tp in tparams]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("case", range(len(CASES)))
@pytest.mark.parametrize("steps", [1, 7])
def test_steps_match_torch(case, seed, steps):
    ours, theirs = _run_both(*CASES[case], seed=seed, steps=steps)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_one_adam_step_with_epsilon_placement_made_equal(seed):
    eps, beta_2 = 1e-3, 0.999
    ours, theirs = _run_both(
        optimizers.Adam,
        {"epsilon": eps},
        torch.optim.Adam,
        {"eps": eps / np.sqrt(1 - beta_2)},
        seed=seed,
        steps=1,
    )
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-12)
    # ...and the placement matters: PyTorch's own eps gives a different step.
    ours2, theirs2 = _run_both(
        optimizers.Adam, {"epsilon": eps}, torch.optim.Adam, {"eps": eps}, seed=seed, steps=1
    )
    assert not np.allclose(ours2[0], theirs2[0], rtol=1e-5, atol=1e-12)
