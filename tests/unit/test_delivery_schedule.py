"""Tests for when the periodic jobs run (``_delivery/schedule.py``)."""

from __future__ import annotations

from polybot_loghandler._delivery.schedule import Schedule


def test_a_job_first_runs_one_interval_after_it_is_known() -> None:
    schedule = Schedule()

    assert [] == schedule.due(0.0, {"watch": 1.0, "report": 3.0})
    assert [] == schedule.due(0.9, {"watch": 1.0, "report": 3.0})
    assert ["watch"] == schedule.due(1.0, {"watch": 1.0, "report": 3.0})
    assert [] == schedule.due(1.5, {"watch": 1.0, "report": 3.0})
    assert ["watch", "report"] == schedule.due(
        3.0, {"watch": 1.0, "report": 3.0}
    )


def test_a_late_look_runs_a_job_once_and_books_it_from_now() -> None:
    schedule = Schedule()
    schedule.due(0.0, {"watch": 1.0})

    assert ["watch"] == schedule.due(10.0, {"watch": 1.0})
    assert [] == schedule.due(10.5, {"watch": 1.0})
    assert ["watch"] == schedule.due(11.0, {"watch": 1.0})


def test_a_job_turned_off_is_forgotten_and_starts_afresh() -> None:
    schedule = Schedule()
    schedule.due(0.0, {"reload": 2.0})

    assert [] == schedule.due(5.0, {"reload": None})
    assert [] == schedule.due(6.0, {"reload": 2.0})  # booked for 8.0
    assert ["reload"] == schedule.due(8.0, {"reload": 2.0})


def test_the_wait_is_until_the_next_job() -> None:
    schedule = Schedule()
    assert 1.0 == schedule.wait(0.0, default=1.0)
    schedule.due(0.0, {"watch": 1.0, "report": 0.25})

    assert 0.25 == schedule.wait(0.0, default=5.0)
    assert 0.0 == schedule.wait(0.25, default=5.0)


def test_a_job_off_from_the_start_leaves_the_others_alone() -> None:
    schedule = Schedule()
    every = {"reload": None, "watch": 1.0}

    assert [] == schedule.due(0.0, every)
    assert ["watch"] == schedule.due(1.0, every)
    assert 1.0 == schedule.wait(1.0, default=5.0)
