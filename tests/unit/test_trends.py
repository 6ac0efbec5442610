"""The overview's trends, pure: points folded into the buckets of the hour and the day."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from server.domain.trends import (
    MIX_PERSONAS,
    TrendPoint,
    Window,
    active_figures,
    bucketize,
    events_in_interval,
    windows,
)

HOUR = Window("1h", 3600, 60)
DAY = Window("1d", 86_400, 300)
NOW = 1_800_000_000.0 + 125.0  # 2 min 5 s into an hour (1_800_000_000 is a multiple of 3600)


def point(at: float, **fields: object) -> TrendPoint:
    base: dict[str, object] = {"interval_s": 10.0, "events": 100, "shoppers": 4,
                               "personas": {"explorer": 3, "unknown": 1}, "sessions": 5,
                               "converted": 1, "lag": 2, "pending": 1}  # fmt: skip
    base.update(fields)
    return TrendPoint(at=at, **base)  # type: ignore[arg-type]


def test_windows_are_whole_buckets_aligned_to_the_epoch_the_last_one_filling() -> None:
    start, end = HOUR.bounds(NOW)
    assert end == 1_800_000_000.0 + 180 and end - start == 3600
    assert (end - start) / HOUR.bucket_s == 60
    assert HOUR.tail_start(NOW) == 1_800_000_000.0 + 60  # the bucket just closed, then this one
    day_start, day_end = DAY.bounds(NOW)
    assert day_end == 1_800_000_000.0 + 300 and day_end - day_start == 86_400
    assert windows(60, 300) == {"1h": HOUR, "1d": DAY}


def test_points_fall_into_their_bucket_and_empty_buckets_are_left_out() -> None:
    base = 1_800_000_000.0
    points = [point(base + 120), point(base + 110), point(base + 100), point(base - 600)]
    buckets = bucketize(points, HOUR, NOW)
    assert [b["t"] for b in buckets] == [(base - 600) * 1000, (base + 60) * 1000,
                                         (base + 120) * 1000]  # fmt: skip
    assert [b["n"] for b in buckets] == [1, 2, 1]


def test_points_outside_the_window_are_not_drawn() -> None:
    start, end = HOUR.bounds(NOW)
    points = [point(start - 0.001), point(start), point(end - 0.001), point(end)]
    assert [b["n"] for b in bucketize(points, HOUR, NOW)] == [1, 1]
    assert bucketize([], HOUR, NOW) == []


def test_events_per_second_is_events_over_the_seconds_they_cover() -> None:
    base = 1_800_000_000.0 + 60
    points = [
        point(base + 0, events=50, interval_s=10.0),
        point(base + 10, events=250, interval_s=10.0),
        point(base + 30, events=600, interval_s=20.0),  # a tick was missed: 20 s covered
        point(base + 40, events=None, interval_s=0.0),  # after a handover: no baseline
    ]
    [bucket] = bucketize(points, HOUR, NOW)
    assert bucket["eps"] == pytest.approx(900 / 40)
    assert bucketize([point(base, events=None)], HOUR, NOW)[0]["eps"] is None


def test_active_shoppers_are_the_mean_of_the_bucket_and_its_largest() -> None:
    base = 1_800_000_000.0 + 60
    points = [point(base, shoppers=2), point(base + 10, shoppers=3), point(base + 20, shoppers=7)]
    [bucket] = bucketize(points, HOUR, NOW)
    assert bucket["shoppers"] == 4.0 and bucket["shoppers_max"] == 7


def test_the_persona_mix_is_each_personas_share_of_the_bucket_shoppers() -> None:
    base = 1_800_000_000.0 + 60
    points = [
        point(base, personas={"explorer": 3, "unknown": 1}),
        point(base + 10, personas={"hurried": 2, "bargain_hunter": 2}),
    ]
    [bucket] = bucketize(points, HOUR, NOW)
    assert bucket["mix"] == {"explorer": 0.375, "hurried": 0.25, "bargain_hunter": 0.25,
                             "unknown": 0.125}  # fmt: skip
    assert list(bucket["mix"]) == list(MIX_PERSONAS)
    assert sum(bucket["mix"].values()) == pytest.approx(1.0)
    empty = bucketize([point(base, shoppers=0, personas={})], HOUR, NOW)[0]
    assert empty["mix"] is None  # nobody active: no mix, rather than a mix of zeros


def test_conversion_is_converted_sessions_over_active_sessions_summed() -> None:
    base = 1_800_000_000.0 + 60
    points = [point(base, sessions=10, converted=1), point(base + 10, sessions=30, converted=9)]
    [bucket] = bucketize(points, HOUR, NOW)
    assert bucket["conversion"] == pytest.approx(10 / 40)  # not the mean of 0.1 and 0.3
    assert bucket["sessions"] == 20.0
    none = bucketize([point(base, sessions=0, converted=0)], HOUR, NOW)[0]
    assert none["conversion"] is None


def test_pipeline_lag_is_the_worst_lag_plus_pending_of_the_bucket() -> None:
    base = 1_800_000_000.0 + 60
    points = [point(base, lag=5, pending=1), point(base + 10, lag=40, pending=3),
              point(base + 20, lag=None, pending=None)]  # fmt: skip
    [bucket] = bucketize(points, HOUR, NOW)
    assert bucket["lag"] == 43
    assert bucketize([point(base, lag=None, pending=None)], HOUR, NOW)[0]["lag"] is None


def test_the_day_folds_five_minutes_into_one_bucket() -> None:
    base = 1_800_000_000.0 - 600  # ten minutes ago, on a 5-minute boundary
    points = [point(base + 10 * i, events=10, shoppers=i % 4) for i in range(30)]  # 5 minutes
    [bucket] = bucketize(points, DAY, NOW)
    assert bucket["t"] == base * 1000 and bucket["n"] == 30
    assert bucket["eps"] == 1.0 and bucket["shoppers_max"] == 3
    # The same points over the hour: five one-minute buckets of six.
    assert [b["n"] for b in bucketize(points, HOUR, NOW)] == [6, 6, 6, 6, 6]


def test_events_between_two_readings_of_the_process_counters() -> None:
    assert events_in_interval(None, {"a": 10}) is None  # no baseline: unknown, not zero
    assert events_in_interval({"a": 10, "b": 5}, {"a": 25, "b": 5}) == 15
    assert events_in_interval({"a": 10}, {"a": 12, "c": 7}) == 9  # c started since: all of it
    assert events_in_interval({"a": 10, "b": 5}, {"a": 3}) == 3  # a restarted; b stopped
    assert events_in_interval({}, {}) == 0


def test_active_figures_count_a_shopper_once_under_their_latest_session() -> None:
    t = [datetime(2026, 1, 1, 12, m, tzinfo=UTC) for m in range(4)]
    sessions = [
        {"vid": "v1", "persona": "explorer", "last_at": t[0]},
        {"vid": "v1", "persona": "hurried", "last_at": t[2], "converted": True},
        {"vid": "v2", "persona": None, "last_at": t[1]},
        {"vid": "v3", "persona": "some-new-id", "last_at": t[3]},
        {"vid": "v4", "persona": "bargain_hunter", "last_at": t[3], "converted": True},
    ]
    figures = active_figures(sessions)
    assert figures == {
        "shoppers": 4, "sessions": 5, "converted": 2,
        "personas": {"explorer": 0, "hurried": 1, "bargain_hunter": 1, "unknown": 2},
    }  # fmt: skip
    assert active_figures([]) == {"shoppers": 0, "sessions": 0, "converted": 0,
                                  "personas": dict.fromkeys(MIX_PERSONAS, 0)}  # fmt: skip


def test_a_point_survives_its_json_and_an_older_point_reads_empty() -> None:
    p = point(1_800_000_000.0, personas={"explorer": 2})
    assert TrendPoint.from_json(p.to_json()) == p
    old = TrendPoint.from_json({"at": 5, "shoppers": 1})
    assert old.events is None and old.lag is None and old.personas == {} and old.sessions == 0
