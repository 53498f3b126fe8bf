"""The Leaks view's period controls write the model's period specs, as check takes them."""
from __future__ import annotations

import datetime as dt

import pytest

from leak_app import SessionModel
from leak_app.data.sources import DEFAULT_DATA
from leak_app.ui.period_controls import DATES, HALVES, ROLLING, PeriodControls


@pytest.fixture(scope="module")
def demo_model():
    return SessionModel.from_path(DEFAULT_DATA)


def test_each_mode_writes_the_periods_check_takes(demo_model):
    model = demo_model
    controls = PeriodControls(model=model)
    assert controls.mode.value == HALVES and not controls.current_days.visible
    halves = model.periods()
    controls.mode.value = DATES  # starts from the periods compared until now
    assert (model.current_period, model.baseline_period) == ("2026-09-18:2026-11-01", "2026-08-03:2026-09-16")
    assert model.periods() == halves and controls.current_dates.visible and not controls.current_days.visible
    controls.current_dates.value = (dt.date(2026, 10, 1), dt.date(2026, 10, 31))
    assert model.current_period == "2026-10-01:2026-10-31"
    assert "--current 2026-10-01:2026-10-31 --baseline 2026-08-03:2026-09-16" in controls.command.value
    controls.mode.value = ROLLING
    assert (model.current_period, model.baseline_period) == ("last-7d", "previous-28d")
    controls.baseline_days.value = 30
    assert model.baseline_period == "previous-30d" and controls.shown.object == (
        "Comparing **2026-10-26 to 2026-11-01 (7 days)** with the baseline **2026-09-28 to 2026-10-25 "
        "(28 days)**.")
    model.align_weekdays = False
    assert "2026-09-26 to 2026-10-25 (30 days)" in controls.shown.object
    assert controls.command.value.endswith("--current last-7d --baseline previous-30d --no-align")
    controls.mode.value = HALVES
    assert (model.current_period, model.baseline_period) == ("", "") and model.periods() == halves


def test_controls_open_on_the_models_periods():
    model = SessionModel.from_path(DEFAULT_DATA, current_period="last-14d", baseline_period="previous-56d")
    controls = PeriodControls(model=model)
    shown = (controls.mode.value, controls.current_days.value, controls.baseline_days.value)
    assert shown == (ROLLING, 14, 56)


def test_controls_open_on_the_models_dates():
    """A model comparing dates opened the controls in Dates mode with empty pickers."""
    model = SessionModel.from_path(DEFAULT_DATA, current_period="2026-10-01:2026-10-31",
                                   baseline_period="2026-09-01:2026-09-30")
    controls = PeriodControls(model=model)
    assert controls.mode.value == DATES and controls.current_dates.visible
    assert controls.current_dates.value == (dt.date(2026, 10, 1), dt.date(2026, 10, 31))
    assert controls.baseline_dates.value == (dt.date(2026, 9, 1), dt.date(2026, 9, 30))
    assert controls.current_dates.start == dt.date(2026, 8, 3)  # the data's first day


def test_other_data_gives_the_pickers_its_days(tmp_path):
    """An upload of other days: the pickers kept the first data's, so Dates failed on the new
    data's periods (out of their bounds) and none of its days could be picked. Dates it does not
    hold give way to the halves of its dates; dates it holds stay."""
    from leak_app.data.demo import generate_sessions

    path = tmp_path / "other_days.parquet"
    generate_sessions(4_000, seed=3, start="2024-01-01", days=30).to_parquet(path)
    model = SessionModel.from_path(DEFAULT_DATA, current_period="2026-10-01:2026-10-31",
                                   baseline_period="2026-09-01:2026-09-30")
    controls = PeriodControls(model=model)
    model.load(path)
    assert controls.mode.value == HALVES and (model.current_period, model.baseline_period) == ("", "")
    picker = controls.current_dates
    assert (picker.start, picker.end) == (dt.date(2024, 1, 1), dt.date(2024, 1, 30))
    controls.mode.value = DATES
    assert controls.current_dates.value == (dt.date(2024, 1, 16), dt.date(2024, 1, 30))
    assert model.current_period == "2024-01-16:2024-01-30"
    controls.current_dates.value = (dt.date(2024, 1, 20), dt.date(2024, 1, 30))
    model.load(path)  # the same days again: the dates picked stay
    assert controls.mode.value == DATES and model.current_period == "2024-01-20:2024-01-30"


def test_an_emptied_box_or_picker_shows_its_period_again(demo_model):
    """An emptied days box asked for 'last-Noned' (a ValueError said in the page); an emptied date
    picker compared the second half of the dates as the current period while it showed none. Each
    shows the period compared again, which stays."""
    model = demo_model
    controls = PeriodControls(model=model)
    controls.mode.value = DATES
    controls.current_dates.value = (dt.date(2026, 10, 1), dt.date(2026, 10, 31))
    compared = (model.current_period, model.baseline_period)
    for picker in (controls.current_dates, controls.baseline_dates):
        shown = picker.value
        picker.value = None
        assert picker.value == shown and (model.current_period, model.baseline_period) == compared
    controls.mode.value = ROLLING
    controls.baseline_days.value = 30
    for box, days in ((controls.current_days, 7), (controls.baseline_days, 30)):
        box.value = None
        assert box.value == days
        assert (model.current_period, model.baseline_period) == ("last-7d", "previous-30d")
    controls.mode.value = HALVES
