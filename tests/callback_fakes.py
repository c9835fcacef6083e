"""A stand-in model and a scripted "fit" loop, to drive callbacks hook by hook."""

import numpy as np

from filterbank import callbacks


class FakeOptimizer:
    def __init__(self, learning_rate=0.01):
        self.learning_rate = learning_rate

    def current_learning_rate(self):
        return float(self.learning_rate)


class FakeModel:
    """Weights are one vector whose value names the epoch that produced it."""

    def __init__(self, learning_rate=0.01):
        self.stop_training = False
        self.optimizer = FakeOptimizer(learning_rate)
        self.weights = [np.zeros(3, dtype=np.float32), np.zeros((), dtype=np.float32)]
        self.saves = []  # (kind, path) in call order
        self.history = None

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        self.weights = [np.array(w, copy=True) for w in weights]

    def save(self, path):
        self.saves.append(("model", path))
        with open(path, "w") as f:
            f.write("model")

    def save_weights(self, path):
        self.saves.append(("weights", path))
        with open(path, "w") as f:
            f.write("weights")


def scripted_fit(cbs, epoch_logs, model=None, steps=2, batch_logs=None, verbose=0):
    """Run the hooks as fit would, with ``epoch_logs[i]`` as epoch i's logs.

    During epoch i the model's weights are filled with the value i (before its batches),
    so ``model.weights[0][0]`` tells which epoch's weights the model holds.
    Returns (model, history, epochs_run).
    """
    model = model or FakeModel()
    model.stop_training = False
    cl = callbacks.CallbackList(
        cbs, add_history=True, model=model, verbose=verbose, epochs=len(epoch_logs), steps=steps
    )
    cl.on_train_begin()
    run = 0
    for epoch, logs in enumerate(epoch_logs):
        cl.on_epoch_begin(epoch)
        model.weights = [np.full_like(w, epoch) for w in model.weights]
        for b in range(steps):
            cl.on_train_batch_begin(b)
            blogs = dict(batch_logs(epoch, b)) if batch_logs else {"loss": logs.get("loss", 1.0)}
            cl.on_train_batch_end(b, blogs)
            if model.stop_training:
                break
        cl.on_epoch_end(epoch, dict(logs))
        run += 1
        if model.stop_training:
            break
    cl.on_train_end()
    return model, model.history, run


def val_losses(values, key="val_loss"):
    return [{"loss": 1.0, key: v} for v in values]
