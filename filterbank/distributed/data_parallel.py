"""Data parallelism as Horovod does it, on the training loop's hooks.

:class:`DataParallel` is what :func:`filterbank.distributed.initialize` installs on every
model (``StepsMixin._distribution``). The loop then calls it at fixed points:

* ``fit`` start (:meth:`begin_fit`): every rank describes its model and data; a mismatch is
  an error on every rank. Rank 0's weights, optimizer state and random-generator state are
  broadcast; BatchNormalization layers get the batch-statistics reducer; on ranks other than
  0, ModelCheckpoint and CSVLogger are dropped and BackupAndRestore reads rank 0's backup,
  broadcast to it (:meth:`fit_callbacks`).
* each step: the shuffled order is common (same generator state everywhere); each rank takes
  its contiguous part of the global batch (:meth:`batch_index`); dropout draws from a stream of
  its own (:meth:`begin_step`); after backward one in-place Allreduce sums, in one fused
  buffer, every weight gradient times the rank's sample count, that count, the loss and the
  metric increments; dividing by the total count gives exactly the global batch's mean-loss
  gradient, however unevenly the batch split (:meth:`end_backward`). Every rank then applies
  the same optimizer update.
* evaluation: each rank scores its part of each batch; loss totals, metric totals and counts
  are summed at the end (:meth:`end_eval`), so the numbers are those of one process.

Two ways to give the data (decided at ``fit``/``evaluate`` time from what the ranks hold):
"full" -- every rank passes the same arrays (checked by a fingerprint of their shapes and of
up to 4,096 rows); "shards" -- every rank passes its own part (e.g. from
:func:`filterbank.distributed.shard`). With shards, each rank takes ``split_sizes(batch_size,
K)[rank]`` samples per step, an epoch lasts as long as the longest shard needs (a rank whose
shard is used up contributes no samples), and each rank shuffles its shard with a generator
derived from the common one and its rank.

Example (one process, a fake two-rank group in threads: ``tests/distributed``)::

    strategy = DataParallel(comm)          # comm: rank, size, allreduce_, allgather, ...
    model._distribution = strategy         # what initialize() does for all models
"""

from __future__ import annotations

import atexit
import hashlib
import io
import json
import math
import shutil
import tempfile
import time

import numpy as np

from .. import backend
from ..layers.base import weights_changed
from .fusion import FusedBuffer
from .reducers import BatchStatsReducer, StepStats
from .sharding import local_part, split_sizes

_FINGERPRINT_ROWS = 4096
# Loss reductions that are a mean over the batch's samples (so shares weight them exactly).
_MEAN_REDUCTIONS = ("sum_over_batch_size", "mean")


def _tracked(compiled, with_total: bool) -> list:
    """The running means a step or an evaluation updates (loss trackers, metrics)."""
    objs = [compiled.total_tracker] if with_total else []
    objs += [spec.tracker for spec in compiled.outputs]
    for spec in compiled.outputs:
        objs += list(spec.metrics)
    return objs


def _inner(obj):
    return obj.resolved if hasattr(obj, "resolved") else obj


def _get(obj) -> tuple[float, float]:
    inner = _inner(obj)
    return (0.0, 0.0) if inner is None else (float(inner.total), float(inner.count))


def _set(obj, total: float, count: float) -> None:
    inner = _inner(obj)
    if inner is not None:
        inner.total, inner.count = float(total), float(count)


def _fingerprint(arrays) -> dict:
    """Shapes, dtypes and a hash of up to 4,096 evenly spaced rows of each array."""
    described, digest = [], hashlib.blake2b(digest_size=16)
    for a in arrays:
        if a is None:
            described.append(None)
            continue
        described.append([list(a.shape[1:]), str(a.dtype)])
        n = len(a)
        rows = np.unique(np.linspace(0, n - 1, min(n, _FINGERPRINT_ROWS)).astype(np.int64))
        digest.update(np.ascontiguousarray(a[rows]).tobytes())
    n = next((len(a) for a in arrays if a is not None), 0)
    return {"n": n, "arrays": described, "digest": digest.hexdigest()}


