"""Lua scripts behind the job store's atomic transitions.

Each runs as one Redis command, so a redelivered task or a second worker sees either the state
before or the state after, never half of it. Time comes from the Redis server's clock (``TIME``)
so leases do not depend on the workers' clocks agreeing.
"""

from __future__ import annotations

_NOW = """
local _t = redis.call('TIME')
local now = tonumber(_t[1]) + tonumber(_t[2]) / 1000000
"""

_LOG_STATUS = """
local function log_status(job, log, status, now)
  redis.call('HSET', job, 'status', status)
  redis.call('RPUSH', log, status .. '@' .. string.format('%.6f', now))
end
"""

# KEYS: job, trial prefix is ARGV[1]; ARGV[2..]: params JSON of each new trial.
# Returns the numbers of the trials created (fewer than asked when the budget runs out).
ADD_TRIALS = (
    _NOW
    + """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return redis.error_reply('NOJOB') end
if status ~= 'queued' and status ~= 'running' then return {} end
local created = tonumber(redis.call('HGET', KEYS[1], 'trials_created'))
local max_trials = tonumber(redis.call('HGET', KEYS[1], 'max_trials'))
local out = {}
for i = 2, #ARGV do
  if created >= max_trials then break end
  redis.call('HSET', ARGV[1] .. created, 'number', created, 'state', 'queued',
             'params', ARGV[i], 'attempt', 0, 'created_at', string.format('%.6f', now))
  table.insert(out, created)
  created = created + 1
end
redis.call('HSET', KEYS[1], 'trials_created', created)
return out
"""
)

# KEYS: trial, job, status log. ARGV: token, lease seconds, worker name.
# Returns {outcome, attempt}: claimed | leased (someone holds a live lease) | finished | missing
# | job_finished.
CLAIM_TRIAL = (
    _NOW
    + _LOG_STATUS
    + """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {'missing', '0'} end
local job_status = redis.call('HGET', KEYS[2], 'status')
if job_status ~= 'queued' and job_status ~= 'running' then return {'job_finished', '0'} end
if state == 'running' then
  local deadline = tonumber(redis.call('HGET', KEYS[1], 'lease_deadline') or '0')
  if deadline > now then return {'leased', '0'} end
elseif state ~= 'queued' then
  return {'finished', '0'}
end
local attempt = redis.call('HINCRBY', KEYS[1], 'attempt', 1)
redis.call('HSET', KEYS[1], 'state', 'running', 'lease_token', ARGV[1],
           'lease_deadline', string.format('%.6f', now + tonumber(ARGV[2])),
           'worker', ARGV[3], 'started_at', string.format('%.6f', now))
if job_status == 'queued' then
  redis.call('HSET', KEYS[2], 'started_at', string.format('%.6f', now))
  log_status(KEYS[2], KEYS[3], 'running', now)
end
return {'claimed', tostring(attempt)}
"""
)

# KEYS: trial. ARGV: token, lease seconds, then field/value pairs to set with the renewal.
# Returns 1 when the caller still holds the lease, else 0 (and nothing is written).
RENEW_LEASE = (
    _NOW
    + """
if redis.call('HGET', KEYS[1], 'state') ~= 'running' then return 0 end
if redis.call('HGET', KEYS[1], 'lease_token') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'lease_deadline', string.format('%.6f', now + tonumber(ARGV[2])))
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
return 1
"""
)

# KEYS: trial, job. ARGV: token, state, value ('' = none), then field/value pairs.
# Finishes the trial exactly once and keeps the job's best up to date. Returns 1 or 0.
FINISH_TRIAL = (
    _NOW
    + """
if redis.call('HGET', KEYS[1], 'state') ~= 'running' then return 0 end
if redis.call('HGET', KEYS[1], 'lease_token') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'finished_at', string.format('%.6f', now),
           'lease_deadline', '0')
for i = 4, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('HINCRBY', KEYS[2], 'trials_finished', 1)
if ARGV[3] ~= '' then
  redis.call('HSET', KEYS[1], 'value', ARGV[3])
  local value = tonumber(ARGV[3])
  local best = redis.call('HGET', KEYS[2], 'best_value')
  local direction = redis.call('HGET', KEYS[2], 'direction')
  if (not best) or (direction == 'max' and value > tonumber(best))
      or (direction == 'min' and value < tonumber(best)) then
    redis.call('HSET', KEYS[2], 'best_value', ARGV[3],
               'best_trial', redis.call('HGET', KEYS[1], 'number'))
  end
end
return 1
"""
)

# KEYS: job, status log. ARGV: new status, comma-separated statuses it may move from, then
# field/value pairs. Returns 1 when the status changed, else 0.
SET_STATUS = (
    _NOW
    + _LOG_STATUS
    + """
local current = redis.call('HGET', KEYS[1], 'status')
if not current then return redis.error_reply('NOJOB') end
if not string.find(',' .. ARGV[2] .. ',', ',' .. current .. ',', 1, true) then return 0 end
log_status(KEYS[1], KEYS[2], ARGV[1], now)
if ARGV[1] == 'succeeded' or ARGV[1] == 'failed' or ARGV[1] == 'cancelled' then
  redis.call('HSET', KEYS[1], 'finished_at', string.format('%.6f', now))
end
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
return 1
"""
)

# KEYS: lock. ARGV: token. Deletes the lock only if the caller still holds it.
RELEASE_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
