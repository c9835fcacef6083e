"""Progress output: Keras layouts for verbose 0/1/2, terminal vs. non-terminal streams."""

import io
import os
import re
import sys

import pytest

from filterbank import callbacks, progbar
from filterbank.progbar import Progbar, format_eta, format_time_per_unit, format_value
from tests.callback_fakes import FakeModel


class FakeTTY(io.StringIO):
    def isatty(self):
        return True


class Clock:
    """Replaces progbar._now: time only moves when the test says so."""

    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


@pytest.fixture
def clock(monkeypatch):
    c = Clock()
    monkeypatch.setattr(progbar, "_now", c)
    return c


FULL = "[" + "=" * 30 + "]"


# ----------------------------------------------------------------- formatting helpers
@pytest.mark.parametrize(
    "seconds, text",
    [
        (0, "0s/step"),
        (2.4, "2s/step"),
        (1.0, "1s/step"),
        (0.0031, "3ms/step"),
        (0.001, "1ms/step"),
        (0.000999, "999us/step"),
        (4.5e-5, "45us/step"),
    ],
)
def test_format_time_per_unit(seconds, text):
    assert format_time_per_unit(seconds) == text


def test_format_time_per_unit_other_unit():
    assert format_time_per_unit(0.25, "sample") == "250ms/sample"


@pytest.mark.parametrize(
    "seconds, text",
    [
        (0.4, "0s"),
        (59.9, "59s"),
        (61, "1:01"),
        (3599, "59:59"),
        (3725, "1:02:05"),
    ],
)
def test_format_eta(seconds, text):
    assert format_eta(seconds) == text


@pytest.mark.parametrize(
    "value, text",
    [
        (0.16443, "0.1644"),
        (12.5, "12.5000"),
        (-0.5, "-0.5000"),
        (2e-5, "2.0000e-05"),
        (0.0, "0.0000e+00"),
        (float("nan"), "nan"),
        (float("inf"), "inf"),
        ("x", "x"),
    ],
)
def test_format_value(value, text):
    assert format_value(value) == text


# ----------------------------------------------------------------- Progbar alone
def run_bar(clock, stream, verbose, steps=5, first=0.2, per_step=0.003, values=None):
    """Steps 1..5 with loss 1/i; the last update finalizes and its values are shown as is."""
    bar = Progbar(steps, verbose=verbose, stream=stream)
    for i in range(1, steps + 1):
        clock.t += first if i == 1 else per_step
        bar.update(i, values(i) if values else [("loss", 1.0 / i)])
    return bar


def test_verbose1_non_tty_one_final_line(clock):
    out = io.StringIO()
    run_bar(clock, out, 1)
    # the first (slow) step is left out of the time per step: (0.212 - 0.2) / 4 = 3 ms
    assert out.getvalue() == f"5/5 {FULL} - 0s 3ms/step - loss: 0.2000\n"


def test_verbose2_one_line(clock):
    out = io.StringIO()
    run_bar(clock, out, 2)
    assert out.getvalue() == "5/5 - 0s - 3ms/step - loss: 0.2000\n"


def test_verbose2_also_on_a_tty(clock):
    out = FakeTTY()
    run_bar(clock, out, 2)
    assert out.getvalue() == "5/5 - 0s - 3ms/step - loss: 0.2000\n"


@pytest.mark.parametrize("stream", [io.StringIO, FakeTTY])
def test_verbose0_silent(clock, stream):
    out = stream()
    run_bar(clock, out, 0)
    assert out.getvalue() == ""


def test_verbose_auto_is_1_and_bad_verbose(clock):
    assert Progbar(3, verbose="auto").verbose == 1
    with pytest.raises(ValueError, match="'verbose' expects 0, 1, 2 or 'auto', got 3"):
        Progbar(3, verbose=3)


