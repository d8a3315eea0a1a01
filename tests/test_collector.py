"""The collector pause nests, survives exceptions, and leaves a collector that was off, off."""

from __future__ import annotations

import gc

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


def test_settle_runs_a_full_collection_but_not_inside_a_pause():
    """settle() collects every generation now; inside a pause it leaves the collector alone."""
    generations: list[int] = []

    def seen(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            generations.append(info["generation"])

    gc.callbacks.append(seen)
    try:
        with collector.paused():
            collector.settle()
        assert generations == []
        collector.settle()
        assert generations == [2]
    finally:
        gc.callbacks.remove(seen)


def test_settle_young_collects_the_young_and_middle_generations_but_not_inside_a_pause():
    generations: list[int] = []

    def seen(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            generations.append(info["generation"])

    gc.callbacks.append(seen)
    try:
        with collector.paused():
            collector.settle_young()
        assert generations == []
        collector.settle_young()
        assert generations == [1]
    finally:
        gc.callbacks.remove(seen)
