"""Keras-style progress output for ``fit`` / ``evaluate`` / ``predict``.

The layout follows Keras (``verbose`` as in ``model.fit``):

* ``verbose=1`` on a terminal: one live bar, redrawn in place (drawing is done by tqdm)::

      123/938 [===>..........................] - ETA: 2s - loss: 0.3120 - accuracy: 0.9011

  and once the epoch ends the same line becomes::

      938/938 [==============================] - 3s 3ms/step - loss: 0.1644 - accuracy: 0.9490

* ``verbose=1`` when the stream is not a terminal (CI logs, files, pipes) or when tqdm is not
  installed: only the finished line above, exactly once per epoch, never a redraw.
* ``verbose=2``: exactly one line per epoch: ``938/938 - 3s - 3ms/step - loss: 0.1644``.
* ``verbose=0``: silent.

tqdm (the optional ``filterbank[io]`` extra) is imported only when a live bar is drawn, never
at ``import filterbank``.

Example:
    >>> import io
    >>> out = io.StringIO()
    >>> bar = Progbar(target=3, verbose=2, stream=out)
    >>> for step in range(1, 4):
    ...     bar.update(step, [("loss", 0.5)])
    >>> out.getvalue().startswith("3/3 - 0s - ")
    True
"""

from __future__ import annotations

import math
import shutil
import sys
import time
import weakref

import numpy as np

# One clock for all timings; tests replace it to get exact, machine-independent lines.
_now = time.monotonic

# Progress bars whose live (tqdm) line is on screen now, so print_msg can write around them.
_LIVE_BARS: weakref.WeakSet = weakref.WeakSet()

_TQDM_SUBCLASS = None
_HUGE = 1 << 20  # "no limit" for tqdm's own width / height handling


def _tqdm_class():
    """The tqdm class used to draw live lines, or None when tqdm is not installed."""
    global _TQDM_SUBCLASS
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    if _TQDM_SUBCLASS is None or _TQDM_SUBCLASS.__bases__[0] is not tqdm:

        class _KerasLine(tqdm):
            # We decide when to redraw; tqdm's monitor thread would only add a thread per run.
            monitor_interval = 0

        _TQDM_SUBCLASS = _KerasLine
    return _TQDM_SUBCLASS


def _is_interactive(stream) -> bool:
    """True when ``stream`` can redraw a line in place (a terminal or a Jupyter kernel)."""
    try:
        if stream.isatty():
            return True
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed file
        pass
    # Jupyter's stdout is not a tty, but it renders "\r" redraws correctly.
    return "ipykernel" in sys.modules and stream in (sys.stdout, sys.stderr)


def format_time_per_unit(seconds: float, unit_name: str = "step") -> str:
    """Render a duration per unit as Keras does: ``"2s/step"``, ``"3ms/step"``, ``"45us/step"``.

    Example:
        >>> format_time_per_unit(0.0031)
        '3ms/step'
    """
    if seconds >= 1 or seconds == 0:
        return f"{seconds:.0f}s/{unit_name}"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/{unit_name}"
    return f"{seconds * 1e6:.0f}us/{unit_name}"


def format_eta(seconds: float) -> str:
    """Render a remaining time as Keras does: ``"42s"``, ``"1:05"``, ``"1:00:05"``.

    Example:
        >>> format_eta(65.2)
        '1:05'
    """
    s = int(seconds)  # truncated, as Keras's "%d"
    if seconds > 3600:
        return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
    if seconds > 60:
        return f"{s // 60}:{s % 60:02d}"
    return f"{s}s"


def format_value(value) -> str:
    """Render one metric value: 4 decimals, or scientific notation when ``|v| <= 1e-3``.

    Example:
        >>> format_value(0.16443), format_value(2e-5)
        ('0.1644', '2.0000e-05')
    """
    if np.ndim(value) != 0:
        return str(value)
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    return f"{v:.4f}" if abs(v) > 1e-3 else f"{v:.4e}"


