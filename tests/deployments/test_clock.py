"""The one clock's words: durations as people say them, relative times that never put a past event in the
future, and the template filters built on them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.template import Context, Template

from deployments import clock

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 s"),
        (0.9, "0 s"),
        (45, "45 s"),
        (60, "1 min"),
        (252.069869, "4 min 12 s"),
        (3600, "1 h"),
        (3 * 3600 + 27 * 60 + 57.069869, "3 h 27 min"),
        (2 * 86400 + 4 * 3600 + 59, "2 d 4 h"),
        (-5, "0 s"),
    ],
)
def test_it_says_durations_in_their_two_largest_units(seconds, text):
    assert clock.duration_text(seconds) == text
    assert clock.duration_text(timedelta(seconds=seconds)) == text


def test_it_never_says_a_past_event_is_in_the_future():
    assert clock.since_text(NOW - timedelta(minutes=4, seconds=12), NOW) == "4 min 12 s ago"
    assert clock.since_text(NOW - timedelta(seconds=3), NOW) == "just now"
    # AppConfig's clock a little ahead of ours: the event still happened, so it is "just now".
    assert clock.since_text(NOW + timedelta(seconds=40), NOW) == "just now"


def test_it_says_how_long_until_a_moment_below_two_minutes_too():
    assert clock.until_text(NOW + timedelta(minutes=1, seconds=30), NOW) == "in 1 min 30 s"
    assert clock.until_text(NOW + timedelta(hours=1), NOW) == "in 1 h"
    assert clock.until_text(NOW - timedelta(seconds=5), NOW) == "now"


def test_it_offers_the_words_as_template_filters(monkeypatch):
    monkeypatch.setattr(clock, "now", lambda: NOW)
    template = Template(
        "{% load console %}{{ d|duration }}|{{ past|since }}|{{ future|until }}|{{ none|since }}"
    )
    rendered = template.render(
        Context(
            {
                "d": timedelta(minutes=9, seconds=59, microseconds=69869),
                "past": NOW - timedelta(hours=4),
                "future": NOW + timedelta(seconds=90),
                "none": None,
            }
        )
    )
    assert rendered == "9 min 59 s|4 h ago|in 1 min 30 s|"
