"""The collector pause nests, survives exceptions, and leaves a collector that was off, off."""

from __future__ import annotations

import gc
from collections.abc import Callable

import pytest

from reconciler import collector


def test_nested_pauses_switch_back_only_at_the_outermost():
    assert gc.isenabled()
    with collector.paused():
        assert not gc.isenabled()
        with collector.paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner one ending does not switch it back on
    assert gc.isenabled()


def test_an_exception_inside_still_switches_it_back():
    with pytest.raises(RuntimeError), collector.paused():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off():
    gc.disable()
    try:
        with collector.paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


@pytest.mark.parametrize(
    ("settle", "generation"),
    [(collector.settle, 2), (collector.settle_young, 1)],
    ids=["settle: every generation", "settle_young: the young and middle ones"],
)
def test_settling_collects_its_generations_now_but_not_inside_a_pause(
    settle: Callable[[], None], generation: int
):
    """Each settles the generations it names now; inside a pause it leaves the collector alone."""
    generations: list[int] = []

    def seen(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            generations.append(info["generation"])

    gc.callbacks.append(seen)
    try:
        with collector.paused():
            settle()
        assert generations == []
        settle()
        assert generations == [generation]
    finally:
        gc.callbacks.remove(seen)
