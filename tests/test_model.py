"""SessionModel: filters drive every table, each recomputed only when its inputs change."""
from __future__ import annotations

import json
from unittest import mock

import numpy as np
import pandas as pd
import pytest
from helpers import sessions
from naive import assert_same_tables, filtered, naive_model

import leak_app.analysis.model as model_module
from leak_app import LoadError, SessionModel
from leak_app.analysis import leaks, metrics, shrinkage
from leak_app.data.demo import generate_sessions
from leak_app.publish.downloads import download_tables
from leak_app.publish.summary import summary


@pytest.fixture(scope="module")
def demo():
    return generate_sessions(20_000, seed=11)


def random_filters(rng, model, days):
    i, j = sorted(rng.choice(len(days), size=2, replace=False))
    return {
        "devices": list(rng.choice(["desktop", "mobile", "tablet"], size=rng.integers(1, 4), replace=False)),
        "countries": list(rng.choice(model.param.countries.objects[:12], size=rng.integers(1, 9),
                                     replace=False)),
        "date_range": (pd.Timestamp(days[i]).to_pydatetime(), pd.Timestamp(days[j]).to_pydatetime()),
        # none (all) half of the time
        "channels": list(rng.choice(model.param.channels.objects,
                                    size=rng.integers(0, 3) * rng.integers(0, 2), replace=False)),
    }


def test_every_table_equals_the_naive_computation_on_random_filters(demo):
    model = SessionModel(sessions=demo)
    assert_same_tables(model, naive_model(demo, demo))
    rng = np.random.default_rng(0)
    days = sorted(demo["date"].unique())
    for _ in range(8):
        change = random_filters(rng, model, days)
        model.param.update(**change)
        rows = filtered(demo, change["devices"], change["countries"], *change["date_range"],
                        change["channels"])
        assert model.kpis["sessions"] == len(rows)
        assert_same_tables(model, naive_model(demo, rows))


def test_a_cube_too_wide_for_prefix_sums_gives_the_same_tables(demo, monkeypatch):
    monkeypatch.setenv("LEAK_APP_CUBE_PREFIX_BYTES", "0")  # every cube keeps its rows by day
    model = SessionModel(sessions=demo.copy())
    assert type(model.cube.store).__name__ == "DayRows"
    rng = np.random.default_rng(1)
    days = sorted(demo["date"].unique())
    for _ in range(4):
        change = random_filters(rng, model, days)
        model.param.update(**change)
        assert_same_tables(model, naive_model(demo, filtered(demo, change["devices"], change["countries"],
                                                             *change["date_range"], change["channels"])))


def test_settings_that_rebuild_the_cube_equal_the_naive_computation(demo):
    settings = {"duration_edges": [30, 300, 900], "engaged_pageviews": 3, "deep_pageviews": 7,
                "min_sessions": 40, "top_sources": 4}
    model = SessionModel(sessions=demo)
    model.param.update(**settings, devices=["mobile", "tablet"])
    rows = filtered(demo, ["mobile", "tablet"], list(model.param.countries.objects), *model.date_range)
    assert_same_tables(model, naive_model(demo, rows, top=4, min_sessions=40, edges=(30, 300, 900),
                                          engaged=3, deep=7))


def test_dates_filtered_to_one_day_say_there_is_nothing_to_compare(demo):
    """One day of dates has no halves: the silent-leak comparison showed periods read backwards ("0
    days" each) and "no silent leak" between them. Now no period is compared, the page and the
    takeaways say why, the command to copy names no period, and the day's own figures stay."""
    from leak_app.publish.check import command

    model = SessionModel(sessions=demo)
    day = pd.Timestamp(sorted(demo["date"].unique())[10]).to_pydatetime()
    model.date_range = (day, day)
    assert model.kpis["sessions"] == int((demo["date"] == pd.Timestamp(day)).sum())
    assert model.periods() == ((None, None), (None, None))
    says = f"The dates hold one day ({day:%Y-%m-%d})"
    assert model.period_problems()[0].startswith(says)
    assert model.silent_warnings[0].startswith(says) and len(model.silent_warnings) == 1
    assert model.silent_leaks_table.empty
    assert not any("0 days" in text or "No silent leak" in text for text in model.takeaways)
    assert "--current" not in command(model) and "--baseline" not in command(model)
    model.date_range = model.param.date_range.bounds
    assert model.period_problems() == () and model.periods()[1][0] is not None