class DataParallel:
    """The hooks of data-parallel training over a communicator (see the module docstring).

    Args:
        comm: an object with ``rank``, ``size``, ``allreduce_(buf, what)``,
            ``allgather(arr, what)``, ``bcast_(buf, root, what)``, ``bcast_bytes(data, root,
            what)`` and ``allgather_bytes(data, what)`` (:class:`~.comm.MPIComm`).
        rank_streams: draw dropout and augmentation from a per-rank, per-step stream (True);
            False keeps the common generator (tests running ranks as threads).
    """

    def __init__(self, comm, rank_streams: bool = True):
        self.comm = comm
        self.rank, self.size = comm.rank, comm.size
        self.is_root = self.rank == 0
        self.rank_streams = rank_streams
        self.stats = StepStats()
        self.batch_stats = BatchStatsReducer(comm)
        self.mode = "full"
        self._local_batch = None
        self._fused = None
        self._before = None
        self._saved_rng = None
        self._step = 0

    # ---- fit -------------------------------------------------------------------------------
    def begin_fit(self, model, xs, ys, sws, batch_size: int) -> int:
        """Check, synchronise, install; returns the number of steps per epoch (all ranks)."""
        self._check_model(model)
        self.mode, counts = self._data_mode(xs, ys, sws, "fit")
        if self.mode == "full":
            n_batches = math.ceil(counts[0] / batch_size)
            self._local_batch = None
        else:
            if batch_size < self.size:
                raise ValueError(
                    f"fit(): batch_size={batch_size} is the global batch, split over {self.size} "
                    f"ranks; with each rank holding its own shard it must be at least "
                    f"{self.size}. Pass batch_size >= {self.size}."
                )
            if min(counts) == 0:
                raise ValueError(
                    f"filterbank.distributed: fit() got no samples on rank {counts.index(0)}. "
                    "With each rank holding its own shard, every rank needs at least one."
                )
            local = split_sizes(batch_size, self.size)
            n_batches = max(math.ceil(n / b) for n, b in zip(counts, local))
            self._local_batch = local[self.rank]
        self._install(model)
        self.broadcast_state(model)
        self._step = 0
        return n_batches

    def _install(self, model) -> None:
        for layer in model.layers:
            if hasattr(layer, "stats_reducer"):
                layer.stats_reducer = self.batch_stats

    def fit_callbacks(self, callbacks) -> list:
        """Rank 0 keeps every callback; the others drop the ones that write files."""
        from ..callbacks import BackupAndRestore, CSVLogger, ModelCheckpoint

        callbacks = list(callbacks or [])
        out = []
        for cb in callbacks:
            if isinstance(cb, BackupAndRestore):
                out.append(self._share_backup(cb))
            elif self.is_root or not isinstance(cb, (ModelCheckpoint, CSVLogger)):
                out.append(cb)
        return out

    def _share_backup(self, cb):
        """Rank 0's BackupAndRestore as it is; elsewhere, one reading a copy of its backup."""
        from ..callbacks import BackupAndRestore

        data = None
        if self.is_root:
            try:
                with open(cb.backup_path, "rb") as f:
                    data = f.read()
            except FileNotFoundError:
                data = b""
        data = self.comm.bcast_bytes(data, 0, "Bcast (the BackupAndRestore backup)")
        if self.is_root:
            return cb
        folder = tempfile.mkdtemp(prefix=f"filterbank-rank{self.rank}-backup-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        follower = BackupAndRestore(
            folder, save_freq=cb.save_freq, delete_checkpoint=cb.delete_checkpoint
        )
        if data:
            with open(follower.backup_path, "wb") as f:
                f.write(data)
        return follower

    def permutation(self, rng, n: int) -> np.ndarray:
        """The epoch's order: the common one, or (shards) this rank's shard's own."""
        if self.mode == "full":
            return rng.permutation(n)
        seed = int(rng.integers(2**63))  # the same draw on every rank keeps rng in step
        return np.random.default_rng([seed, self.rank]).permutation(n)

    def batch_index(self, step: int, perm, n: int, batch_size: int):
        """This rank's samples of step ``step``."""
        b = batch_size if self._local_batch is None else self._local_batch
        start = min(step * b, n)
        stop = min(start + b, n)
        idx = slice(start, stop) if perm is None else perm[start:stop]
        self.comm.where = f"step {step}"
        whole = idx
        if self._local_batch is None:
            idx = local_part(idx, self.size, self.rank)
        # No sample for this rank (a last batch smaller than the number of ranks, or a used-up
        # shard): it still has to join the step's collectives (batch norm's among them), so it
        # computes one stand-in sample that counts for nothing.
        self.batch_stats.phantom = _length(idx) == 0
        if self.batch_stats.phantom:
            if _length(whole) == 0:
                idx = slice(0, 1)
            elif isinstance(whole, slice):
                idx = slice(whole.start, whole.start + 1)
            else:
                idx = whole[:1]
        return idx

    # ---- one training step -----------------------------------------------------------------
    def begin_step(self, model) -> None:
        self._install(model)  # for train_on_batch loops that never called fit
        self._before = [_get(o) for o in _tracked(model.compiled_state, with_total=False)]
        if self.rank_streams:
            # The call count, not ``iterations``: with gradient accumulation that repeats.
            opt = model.optimizer
            iterations = int(getattr(opt, "_iterations", getattr(opt, "iterations", 0)))
            self._saved_rng = backend.swap_rng(self.step_generator(iterations))

    def step_generator(self, iterations: int) -> np.random.Generator:
        """This rank's generator for optimizer step ``iterations``: seeded from the common
        generator's state (not advancing it), the step and the rank, so it differs between
        ranks and steps, and a resumed run draws the same numbers again."""
        state = json.dumps(backend.get_rng_state(), sort_keys=True).encode()
        key = int.from_bytes(hashlib.blake2b(state, digest_size=16).digest(), "little")
        seq = np.random.SeedSequence(key, spawn_key=(int(iterations), self.rank))
        return np.random.Generator(np.random.PCG64(seq))

    def end_backward(self, model, total: float, batch: int) -> tuple[float, int]:
        """One Allreduce; leaves the global batch's gradients in every layer's ``grads``."""
        if self._saved_rng is not None:
            backend.swap_rng(self._saved_rng)
            self._saved_rng = None
        slots = [(layer, name) for layer in model.layers for name in layer.trainable_param_names()]
        grads = [layer.grads[name] for layer, name in slots]
        tracked = _tracked(model.compiled_state, with_total=False)
        fused = self._fused_buffer(grads, 2 + 2 * len(tracked))
        phantom = self.batch_stats.phantom
        self.batch_stats.phantom = False
        if phantom:  # the stand-in sample of batch_index: contributes nothing
            fused.buffer[...] = 0
        else:
            fused.pack(grads, scale=batch)
            tail = fused.tail
            tail[0], tail[1] = total * batch, batch
            for i, (obj, (t0, c0)) in enumerate(zip(tracked, self._before)):
                t1, c1 = _get(obj)
                tail[2 + 2 * i], tail[3 + 2 * i] = t1 - t0, c1 - c0
        tail = fused.tail
        start = time.perf_counter()
        self.comm.allreduce_(fused.buffer, "Allreduce (gradients)")
        self.stats.allreduce_seconds += time.perf_counter() - start
        self.stats.bytes += fused.nbytes
        self.stats.steps += 1
        n = float(tail[1])
        for (layer, name), view in zip(slots, fused.views()):
            layer.grads[name] = (view / n).astype(layer.params[name].dtype, copy=False)
        for i, (obj, (t0, c0)) in enumerate(zip(tracked, self._before)):
            _set(obj, t0 + float(tail[2 + 2 * i]), c0 + float(tail[3 + 2 * i]))
        self._step += 1
        return float(tail[0]) / n, int(round(n))

    def _fused_buffer(self, grads, extra: int) -> FusedBuffer:
        dtype = np.result_type(*grads) if grads else np.float64
        key = ([g.shape for g in grads], dtype, extra)
        if self._fused is None or self._fused[0] != key:
            self._fused = (key, FusedBuffer([g.shape for g in grads], extra, dtype))
        return self._fused[1]

    # ---- evaluation ------------------------------------------------------------------------
    def begin_eval(self, model, xs, ys, sws):
        """A function giving this rank's part of a batch index (None: shards, use all)."""
        mode, _ = self._data_mode(xs, ys, sws, "evaluate")
        if mode == "shards":
            return lambda idx: idx if _length(idx) else None

        def local(idx):
            part = local_part(idx, self.size, self.rank)
            return part if _length(part) else None

        return local

    def end_eval(self, model) -> None:
        tracked = _tracked(model.compiled_state, with_total=True)
        buf = np.array([v for obj in tracked for v in _get(obj)], dtype=np.float64)
        self.comm.allreduce_(buf, "Allreduce (evaluation totals)")
        for i, obj in enumerate(tracked):
            _set(obj, buf[2 * i], buf[2 * i + 1])

    # ---- checks and synchronisation ---------------------------------------------------------
    def _gather_json(self, value, what: str) -> list:
        blobs = self.comm.allgather_bytes(json.dumps(value).encode(), what)
        return [json.loads(b.decode()) for b in blobs]

    def _check_model(self, model) -> None:
        for spec in model.compiled_state.outputs:
            reduction = getattr(spec.loss, "reduction", "sum_over_batch_size")
            if spec.loss is not None and reduction not in _MEAN_REDUCTIONS:
                raise ValueError(
                    f"filterbank.distributed: loss {getattr(spec.loss, 'name', spec.loss)!r} has "
                    f"reduction={reduction!r}; data-parallel training weights each rank's "
                    "gradient by its share of the batch, which is exact for losses that are a "
                    "mean over the batch. Use reduction='sum_over_batch_size' (the default)."
                )
        for obj in _tracked(model.compiled_state, with_total=True):
            inner = _inner(obj)
            if inner is not None and not (hasattr(inner, "total") and hasattr(inner, "count")):
                raise ValueError(
                    f"metric {getattr(obj, 'name', obj)!r} keeps no total and count, so it cannot "
                    "be summed over the ranks. Use a metric built on filterbank.metrics.Mean "
                    "(all built-in metrics are)."
                )
        layers = [
            [
                type(layer).__name__,
                [[n, list(a.shape), str(a.dtype)] for n, a in layer.params.items()],
                sorted(layer.trainable_param_names()),
            ]
            for layer in model.layers
        ]
        described = {
            "layers": layers,
            "optimizer": type(getattr(model, "optimizer", None)).__name__,
        }
        everyone = self._gather_json(described, "Allgather (model check)")
        for r, other in enumerate(everyone):
            if other == everyone[0]:
                continue
            mine, theirs = everyone[0], other
            detail = f"optimizer {mine['optimizer']} on rank 0, {theirs['optimizer']} on rank {r}"
            if len(mine["layers"]) != len(theirs["layers"]):
                detail = (
                    f"{len(mine['layers'])} layers on rank 0, {len(theirs['layers'])} on rank {r}"
                )
            else:
                for i, (a, b) in enumerate(zip(mine["layers"], theirs["layers"])):
                    if a != b:
                        detail = (
                            f"layer {i} is {a[0]} with weights {_weights(a)} on rank 0 but "
                            f"{b[0]} with weights {_weights(b)} on rank {r}"
                        )
                        break
            raise ValueError(
                f"filterbank.distributed: the model on rank {r} differs from rank 0's: {detail}. "
                "Every rank must build (or load) the same model and compile it the same way; "
                "rank 0's weights and optimizer state are then sent to all."
            )

    def _data_mode(self, xs, ys, sws, where: str):
        arrays = list(xs) + list(ys) + list(sws)
        everyone = self._gather_json(_fingerprint(arrays), f"Allgather ({where} data check)")
        first = everyone[0]
        for r, other in enumerate(everyone):
            if other["arrays"] != first["arrays"]:
                raise ValueError(
                    f"filterbank.distributed: {where}() got data of other shapes on rank {r} "
                    f"than on rank 0: {_describe(other)} vs {_describe(first)} (per sample). "
                    "Every rank must pass the same arrays (or its own shard of them)."
                )
        counts = [e["n"] for e in everyone]
        same = all(e["digest"] == first["digest"] and e["n"] == first["n"] for e in everyone)
        return ("full" if same else "shards"), counts

    def broadcast_state(self, model) -> None:
        """Rank 0's weights, optimizer state and generator state on every rank.

        ``fit`` does this at its start; a loop of ``train_on_batch`` calls it once first
        (:func:`filterbank.distributed.broadcast`)."""
        params = [a for layer in model.layers for a in layer.params.values()]
        if params:
            fused = FusedBuffer([a.shape for a in params], 0, np.result_type(*params))
            if self.is_root:
                fused.pack(params)
            self.comm.bcast_(fused.buffer, 0, "Bcast (weights)")
            fused.unpack(params)
            weights_changed()
        optimizer = getattr(model, "optimizer", None)
        data = None
        if self.is_root:
            blob = io.BytesIO()
            np.savez(blob, **(optimizer.get_state() if optimizer is not None else {}))
            state = {"rng": backend.get_rng_state()}
            data = json.dumps(state).encode() + b"\n" + blob.getvalue()
        data = self.comm.bcast_bytes(data, 0, "Bcast (optimizer and generator state)")
        if not self.is_root:
            head, _, arrays = data.partition(b"\n")
            backend.set_rng_state(json.loads(head.decode())["rng"])
            if optimizer is not None:
                with np.load(io.BytesIO(arrays), allow_pickle=False) as f:
                    optimizer.set_state({k: f[k] for k in f.files})


def _length(idx) -> int:
    return max(idx.stop - idx.start, 0) if isinstance(idx, slice) else len(idx)


def _weights(layer_desc) -> str:
    return ", ".join(f"{n} {tuple(s)}" for n, s, _ in layer_desc[1]) or "none"


def _describe(fp) -> str:
    return ", ".join("None" if a is None else f"{tuple(a[0])} {a[1]}" for a in fp["arrays"])


__all__ = ["DataParallel"]