def test_stateless_values_are_averaged_stateful_shown_as_is(clock):
    out = io.StringIO()
    bar = Progbar(4, verbose=1, stream=out, stateful_metrics=["acc"])
    bar.update(1, [("loss", 4.0), ("acc", 0.1)])
    bar.update(3, [("loss", 1.0), ("acc", 0.3)])  # covers 2 steps: weight 2
    bar.update(4, [("loss", 9.0), ("acc", 0.4)], finalize=False)
    bar.update(4, finalize=True)
    # loss: (4*1 + 1*2 + 9*1) / 4 = 3.75 ; acc: last value
    assert out.getvalue().endswith(" - loss: 3.7500 - acc: 0.4000\n")
    out2 = io.StringIO()
    bar = Progbar(2, verbose=2, stream=out2)
    bar.add(1, [("loss", 1.0)])
    bar.add(1, [("loss", 3.0)])
    assert out2.getvalue().endswith(" - loss: 3.0000\n")  # finalize shows the final values


def test_unknown_target(clock):
    out = io.StringIO()
    bar = Progbar(None, verbose=1, stream=out)
    for i in range(1, 4):
        clock.t += 0.01
        bar.update(i, [("loss", 0.5)], finalize=i == 3)
    assert out.getvalue() == "      3/Unknown - 0s 10ms/step - loss: 0.5000\n"


def test_bar_drawing_mid_epoch_on_tty(clock):
    out = FakeTTY()
    bar = Progbar(5, verbose=1, stream=out, interval=0)
    clock.t += 0.5
    bar.update(1, [("loss", 1.0)])
    text = out.getvalue()
    # 1/5: int(30 * 0.2) = 6 cells: 5 "=" and the ">" head; ETA = 0.5 s * 4 = 2 s
    assert text == "\r1/5 [=====>" + "." * 24 + "] - ETA: 2s - loss: 1.0000"
    bar.close()


def test_tty_live_redraws_then_exact_final_line(clock):
    out = FakeTTY()
    bar = Progbar(5, verbose=1, stream=out, interval=0)
    for i in range(1, 6):
        clock.t += 0.2 if i == 1 else 0.003
        bar.update(i, [("loss", 1.0 / i)], finalize=False)
    bar.update(5, [("loss", 0.4567)], finalize=True)
    text = out.getvalue()
    assert "tqdm" in sys.modules  # the live bar is drawn by tqdm
    frames = text.split("\r")
    assert len(frames) >= 6  # a redraw per step, then the final frame
    assert frames[1].startswith("1/5 [=====>") and "ETA:" in frames[1]
    assert frames[4] == "4/5 [" + "=" * 23 + ">......] - ETA: 0s - loss: 0.5208"
    assert frames[-1] == f"5/5 {FULL} - 0s 3ms/step - loss: 0.4567\n"
    assert text.count("\n") == 1


def test_tty_redraws_are_throttled(clock):
    out = FakeTTY()
    bar = Progbar(100, verbose=1, stream=out, interval=0.05)
    for i in range(1, 101):
        clock.t += 0.01  # 100 steps in 1 s -> about 20 redraws at 0.05 s
        bar.update(i, [("loss", 1.0)])
    frames = out.getvalue().split("\r")
    assert 15 <= len(frames) <= 25
    assert frames[-1].startswith("100/100 " + FULL) and frames[-1].endswith("\n")


def test_tty_long_redraw_is_cut_to_terminal_width(clock, monkeypatch):
    monkeypatch.setattr(
        progbar.shutil, "get_terminal_size", lambda fallback=None: os.terminal_size((60, 24))
    )
    out = FakeTTY()
    bar = Progbar(5, verbose=1, stream=out, interval=0)
    names = [f"metric_{k}" for k in range(6)]
    clock.t += 0.1
    bar.update(1, [(n, 0.5) for n in names])
    frame = out.getvalue().split("\r")[-1]
    assert len(frame) < 60 and frame.endswith("...")
    bar.update(5, [(n, 0.5) for n in names])  # the final line is never cut
    assert out.getvalue().split("\r")[-1].rstrip("\n").endswith("metric_5: 0.5000")