def test_source_filter_uses_top_sources_and_other(demo):
    model = SessionModel(sessions=demo, top_sources=3)
    top = model.param.sources.objects[:3]
    assert model.param.sources.objects[-1] == metrics.OTHER_SOURCES
    model.sources = [metrics.OTHER_SOURCES]
    assert model.kpis["sessions"] == int((~demo["source"].isin(top)).sum())
    assert set(model.source_device_table["source"].astype(str)) == {metrics.OTHER_SOURCES}


def test_a_country_filter_names_the_countries_with_most_sessions_and_one_choice_for_the_rest(
        demo, monkeypatch):
    """A column of more country names than a filter names (a million made a million choices on
    every page): the filter offers those with most sessions (ties by name) and "(other countries)",
    which picks every other name; the same for channels. Counted by hand from the rows."""
    monkeypatch.setattr(metrics, "NAMED_CHOICES", 40)
    rows = demo.copy()
    rows["country"] = [f"Town {i % 97:02d}" for i in range(len(rows))]
    rows["channel"] = [f"Channel {i % 45:02d}" for i in range(len(rows))]
    model = SessionModel(sessions=rows)
    sessions = rows["country"].value_counts()
    ranked = sorted(sessions.index, key=lambda name: (-sessions[name], name))
    assert model.param.countries.objects == [*ranked[:40], "(other countries)"]
    assert model.param.channels.objects[-1] == "(other channels)"
    assert len(model.param.channels.objects) == 41

    model.countries = ["(other countries)"]
    assert model.kpis["sessions"] == int((~rows["country"].isin(ranked[:40])).sum())
    model.countries = [ranked[0], "(other countries)"]
    assert model.kpis["sessions"] == int((~rows["country"].isin(ranked[1:40])).sum())
    model.param.update(countries=[], channels=["(other channels)", "Channel 00"])
    picked = ~rows["channel"].isin(model.param.channels.objects[:40]) | (rows["channel"] == "Channel 00")
    assert model.kpis["sessions"] == int(picked.sum())


def test_the_commands_take_the_choice_that_stands_for_the_other_countries(demo, tmp_path, monkeypatch,
                                                                          capsys):
    """``summary --country "(other countries)"`` filters as the dashboard's choice does."""
    from leak_app import cli

    monkeypatch.setattr(metrics, "NAMED_CHOICES", 3)
    path = tmp_path / "sessions.parquet"
    demo.to_parquet(path)
    named = SessionModel(sessions=demo).param.countries.objects[:3]
    assert cli.main(["summary", str(path), "--json", "--country", "(other countries)"]) == 0
    summary_json = json.loads(capsys.readouterr().out)
    assert summary_json["kpis"]["sessions"] == int((~demo["country"].isin(named)).sum())


def count_calls(monkeypatch):
    calls = {}

    def wrap(owner, name):
        original = getattr(owner, name)

        def counted(*args, **kwargs):
            calls[name] = calls.get(name, 0) + 1
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, name, counted)

    for name in ("kpis", "by_country", "funnel", "by_duration", "by_source_device"):
        wrap(metrics, name)
    for name in ("segment_leaks", "step_leaks", "silent_leaks"):
        wrap(leaks, name)
    wrap(model_module, "takeaways")
    return calls


ALL = ("kpis", "by_country", "funnel", "by_duration", "by_source_device", "segment_leaks", "step_leaks",
       "silent_leaks", "takeaways")


def test_each_table_is_computed_once_per_change_and_only_when_needed(demo, monkeypatch):
    calls = count_calls(monkeypatch)
    model = SessionModel(sessions=demo)
    assert calls == dict.fromkeys(ALL, 1)
    calls.clear()
    model.devices = ["mobile"]
    assert calls == dict.fromkeys(ALL, 1)
    calls.clear()
    model.engaged_pageviews = 3
    assert calls == {"funnel": 1, "step_leaks": 1, "takeaways": 1}
    calls.clear()
    model.min_sessions = 50
    assert calls == {"by_country": 1, "by_duration": 1, "by_source_device": 1, "segment_leaks": 1,
                     "step_leaks": 1, "silent_leaks": 1, "takeaways": 1}
    calls.clear()
    model.duration_edges = [30, 300]
    assert calls == {"by_duration": 1, "segment_leaks": 1, "silent_leaks": 1, "takeaways": 1}
    assert model.duration_table["bucket"].cat.categories.tolist() == [
        "no duration (single page)", "<30 s", "0.5–5 min", ">5 min"]
    calls.clear()
    model.level = 0.01
    assert calls == {"segment_leaks": 1, "silent_leaks": 1, "takeaways": 1}
    calls.clear()
    model.fdr = 0.01  # the countries' false discovery rate: read by the takeaways only
    assert calls == {"takeaways": 1}
    calls.clear()
    model.current_period = "2026-10-01:2026-10-31"
    assert calls == {"silent_leaks": 1, "takeaways": 1}


