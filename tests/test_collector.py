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
