"""The sweep's recovery plan: from the trials and the time alone."""

from __future__ import annotations

from service.core.records import TrialRecord, TrialState
from service.core.spec import load_spec
from service.core.store import JobNotFound
from tests.helpers import synthetic_spec
from tests.memory_store import MemoryStore
from worker.engine.sweeper import UNSENT_GRACE_S, plan_sweep, sweep_jobs

NOW = 1_000_000.0
REQUEUE_S = 600.0


def trial(number: int, state: TrialState, **fields: float) -> TrialRecord:
    return TrialRecord(job_id="j", number=number, state=state, params={}, **fields)


def test_expired_leases_and_lost_messages_are_sent_again() -> None:
    trials = [
        trial(0, TrialState.RUNNING, lease_deadline=NOW - 1),  # its worker died
        trial(1, TrialState.RUNNING, lease_deadline=NOW + 10),  # alive
        trial(2, TrialState.QUEUED, dispatched_at=NOW - REQUEUE_S - 1),  # message lost
        trial(3, TrialState.QUEUED, dispatched_at=NOW - 5),  # waiting its turn
        trial(4, TrialState.QUEUED, created_at=NOW - UNSENT_GRACE_S - 1),  # never sent
        trial(5, TrialState.QUEUED, created_at=NOW - 1),  # being sent right now
        trial(6, TrialState.COMPLETED),
    ]
    plan = plan_sweep({"j": trials}, NOW, REQUEUE_S)
    assert plan.run_trials == [("j", 0), ("j", 2), ("j", 4)]
    assert plan.advance_jobs == []


def test_a_job_with_nothing_in_flight_is_advanced() -> None:
    finished = [trial(0, TrialState.COMPLETED), trial(1, TrialState.FAILED)]
    plan = plan_sweep({"idle": finished, "new": []}, NOW, REQUEUE_S)
    assert plan.run_trials == [] and plan.advance_jobs == ["idle", "new"]


def test_sweep_reads_active_jobs_and_skips_one_that_vanished() -> None:
    store = MemoryStore()
    running = store.jobs.create("t1", load_spec(synthetic_spec(2, sleep_s=0.0)))
    store.trials.add(running, [{"units": 32}])
    store.trials.claim(running, 0, "w", lease_s=5)
    idle = store.jobs.create("t1", load_spec(synthetic_spec(2, sleep_s=0.0)))
    done = store.jobs.create("t1", load_spec(synthetic_spec(2, sleep_s=0.0)))
    store.jobs.cancel(done)

    real_list = store.trials.list

    def list_trials(job_id: str) -> list[TrialRecord]:
        if job_id == idle:
            raise JobNotFound(job_id)  # expired between listing the ids and reading it
        return real_list(job_id)

    store.trials.list = list_trials  # type: ignore[method-assign]
    assert sweep_jobs(store, REQUEUE_S).run_trials == []
    store.clock.advance(6)  # the lease expired: its worker is gone
    plan = sweep_jobs(store, REQUEUE_S)
    assert plan.run_trials == [(running, 0)] and plan.advance_jobs == []


def test_a_stopping_job_is_advanced_whatever_its_trials_do() -> None:
    """Its finalization does not wait: a trial of a lost worker would never end, since a
    stopping job's trials are not run again."""
    lost = [trial(0, TrialState.RUNNING, lease_deadline=NOW - 5)]
    plan = plan_sweep({"j": lost}, NOW, REQUEUE_S, stopping={"j"})
    assert plan.advance_jobs == ["j"] and plan.run_trials == []