def test_a_page_of_served_data_starts_from_the_first_model_and_computes_nothing(demo, monkeypatch):
    """Each new page of a served file computed every table of the unfiltered data again (about 0.1 s
    of the server's only thread a page at a million sessions): a page's model now starts from the
    process's first one, sharing its outputs, and computes only what its own filters change."""
    first = SessionModel(sessions=demo)
    calls = count_calls(monkeypatch)
    page = SessionModel(sessions=demo, load_report=first.load_report, start_from=first)
    assert calls == {}
    for name in (*model_module.TABLES, "takeaways", "cube"):
        assert getattr(page, name) is getattr(first, name), name
    for name in ("devices", "countries", "sources", "channels", "funnel"):
        assert page.param[name].objects == first.param[name].objects, name
    assert page.date_range == first.date_range
    assert page.param.date_range.bounds == first.param.date_range.bounds
    page.devices = ["mobile"]
    assert calls == dict.fromkeys(ALL, 1)
    rows = filtered(demo, ["mobile"], demo["country"].unique(), *page.date_range)
    assert_same_tables(page, naive_model(demo, rows))
    assert first.kpis["sessions"] == len(demo) and first.devices == page.param.devices.objects


def test_a_change_at_several_depths_computes_each_table_once(demo, ga_raw, monkeypatch):
    """Param calls watchers in rounds, not in dependency order: a setting of the stages with a
    threshold (the settings form), new data (which resets the filters from within the change) or
    another number of sources (which clears the source filter) must still compute each table once."""
    calls = count_calls(monkeypatch)
    model = SessionModel(sessions=demo)
    calls.clear()
    model.param.update(min_sessions=60, engaged_pageviews=4)
    assert calls == {"by_country": 1, "funnel": 1, "by_duration": 1, "by_source_device": 1,
                     "segment_leaks": 1, "step_leaks": 1, "silent_leaks": 1, "takeaways": 1}
    model.sources = [model.param.sources.objects[0]]
    calls.clear()
    model.top_sources = 4
    assert calls == dict.fromkeys(ALL, 1) and model.sources == []
    model.countries = ["India"]
    calls.clear()
    model.load(ga_raw)
    assert calls == dict.fromkeys(ALL, 1)


def test_updated_says_once_that_every_output_is_in_place(demo, ga_raw):
    """A view that shows several outputs draws on ``updated``: it comes once a change, when every output
    is computed from the change's inputs (nothing is replaced after it)."""
    model = SessionModel(sessions=demo)
    outputs = ["cube", *model_module.TABLES, "takeaways"]
    seen = []
    model.param.watch(lambda _: seen.append({name: getattr(model, name) for name in outputs}), "updated")
    changes = [lambda: setattr(model, "devices", ["mobile"]),
               lambda: model.param.update(min_sessions=60, engaged_pageviews=4),
               lambda: setattr(model, "top_sources", 3),
               lambda: setattr(model, "current_period", "last-14d"),
               lambda: model.load(ga_raw)]
    for change in changes:
        seen.clear()
        change()
        assert len(seen) == 1
        assert all(seen[0][name] is getattr(model, name) for name in outputs)
    fresh = SessionModel(sessions=model.sessions, load_report=model.load_report, min_sessions=60,
                         engaged_pageviews=4, top_sources=3, current_period="last-14d")
    assert_same_tables(model, fresh)
    seen.clear()
    model.min_sessions = 60  # no change
    assert seen == []


def test_tables_are_computed_with_one_blas_thread_and_the_limit_is_restored(demo, monkeypatch):
    from threadpoolctl import threadpool_info, threadpool_limits

    def blas_threads():
        return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}

    seen = []
    difference = leaks.newcombe_difference
    monkeypatch.setattr(leaks, "newcombe_difference",
                        lambda *a: (seen.append(blas_threads()), difference(*a))[1])
    with threadpool_limits(limits=2, user_api="blas"):
        model = SessionModel(sessions=demo)
        model.devices = ["mobile"]
        assert blas_threads() == {2}  # a notebook's own BLAS work keeps its threads
    assert seen and all(threads == {1} for threads in seen)


def test_no_device_selected_means_all(demo):
    model = SessionModel(sessions=demo)
    model.devices = []
    assert model.kpis["sessions"] == len(demo)


