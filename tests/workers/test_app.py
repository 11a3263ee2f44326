"""The Celery app is built from settings: the beat's intervals and the broker's options."""

from __future__ import annotations

import dataclasses

from core.settings import ScheduleSettings, Settings


def test_the_beat_and_the_broker_take_their_intervals_from_settings(settings: Settings) -> None:
    # workers.app builds its module's app from settings on import: import it after setup.
    from workers.app import make_celery

    # given settings with a fast expiry sweep and a short visibility timeout
    tuned = dataclasses.replace(settings, schedule=ScheduleSettings(expire_sweep_seconds=0.5),
                                celery_visibility_timeout_seconds=120.0)

    # when the Celery app is made from them
    celery = make_celery(tuned)

    # then the beat and the broker use them, and the other intervals keep their defaults
    beat = celery.conf.beat_schedule
    assert beat["expire-unpaid-orders"]["schedule"] == 0.5
    assert beat["relay-outbox"]["schedule"] == ScheduleSettings.outbox_relay_seconds
    assert celery.conf.broker_transport_options["visibility_timeout"] == 120.0


def test_every_beat_interval_is_a_setting(settings: Settings) -> None:
    from workers.app import make_celery

    # given a schedule whose every interval is distinct
    fields = [f.name for f in dataclasses.fields(ScheduleSettings)]
    schedule = ScheduleSettings(**{name: 1000.0 + n for n, name in enumerate(fields)})

    # when the Celery app is made from it
    beat = make_celery(dataclasses.replace(settings, schedule=schedule)).conf.beat_schedule

    # then each periodic task runs at one of those intervals, and each interval is used
    assert sorted(entry["schedule"] for entry in beat.values()) == sorted(
        getattr(schedule, name) for name in fields)


def test_every_interval_of_the_schedule_has_its_beat_entry(settings):
    from dataclasses import fields

    from core.settings import ScheduleSettings
    from workers.app import BEAT_SCHEDULE, make_celery

    beat = make_celery(settings).conf.beat_schedule

    assert {interval for _, _, interval, _ in BEAT_SCHEDULE} == {
        f.name for f in fields(ScheduleSettings)}
    assert len(beat) == len(BEAT_SCHEDULE)
