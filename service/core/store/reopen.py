"""Reopening a finished job for more trials (``POST /v1/jobs/{id}/extend``), as one atomic step.

Its own module beside ``scripts`` (every other transition's Lua) because that one is at the
size a module may have. The step mirrors ``CREATE_JOB`` (the tenant's limit of unfinished jobs
is checked where the job rejoins the active sets) and undoes what finishing did
(``SET_STATUS``, ``CANCEL_JOB`` and the retention clock): the earlier finish's results, its
model and its finalization lease go, the job and its trials stop expiring, and a webhook is due
again at the next finish.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from service.core import keys
from service.core.store.connection import Connection
from service.core.store.scripts import lua

FINISH_SETTLES_S = 30
"""How long after a finish a job is refused an extension while the finish's last steps (its
expiry, its webhook) are not recorded as done: a finisher that died meanwhile does not block
the job for longer."""

# KEYS: job, status log, active-jobs set, the tenant's active jobs, the job's model, its events,
# its rendered plots, the pending-webhooks set, the job's webhook-delivery lock. ARGV: trial key
# prefix, trials to add, the most trials a job may have, the seconds the extension may run (''
# for no limit), the most unfinished jobs the tenant may have (0: no limit).
# The new budget is the trials the job has plus those asked for: a job cancelled (or out of time)
# before its budget runs exactly as many more as asked, not its unspent rest as well. The best
# trial is found again among all the completed ones, as a finishing trial counts it (a trial
# that finished after a cancel was not counted then; a pruned one's value is partial).
# Refused while the job is still finishing: a finalization holding its lease (it
# would end the reopened job with the old results), the finish's expiry and webhook not yet
# recorded, or a webhook delivery under way (it would record itself over the new 'waiting').
# Returns {outcome, detail}: {'extended', the job's trial budget now}; {'status', its status}
# when it is not succeeded or cancelled; {'finishing', seconds to wait}; {'trials', the trials
# it has} when the new budget would pass the limit; {'active', the tenant's unfinished jobs}
# at the tenant's limit.
REOPEN_JOB = lua(
    """
local current = redis.call('HGET', KEYS[1], 'status')
if not current then return redis.error_reply('NOJOB') end
if current ~= 'succeeded' and current ~= 'cancelled' then return {'status', current} end
local lease = tonumber(redis.call('HGET', KEYS[1], 'finalize_deadline') or '0')
if lease > now then return {'finishing', tostring(math.ceil(lease - now))} end
local finished = tonumber(redis.call('HGET', KEYS[1], 'finished_at') or '0')
local settled = redis.call('HGET', KEYS[1], 'settled') == '1'
if (not settled and now - finished < tonumber(ARGV[6])) or redis.call('EXISTS', KEYS[9]) == 1 then
  return {'finishing', '1'}
end
local created = tonumber(redis.call('HGET', KEYS[1], 'trials_created') or '0')
local total = created + tonumber(ARGV[2])
if total > tonumber(ARGV[3]) then return {'trials', tostring(created)} end
local active = redis.call('SCARD', KEYS[4])
local most = tonumber(ARGV[5])
if most > 0 and active >= most then return {'active', tostring(active)} end
local id = redis.call('HGET', KEYS[1], 'id')
redis.call('HSET', KEYS[1], 'max_trials', total)
redis.call('HDEL', KEYS[1], 'finished_at', 'stop_reason', 'error', 'summary', 'test_metrics',
           'model_bytes', 'deadline_at', 'settled', 'best_trial', 'best_value')
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[1], 'deadline_at', stamp(now + tonumber(ARGV[4])))
end
redis.call('HINCRBY', KEYS[1], 'extensions', 1)
if redis.call('HEXISTS', KEYS[1], 'webhook_status') == 1 then
  redis.call('HSET', KEYS[1], 'webhook_status', 'waiting', 'webhook_attempts', 0)
  redis.call('HDEL', KEYS[1], 'webhook_next_at', 'webhook_error', 'webhook_delivered_at')
  redis.call('SREM', KEYS[8], id)
end
log_status(KEYS[1], KEYS[2], 'running')
redis.call('SADD', KEYS[3], id)
redis.call('SADD', KEYS[4], id)
redis.call('DEL', KEYS[5])
for _, key in ipairs({KEYS[1], KEYS[2], KEYS[6], KEYS[7]}) do redis.call('PERSIST', key) end
local maximise = redis.call('HGET', KEYS[1], 'direction') == 'max'
local best, best_value = nil, nil
for n = 0, created - 1 do
  local trial = ARGV[1] .. n
  redis.call('PERSIST', trial)
  local state = redis.call('HGET', trial, 'state')
  local value = tonumber(redis.call('HGET', trial, 'value') or '')
  if state == 'completed' and value and value == value
      and (best == nil or (maximise and value > best_value) or
           (not maximise and value < best_value)) then
    best, best_value = n, value
  end
end
if best ~= nil then
  redis.call('HSET', KEYS[1], 'best_trial', best,
             'best_value', redis.call('HGET', ARGV[1] .. best, 'value'))
end
return {'extended', tostring(total)}
""",
    "log_status",
)

# KEYS: job. Marks a finish's last steps (expiry, webhook) as done, unless the job is gone.
SETTLE_JOB = """
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'settled', '1') end
return 0
"""


@dataclass(frozen=True)
class Reopened:
    """What ``RedisJobs.extend`` did: ``extended`` (``detail``: the trial budget now), or why
    not: ``status`` (``detail``: the job's status), ``finishing`` (``detail``: seconds to wait
    before asking again), ``trials`` (``detail``: the trials it has,
    which with the extension would pass the limit) or ``active`` (``detail``: the tenant's
    unfinished jobs, at its limit)."""

    outcome: str
    detail: str

    @property
    def extended(self) -> bool:
        return self.outcome == "extended"


def reopen(
    conn: Connection,
    job_id: str,
    status_keys: Sequence[str],
    trials: int,
    most_trials: int,
    run_s: float | None,
    max_active: int,
) -> Reopened:
    """``REOPEN_JOB`` for one job; ``status_keys``: its hash, status log, the active-jobs set
    and its tenant's (``RedisJobs._status_keys``)."""
    outcome, detail = conn.script(REOPEN_JOB)(
        keys=[*status_keys, keys.job_model(job_id), keys.job_events(job_id),
              keys.job_renders(job_id), keys.webhooks_pending(), keys.webhook_lock(job_id)],
        args=[keys.trial_prefix(job_id), trials, most_trials,
              "" if run_s is None else repr(float(run_s)), max_active, FINISH_SETTLES_S],
    )  # fmt: skip
    return Reopened(str(outcome), str(detail))