def test_filters_that_match_nothing_leave_empty_tables():
    model = SessionModel(sessions=sessions([("desktop", "France", "google", 3, 20, 0),
                                            ("mobile", "Spain", "bing", 3, 20, 0)]))
    model.param.update(devices=["desktop"], countries=["Spain"])
    assert model.kpis["sessions"] == 0
    assert model.country_table.empty and model.funnel_table.empty
    assert model.takeaways == []
    assert json.loads(json.dumps(summary(model), allow_nan=False))["kpis"]["conversion_rate"] is None


def test_a_one_in_two_segment_is_never_a_top_performer():
    rows = [("desktop", "France", "google", 3, 20, 1 if i < 4 else 0) for i in range(400)]
    rows += [("desktop", "France", "tiny.example", 12, 900, 1),
             ("desktop", "France", "tiny.example", 1, 0, 0)]
    rows += [("mobile", "France", "google", 3, 20, 1 if i < 1 else 0) for i in range(300)]
    model = SessionModel(sessions=sessions(rows), min_sessions=100)
    tiny = model.source_device_table[model.source_device_table["source"] == "tiny.example"].iloc[0]
    assert tiny.rate == 0.5 and not tiny.rated
    text = " ".join(model.takeaways)
    assert "tiny.example" not in text
    assert "Strongest source × device: google on desktop" in text


def test_summary_has_the_published_keys(demo):
    published = summary(SessionModel(sessions=demo))
    assert list(published) == ["kpis", "countries", "funnel", "duration", "source_device", "takeaways",
                               "load_report", "leaks", "silent_leaks", "silent_periods", "step_leaks",
                               "silent_warnings", "rate_change", "unavailable"]  # added keys come last: old
    # ones never move
    leak = published["leaks"][0]
    assert {"dimension", "values", "segment", "sessions", "conversions", "rate", "ci_low", "ci_high",
            "lost_conversions", "lost_low", "lost_high", "sentence"} <= set(leak)
    kpis, country = set(published["kpis"]), set(published["countries"][0])
    assert {"sessions", "converting_sessions", "transactions", "revenue", "conversion_rate"} <= kpis
    assert {"country", "sessions", "conversions", "rate", "ci_low", "ci_high"} <= country
    assert {"parent", "compared_with", "rest_rate_before", "rest_rate_now", "change", "change_low",
            "change_high", "lost_revenue_low", "lost_revenue_high"} <= set(published["silent_leaks"][0])
    assert {"lost_revenue", "lost_revenue_low", "lost_revenue_high"} <= set(published["step_leaks"][0])
    assert set(published["rate_change"]) == {"baseline_rate", "current_rate", "by_dimension"}
    json.dumps(published, allow_nan=False)


def test_a_bad_file_leaves_the_model_as_it_was(demo, write):
    model = SessionModel(sessions=demo, load_report={"path": "demo"})
    model.devices = ["tablet"]
    before = dict(model.kpis)
    with pytest.raises(LoadError):
        model.load(write("bad.csv", "not,a,session,file\n1,2,3,4\n"))
    assert model.kpis == before and model.devices == ["tablet"] and model.load_report == {"path": "demo"}


def test_loading_new_data_resets_filters_to_its_values(demo, ga_raw):
    model = SessionModel(sessions=demo)
    model.countries = ["India"]
    with mock.patch.object(model_module, "takeaways", wraps=model_module.takeaways) as written:
        model.load(ga_raw)
    assert written.call_count == 1
    assert model.countries == [] and model.kpis["sessions"] == 9998
    assert model.date_range[0].year == 2017 and model.load_report["rows_read"] == 10000


def test_downloads_fit_the_leak_tables_shrunk_rates_only_when_asked(demo, monkeypatch):
    """Listing the downloads (every page does) computes nothing; the leaks download carries the
    shrunk rates, fitted then."""
    model = SessionModel(sessions=demo)
    fits = []
    fit = shrinkage.fit_beta_prior
    monkeypatch.setattr(shrinkage, "fit_beta_prior", lambda *a: (fits.append(1), fit(*a))[1])
    tables = download_tables(model)
    assert list(tables) == ["countries", "funnel", "duration", "source_device", "leaks", "silent_leaks",
                            "step_leaks"]
    assert not fits
    assert tables["countries"]() is model.country_table and not fits
    shrunk = tables["leaks"]()
    assert fits and {"shrunk_rate", "shrunk_low", "shrunk_high", "prior_at_bound"} <= set(shrunk.columns)
    assert "values" not in shrunk and len(shrunk) == len(model.leaks_table)


