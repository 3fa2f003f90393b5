"""The per-process cache of rendered job views stays within its bytes."""

from __future__ import annotations

from service.api.job_views import JobViews, RenderedJob


def view(tag: str, size: int) -> RenderedJob:
    return RenderedJob(tag, "acme", "x" * size, f"etag-{tag}", False)


def test_views_are_dropped_oldest_first_past_the_byte_limit() -> None:
    views = JobViews(most_bytes=1000, largest_bytes=600)
    for n in range(4):
        views.put(f"job{n}", view(str(n), 300))
    assert [views.get(f"job{n}") is not None for n in range(4)] == [False, True, True, True]
    views.put("job1", view("1b", 300))  # replacing one counts its bytes once
    views.put("job4", view("4", 100))
    assert views.get("job1").tag == "1b" and views.get("job4") is not None
    assert sum(len(views.get(j).body) for j in ("job1", "job2", "job3", "job4")) <= 1000


def test_a_view_too_large_to_keep_is_never_kept() -> None:
    views = JobViews(most_bytes=10_000, largest_bytes=600)
    views.put("big", view("a", 300))
    views.put("big", view("b", 601))  # the job grew: the older, smaller view goes too
    assert views.get("big") is None