def print_msg(message: str, stream=None) -> None:
    """Print one message line (``stream`` defaults to ``sys.stdout``).

    While a live bar is drawn on that stream the message goes above it (tqdm clears the bar,
    prints, and redraws it), so callback messages never tear a progress line apart.
    """
    stream = sys.stdout if stream is None else stream
    for bar in list(_LIVE_BARS):
        if bar._live is not None and bar.stream is stream:
            bar._live.write(message, file=stream)
            return
    stream.write(message + "\n")
    stream.flush()


class Progbar:
    """A progress bar with the Keras layout (see the module docstring for the three forms).

    Args:
        target: total number of steps, or None when unknown (shown as ``"  12/Unknown"``).
        width: number of characters inside the ``[...]`` bar (Keras 2 used 30).
        verbose: 0 (silent), 1 (live bar on a terminal, final line otherwise), 2 (one line at
            the end), or ``"auto"`` (= 1).
        interval: minimum seconds between two redraws of a live bar.
        stateful_metrics: names shown as given; the other values are averaged over steps,
            weighted by the number of steps each update covers (as ``keras.utils.Progbar``).
        unit_name: the unit in the time per unit field (``"3ms/step"``).
        stream: text stream to write to (default: ``sys.stdout`` at construction).

    Example:
        >>> import io
        >>> out = io.StringIO()
        >>> bar = Progbar(2, verbose=1, stream=out, stateful_metrics=["loss"])
        >>> bar.update(1, [("loss", 0.9)]); bar.update(2, [("loss", 0.7)])
        >>> out.getvalue().splitlines()[0][:38]
        '2/2 [==============================] -'
    """

    def __init__(
        self,
        target,
        width=30,
        verbose=1,
        interval=0.05,
        stateful_metrics=None,
        unit_name="step",
        stream=None,
    ):
        if verbose == "auto":
            verbose = 1
        if verbose not in (0, 1, 2) or isinstance(verbose, bool):
            raise ValueError(
                f"Progbar argument 'verbose' expects 0, 1, 2 or 'auto', got {verbose!r}. "
                "Use 0 for silence, 1 for a live bar, 2 for one line per epoch."
            )
        if target is not None and target < 0:
            raise ValueError(
                f"Progbar argument 'target' expects None or a count >= 0, got {target}."
            )
        self.target = target
        self.width = int(width)
        self.verbose = verbose
        self.interval = float(interval)
        self.unit_name = unit_name
        self.stateful_metrics = set(stateful_metrics or ())
        self.stream = sys.stdout if stream is None else stream
        self._values: dict[str, list] = {}  # name -> [weighted sum, weight]
        self._values_order: list[str] = []
        self._seen_so_far = 0
        self._start = _now()
        self._last_draw = None
        self._time_after_first_step = None
        self._live = None  # the tqdm instance while a live line is on screen
        self._dynamic = verbose == 1 and _is_interactive(self.stream) and _tqdm_class() is not None

    # ---------------------------------------------------------------- public
    def update(self, current, values=None, finalize=None):
        """Move the bar to step ``current`` (1-based) and record ``values``.

        Args:
            current: number of steps done so far.
            values: list of ``(name, value)`` pairs for the last step(s).
            finalize: True writes the final line; default ``current >= target``.
        """
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        self._record(current, values or [], finalize)
        now = _now()
        time_per_unit = self._step_duration(current, now)
        if self.verbose == 0:
            return
        if not finalize:
            if not self._dynamic:
                return  # non-interactive output: only the finished line, once
            if self._last_draw is not None and now - self._last_draw < self.interval:
                return
            self._draw(self._fit_width(self._line_v1(current, now, time_per_unit, False)))
            self._last_draw = now
            return
        if self.verbose == 1:
            line = self._line_v1(current, now, time_per_unit, True)
        else:
            line = self._line_v2(current, now, time_per_unit)
        if self._live is not None:
            self._live.set_description_str(line, refresh=False)
            self._live.n = current
            self._live.close()  # leave=True: draws the final line and ends it with "\n"
            self._live = None
            _LIVE_BARS.discard(self)
        else:
            self.stream.write(line + "\n")
            self.stream.flush()
        self._last_draw = now

    def add(self, n, values=None):
        """Advance by ``n`` steps (``update(seen + n, values)``)."""
        self.update(self._seen_so_far + n, values)

    def close(self):
        """Drop a live line left unfinished (e.g. after an exception); the text stays."""
        if self._live is not None:
            self._live.close()
            self._live = None
            _LIVE_BARS.discard(self)

    # ---------------------------------------------------------------- internals
    def _record(self, current, values, finalize):
        for name, value in values:
            if name not in self._values_order:
                self._values_order.append(name)
            if name in self.stateful_metrics or finalize or np.ndim(value) != 0:
                self._values[name] = [value, 1]
                continue
            weight = max(current - self._seen_so_far, 1)
            total = self._values.get(name)
            if total is None:
                self._values[name] = [value * weight, weight]
            else:
                total[0] += value * weight
                total[1] += weight
        self._seen_so_far = current

    def _step_duration(self, current, now):
        # Like Keras: the first step (often slow: allocations, warm caches) is left out of the
        # per-step time once later steps exist.
        if not current:
            return 0.0
        if self._time_after_first_step is not None and current > 1:
            per_unit = (now - self._time_after_first_step) / (current - 1)
        else:
            per_unit = (now - self._start) / current
        if current == 1:
            self._time_after_first_step = now
        return per_unit

    def _metrics_text(self):
        parts = []
        for name in self._values_order:
            total, weight = self._values[name]
            value = total / max(weight, 1) if np.ndim(total) == 0 else total
            parts.append(f" - {name}: {format_value(value)}")
        return "".join(parts)

    def _count_text(self, current):
        digits = int(math.log10(self.target)) + 1
        return f"{current:{digits}d}/{self.target}"

    def _line_v1(self, current, now, time_per_unit, finalize):
        if self.target:
            prog_width = min(int(self.width * current / self.target), self.width)
            bar = self._count_text(current) + " ["
            if prog_width > 0:
                bar += "=" * (prog_width - 1) + (">" if current < self.target else "=")
            bar += "." * (self.width - prog_width) + "]"
        else:
            bar = f"{current:7d}/Unknown"
        if finalize or not self.target:
            per_step = format_time_per_unit(time_per_unit, self.unit_name)
            info = f" - {now - self._start:.0f}s {per_step}"
        else:
            info = f" - ETA: {format_eta(time_per_unit * (self.target - current))}"
        return bar + info + self._metrics_text()

    def _line_v2(self, current, now, time_per_unit):
        count = self._count_text(current) if self.target else f"{current}/Unknown"
        return (
            f"{count} - {now - self._start:.0f}s - "
            f"{format_time_per_unit(time_per_unit, self.unit_name)}{self._metrics_text()}"
        )

    def _fit_width(self, line):
        # A redrawn line longer than the terminal wraps and "\r" can no longer erase it.
        columns = shutil.get_terminal_size(fallback=(100, 24)).columns
        return line if len(line) < columns else line[: max(columns - 4, 10)] + "..."

    def _draw(self, line):
        if self._live is None:
            cls = _tqdm_class()
            # bar_format="{desc}": tqdm draws our Keras line verbatim (it handles "\r",
            # erasing a longer previous line, and messages printed around the bar). The line
            # width is ours (_fit_width); tqdm must not query the terminal itself: a pty
            # reporting 0x0 (CI runners, `script`) made it trim or hide the line entirely.
            self._live = cls(
                total=self.target,
                initial=self._seen_so_far,
                file=self.stream,
                desc=line,
                bar_format="{desc}",
                leave=True,
                mininterval=0,
                delay=0,
                disable=False,
                dynamic_ncols=False,
                ncols=_HUGE,
                nrows=_HUGE,
            )
            _LIVE_BARS.add(self)
            return
        self._live.set_description_str(line, refresh=False)
        self._live.n = self._seen_so_far
        self._live.refresh()


__all__ = ["Progbar", "print_msg", "format_time_per_unit", "format_eta", "format_value"]
