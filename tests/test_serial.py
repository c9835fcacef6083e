"""keras_dict / checked_config: the serialization envelope shared by losses, metrics,
optimizers and schedules."""

import pytest

from filterbank import losses, metrics, optimizers
from filterbank._serial import checked_config, keras_dict
from filterbank.optimizers import schedules


def test_envelope_is_keras_layout():
    d = keras_dict("keras.losses", losses.MeanSquaredError())
    assert list(d) == ["module", "class_name", "config", "registered_name"]
    assert (d["module"], d["class_name"], d["registered_name"]) == (
        "keras.losses",
        "MeanSquaredError",
        None,
    )
    assert losses.serialize(losses.MeanSquaredError()) == d


@pytest.mark.parametrize(
    "deserialize, what",
    [
        (losses.deserialize, "Loss"),
        (metrics.deserialize, "Metric"),
        (optimizers.deserialize, "Optimizer"),
        (schedules.deserialize, "A learning rate schedule"),
    ],
)
def test_bad_config_names_what_it_is(deserialize, what):
    with pytest.raises(ValueError, match=f"^{what} config must be a dict with 'class_name'"):
        deserialize({"config": {}})
    assert checked_config({"class_name": "X"}, what) == {"class_name": "X"}
