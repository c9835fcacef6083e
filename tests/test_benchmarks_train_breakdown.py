"""benchmarks/train_breakdown.py: the per-step FLOP counts add up to the harness's count of a
training sample (so each step's "of peak" figure rests on the same arithmetic as run.py's),
and a short run prints every step with its rates."""

import pytest

from benchmarks.archs import ARCH_INPUT, train_flops
from benchmarks.frameworks import FilterbankAdapter
from benchmarks.train_breakdown import breakdown, render, run_flops


@pytest.mark.parametrize("arch", ["functional", "sequential", "cifar"])
def test_step_flops_add_up_to_the_training_flops(arch):
    image, channels = ARCH_INPUT[arch]
    model = FilterbankAdapter(1).build(arch, image, 0)
    graph = model._graph
    total = sum(sum(run_flops(graph, run, 3)) for run in graph.runs)
    assert total == 3 * train_flops(arch, image, channels)


def test_a_short_breakdown_renders_each_step_with_its_rate():
    res = breakdown("sequential", 8, 1, 1)
    text = render(res, peak=100.0)
    assert text.count("\n| ") == len(res["steps"]) + 4  # header, steps, loss/optimizer/other
    assert "of the sgemm peak (100 GFLOP/s)" in text
    assert "GFLOP/s, " in text.split("\n")[4]  # the first convolution's forward rate