def test_without_tqdm_a_tty_gets_plain_lines(clock, monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # "import tqdm" now raises ImportError
    out = FakeTTY()
    run_bar(clock, out, 1)
    assert out.getvalue() == f"5/5 {FULL} - 0s 3ms/step - loss: 0.2000\n"


def test_print_msg_goes_above_a_live_bar(clock):
    out = FakeTTY()
    bar = Progbar(3, verbose=1, stream=out, interval=0)
    clock.t += 0.1
    bar.update(1, [("loss", 1.0)])
    progbar.print_msg("Epoch 1: something happened", out)
    clock.t += 0.1
    bar.update(3, [("loss", 0.5)])
    lines = out.getvalue().split("\n")
    assert "Epoch 1: something happened" in [seg.split("\r")[-1] for seg in lines]
    assert lines[-2].split("\r")[-1].startswith("3/3 " + FULL)
    plain = io.StringIO()
    progbar.print_msg("hello", plain)
    assert plain.getvalue() == "hello\n"


# ----------------------------------------------------------------- ProgbarLogger in a fit
def fake_fit(stream, verbose, epochs=3, steps=4, clock=None, stop_at=None):
    """Drive CallbackList as fit would, with a validation pass inside each epoch."""
    cl = callbacks.CallbackList(
        [callbacks.ProgbarLogger(stream=stream)],
        add_history=True,
        model=FakeModel(),
        verbose=verbose,
        epochs=epochs,
        steps=steps,
    )
    cl.on_train_begin()
    for epoch in range(epochs):
        cl.on_epoch_begin(epoch)
        for b in range(steps):
            if clock:
                clock.t += 0.2 if b == 0 else 0.003
            cl.on_train_batch_begin(b)
            cl.on_train_batch_end(b, {"loss": 1.0 / (b + 1), "accuracy": 0.25 * b})
            if stop_at == (epoch, b):
                break
        cl.on_test_begin()  # validation: silent inside fit
        cl.on_test_batch_end(0, {"loss": 9.0})
        cl.on_test_end({"loss": 0.5})
        cl.on_epoch_end(
            epoch, {"loss": 0.5, "accuracy": 0.75, "val_loss": 0.625, "val_accuracy": 0.6875}
        )
        if stop_at and stop_at[0] == epoch:
            break
    cl.on_train_end()


LINE1 = (
    f"4/4 {FULL} - 0s 3ms/step - loss: 0.5000 - accuracy: 0.7500 - val_loss: 0.6250"
    " - val_accuracy: 0.6875"
)
LINE2 = (
    "4/4 - 0s - 3ms/step - loss: 0.5000 - accuracy: 0.7500 - val_loss: 0.6250"
    " - val_accuracy: 0.6875"
)


@pytest.mark.parametrize("verbose, line", [(1, LINE1), ("auto", LINE1), (2, LINE2)])
def test_fit_non_tty_exactly_one_line_per_epoch(clock, verbose, line):
    out = io.StringIO()
    fake_fit(out, verbose, clock=clock)
    assert out.getvalue().splitlines() == ["Epoch 1/3", line, "Epoch 2/3", line, "Epoch 3/3", line]
    assert "\r" not in out.getvalue()


def test_fit_verbose0_silent(clock):
    out = io.StringIO()
    fake_fit(out, 0, clock=clock)
    assert out.getvalue() == ""


def test_fit_single_epoch_has_no_header(clock):
    out = io.StringIO()
    fake_fit(out, 2, epochs=1, clock=clock)
    assert out.getvalue() == LINE2 + "\n"


def test_fit_tty_live_bar_per_epoch(clock):
    out = FakeTTY()
    fake_fit(out, 1, clock=clock)
    text = out.getvalue()
    lines = text.split("\n")
    assert lines[-1] == ""
    assert [seg.split("\r")[-1] for seg in lines[:-1]] == [
        "Epoch 1/3",
        LINE1,
        "Epoch 2/3",
        LINE1,
        "Epoch 3/3",
        LINE1,
    ]
    assert text.count("\r") >= 6  # redrawn during every epoch
    assert "ETA:" in text and "loss: 9.0000" not in text  # validation batches are not shown


def test_fit_stopped_mid_epoch_shows_how_far(clock):
    out = io.StringIO()
    fake_fit(out, 1, steps=10, clock=clock, stop_at=(0, 3))
    first = out.getvalue().splitlines()[1]
    assert first.startswith(" 4/10 [" + "=" * 11 + ">" + "." * 18 + "] - 0s 3ms/step")


def test_fit_real_clock_layout():
    # No fake clock: the numbers vary, the layout does not.
    out = io.StringIO()
    fake_fit(out, 1)
    pattern = (
        r"4/4 \[=+\] - \d+s \d+(s|ms|us)/step - loss: 0\.5000 - accuracy: 0\.7500"
        r" - val_loss: 0\.6250 - val_accuracy: 0\.6875"
    )
    assert all(re.fullmatch(pattern, ln) for ln in out.getvalue().splitlines()[1::2])


def test_evaluate_one_line(clock):
    out = io.StringIO()
    cl = callbacks.CallbackList(
        [callbacks.ProgbarLogger(stream=out)], verbose=1, epochs=1, steps=3, model=FakeModel()
    )
    cl.on_test_begin()
    for b in range(3):
        clock.t += 0.002
        cl.on_test_batch_end(b, {"loss": 0.3, "accuracy": 0.9})
    cl.on_test_end({"loss": 0.25, "accuracy": 0.875})
    assert out.getvalue() == f"3/3 {FULL} - 0s 2ms/step - loss: 0.2500 - accuracy: 0.8750\n"


def test_predict_one_line_without_outputs(clock):
    out = io.StringIO()
    cl = callbacks.CallbackList(
        [callbacks.ProgbarLogger(stream=out)], verbose=2, epochs=1, steps=None, model=FakeModel()
    )
    cl.on_predict_begin()
    for b in range(7):
        clock.t += 0.002
        cl.on_predict_batch_end(b, {"outputs": [[0.1, 0.9]]})
    cl.on_predict_end()
    assert out.getvalue() == "7/7 - 0s - 2ms/step\n"


def test_callback_messages_between_progress_lines(clock, capsys):
    es = callbacks.EarlyStopping(monitor="loss", patience=0, verbose=1)
    cl = callbacks.CallbackList(
        [es], add_progbar=True, model=FakeModel(), verbose=2, epochs=5, steps=1
    )
    cl.on_train_begin()
    for epoch, loss in enumerate([0.5, 0.7]):
        cl.on_epoch_begin(epoch)
        cl.on_train_batch_end(0, {"loss": loss})
        cl.on_epoch_end(epoch, {"loss": loss})
    cl.on_train_end()
    assert capsys.readouterr().out.splitlines() == [
        "Epoch 1/5",
        "1/1 - 0s - 0s/step - loss: 0.5000",
        "Epoch 2/5",
        "1/1 - 0s - 0s/step - loss: 0.7000",
        "Epoch 2: early stopping",
    ]


def test_tqdm_never_queries_the_terminal_size(clock, monkeypatch):
    # Regression: under a pty reporting 0x0 rows/columns (CI runners, `script`), tqdm's own
    # size query hid the live line entirely. Our width handling is the only one.
    import tqdm.std

    def boom():
        raise AssertionError("tqdm queried the terminal size")

    monkeypatch.setattr(tqdm.std, "_screen_shape_wrapper", boom)
    out = FakeTTY()
    monkeypatch.setattr(sys, "stdout", out)
    bar = Progbar(2, verbose=1, interval=0)  # stream defaults to sys.stdout
    clock.t += 0.1
    bar.update(1, [("loss", 1.0)])
    clock.t += 0.1
    bar.update(2, [("loss", 1.0)])
    assert out.getvalue().split("\r")[1].startswith("1/2 [" + "=" * 14 + ">" + "." * 15 + "]")
    assert out.getvalue().endswith(f"2/2 {FULL} - 0s 100ms/step - loss: 1.0000\n")
