"""The cell settings' inputs: the cube of new settings is built off the event loop, then shown."""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import panel as pn
import pytest
from helpers import drawing_threads, held, settled

from leak_app import SessionModel
from leak_app.analysis import model as model_module
from leak_app.data.demo import generate_sessions
from leak_app.ui.settings_controls import CellSettingsControls


@pytest.fixture
def controls():
    return CellSettingsControls(model=SessionModel(sessions=generate_sessions(3_000, seed=4)))


def test_a_new_setting_is_built_off_the_event_loop_then_shown(controls, monkeypatch):
    """The audit's case: a setting change on a served 140 MB file rebuilt its cube on the event loop,
    blocking every page for 9.8 s. The model keeps its settings (and the page its numbers) until the
    new cube is built on the worker thread, while the loop goes on; then it takes them at once."""
    model = controls.model
    hold = held(monkeypatch, model_module, "build_cube",
                "the event loop was blocked while the cube was built")

    async def meanwhile():
        controls.asked.engaged_pageviews = 3
        await asyncio.sleep(0.05)  # runs only if the loop is free
        during = model.engaged_pageviews, controls.progress.row.visible
        hold.release.set()
        return during

    assert settled(meanwhile) == (5, True)
    expected = SessionModel(sessions=model.sessions, engaged_pageviews=3)
    assert model.engaged_pageviews == 3 and not controls.progress.row.visible
    assert model.funnel_table.equals(expected.funnel_table)


def test_a_setting_whose_cube_cannot_be_built_goes_back_and_is_said(controls, monkeypatch):
    """The failure (the served file deleted since, say) reaches Panel's exception handler, which the
    served app turns into a notice; the input shows the model's setting again, which never changed."""

    def gone(*args, **kwargs):
        raise OSError("served.parquet: no such file")

    said = []
    monkeypatch.setattr(model_module, "build_cube", gone)
    monkeypatch.setattr(pn.config, "exception_handler", said.append)
    before = controls.model.funnel_table
    settled(lambda: controls.asked.param.update(deep_pageviews=12))
    assert [str(e) for e in said] == ["served.parquet: no such file"]
    assert controls.asked.deep_pageviews == controls.model.deep_pageviews == 10
    assert controls.model.funnel_table is before


def test_the_inputs_follow_the_model(controls):
    """Settings the model takes otherwise (new data without e-commerce steps resets the funnel and
    its choices) show in the inputs, and do not come back to the model as a change."""
    model = controls.model
    model.engaged_pageviews = 4
    assert controls.asked.engaged_pageviews == 4
    assert controls.asked.param.funnel.objects == model.param.funnel.objects


def test_the_funnels_choice_is_named_and_says_why_pageviews_is_alone(controls):
    """A button group shows no name: the settings showed a lone "pageviews" button, unexplained.
    Its label names it and says why there is no other choice, until data with e-commerce steps
    offers one."""
    label, funnel = controls.widgets()[2:]
    assert isinstance(funnel, pn.widgets.RadioButtonGroup) and list(funnel.options) == ["pageviews"]
    assert label.object == "Funnel stages by (the data has no e-commerce steps)"
    controls.model.param.funnel.objects = ["pageviews", "ecommerce"]  # as new GA4 data offers them
    assert list(funnel.options) == ["pageviews", "ecommerce"] and label.object == "Funnel stages by"


def test_a_built_cube_is_at_hand_while_another_of_its_table_is_built(controls, monkeypatch):
    """A new page (on the event loop) asks for the cube every page of the table uses while the
    worker builds another one of the same table: it gets it at once, not after the build; a second
    build of the same table waits for the first (one DuckDB connection serves one thread at a time)."""
    model = controls.model
    hold = held(monkeypatch, model_module, "build_cube", "the first build was never released")
    with ThreadPoolExecutor(2) as threads:
        building = threads.submit(model.prepare, engaged_pageviews=2)
        assert hold.started.wait(10)
        at_hand = threads.submit(
            model_module.cube_of, model.sessions, model.load_report, model.cell_settings()
        )
        assert at_hand.result(timeout=5) is model.cube
        hold.started.clear()
        waiting = threads.submit(model.prepare, engaged_pageviews=3)
        assert not hold.started.wait(0.2)  # not begun while the first build runs
        hold.release.set()
        building.result(timeout=30), waiting.result(timeout=30)


def test_a_new_settings_plots_are_drawn_on_the_worker_and_only_copied_on_the_event_loop(monkeypatch):
    """As for an upload: the page's plots of the new settings (other stages) were drawn anew on the
    event loop; the worker thread now draws them while it builds their cube."""
    from leak_app.ui.app import Dashboard

    dashboard = Dashboard(model=SessionModel(sessions=generate_sessions(3_000, seed=14)))
    dashboard.model.devices = ["mobile"]  # the page's filters stay with the new settings
    settings = next(o for o in dashboard.filters if isinstance(o, pn.Card))
    settings.collapsed = False
    engaged = next(w for w in settings.objects if getattr(w, "name", "") == "Engaged at pageviews")
    drawn_on = drawing_threads(monkeypatch)
    settled(lambda: setattr(engaged, "value", 3))
    assert dashboard.model.engaged_pageviews == 3 and dashboard.model.devices == ["mobile"]
    assert len(drawn_on) >= 5 and all(thread.startswith("leak_app_worker") for thread in drawn_on)


def test_the_settings_inputs_are_made_when_their_card_is_first_opened():
    """Made with every page, the settings were 25 of its 360 Bokeh models for the few who open them:
    the card is now empty until opened, and opening it again after closing makes nothing twice."""
    from leak_app.ui.app import Dashboard

    dashboard = Dashboard(model=SessionModel(sessions=generate_sessions(2_000, seed=15)))
    settings = next(o for o in dashboard.filters if isinstance(o, pn.Card))
    assert settings.title == "Settings" and settings.collapsed and not settings.objects
    settings.collapsed = False
    inputs = list(settings.objects)
    names = [getattr(w, "name", "") for w in inputs]
    assert {"Engaged at pageviews", "Minimum sessions to rate"} <= set(names), names
    settings.collapsed, settings.collapsed = True, False
    assert settings.objects == inputs
    minimum = next(w for w in inputs if w.name == "Minimum sessions to rate")
    minimum.value = 150  # the inputs made late still drive the model
    assert dashboard.model.min_sessions == 150