def test_models_of_many_tables_leave_no_table_behind():
    """Each table's cube is built in a database of its own, closed after: an ``ibis.memtable`` stayed
    registered in Ibis's default DuckDB until exit (the statistics benchmark grew 5 MB a data set)."""
    import gc

    import ibis

    before = len(ibis.get_backend().list_tables())
    for seed in range(3):
        SessionModel(sessions=generate_sessions(2_000, seed=seed))
    gc.collect()
    assert len(ibis.get_backend().list_tables()) == before


def test_a_change_that_fails_leaves_the_model_as_it_was(demo, tmp_path):
    """The audit's case: the served file deleted, then a setting changed — a database error in the
    log, the setting changed and the tables stale. Now the setting is set back, every table holds
    the data as before, and the error reaches the caller (the app says it)."""
    from leak_app.data.sources import open_sessions

    path = tmp_path / "served.parquet"
    demo.to_parquet(path)
    model = SessionModel(sessions=open_sessions(path, scan_from=0)[0])
    before = {name: getattr(model, name) for name in ("kpis", "duration_table", "takeaways")}
    changed = []
    model.param.watch(lambda *events: changed.extend((e.name, e.new) for e in events),
                      ["duration_edges", "duration_table"])
    path.unlink()
    with pytest.raises(Exception, match="served.parquet"):
        model.duration_edges = [15, 150]
    assert model.duration_edges == list(model.param.duration_edges.default)
    assert model.kpis == before["kpis"] and model.takeaways == before["takeaways"]
    pd.testing.assert_frame_equal(model.duration_table, before["duration_table"])
    assert ("duration_edges", list(model.param.duration_edges.default)) in changed  # the widgets follow
    model.devices = ["mobile"]  # filters are answered from the cube: the model still works
    assert model.kpis["sessions"] == (demo["device"] == "mobile").sum()


def test_a_frame_changed_in_place_gets_new_numbers_and_an_unchanged_one_shares_its_cube():
    """A notebook fixes a mistyped revenue in place and makes a model of the frame again: its cube
    was kept by the frame's identity, so the new model showed the old revenue, with no word. A
    frame whose numbers or dates changed is now a new table; models of an unchanged one (a served
    app's sessions) still share one cube."""
    frame = sessions([("desktop", "France", "google", 3, 20, 1)] * 5
                     + [("mobile", "Spain", "bing", 1, 0, 0)] * 5)
    before = SessionModel(sessions=frame)
    assert before.kpis["revenue"] == 50.0
    frame.loc[0, "revenue"] = 50_000_000.0
    frame.loc[9, "date"] = pd.Timestamp("2026-01-02")
    after = SessionModel(sessions=frame)
    assert after.kpis["revenue"] == 50_000_040.0 and after.current_cube().days == 2
    assert SessionModel(sessions=frame).current_cube() is after.current_cube() is not before.current_cube()


def test_a_frame_whose_labels_changed_or_whose_values_moved_between_rows_gets_new_numbers():
    """Sums of numbers and dates missed both: a notebook renaming a mislabelled source in place,
    and a revenue typed on the wrong row (swapped with another's), kept the old cube and its
    numbers, with no word. Reordered rows are the same table: they share its cube."""
    frame = sessions([("desktop", "France", "google", 3, 20, 1)] * 5
                     + [("mobile", "Spain", "bing", 1, 0, 0)] * 5)
    frame["revenue"] = np.arange(10.0)
    before = SessionModel(sessions=frame)
    frame.loc[0, "source"] = "bing"
    relabelled = SessionModel(sessions=frame)
    assert relabelled.source_device_table.set_index(["source", "device"])["sessions"].to_dict() == {
        ("bing", "desktop"): 1, ("google", "desktop"): 4, ("bing", "mobile"): 5}
    assert relabelled.current_cube() is not before.current_cube()
    frame.loc[[0, 9], "revenue"] = frame.loc[[9, 0], "revenue"].to_numpy()  # the same sum
    swapped = SessionModel(sessions=frame)
    assert swapped.current_cube() is not relabelled.current_cube()
    by_device = swapped.selected().counts["device"].set_index("device")["revenue"]
    assert by_device.to_dict() == {"desktop": 9 + 1 + 2 + 3 + 4, "mobile": 5 + 6 + 7 + 8 + 0}
    frame.sort_values("revenue", inplace=True)  # the same sessions in another order
    assert SessionModel(sessions=frame).current_cube() is swapped.current_cube()
