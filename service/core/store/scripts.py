"""Every Lua script of the job store: its atomic transitions, in one place.

Each runs as one Redis command, so a redelivered task or a second worker sees either the state
before or the state after, never half of it. Time comes from the Redis server's clock (``TIME``)
so leases do not depend on the workers' clocks agreeing. Each script body may use the helpers
named in its ``lua`` call.
"""

from __future__ import annotations

_HELPERS = {
    "now": """
local _t = redis.call('TIME')
local now = tonumber(_t[1]) + tonumber(_t[2]) / 1000000
local function stamp(t) return string.format('%.6f', t) end
""",
    "log_status": """
local function log_status(job, log, status)
  redis.call('HSET', job, 'status', status)
  redis.call('RPUSH', log, status .. '@' .. stamp(now))
end
""",
    # Counts against a budget. A Redis too full to write lets the request through uncounted
    # (pcall): refusing reads because the budget cannot be written would fail every caller.
    "take": """
local function take(counter, cost, most, window_ms)
  if most <= 0 then return {1, 0} end
  local used = tonumber(redis.call('GET', counter) or '0')
  local ttl = redis.call('PTTL', counter)
  if used + cost > most then return {0, ttl} end
  local counted = redis.pcall('INCRBY', counter, cost)
  if type(counted) == 'table' and counted.err then return {1, 0} end
  if ttl < 0 then
    redis.pcall('PEXPIRE', counter, window_ms)
    ttl = window_ms
  end
  return {1, ttl}
end
""",
    "finish_unclaimed": """
local function finish_unclaimed(trial, job, state, reason)
  redis.call('HSET', trial, 'state', state, 'error', reason, 'lease_deadline', '0',
             'finished_at', stamp(now))
  redis.call('HINCRBY', job, 'trials_finished', 1)
end
""",
}


def lua(body: str, *helpers: str) -> str:
    return "".join(_HELPERS[name] for name in ("now", *helpers)) + body


# KEYS: job. ARGV[1]: trial key prefix; ARGV[2..]: params JSON of each new trial.
# Returns the numbers of the trials created (fewer than asked when the budget runs out).
ADD_TRIALS = lua("""
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return redis.error_reply('NOJOB') end
if status ~= 'queued' and status ~= 'running' then return {} end
local created = tonumber(redis.call('HGET', KEYS[1], 'trials_created'))
local max_trials = tonumber(redis.call('HGET', KEYS[1], 'max_trials'))
local out = {}
for i = 2, #ARGV do
  if created >= max_trials then break end
  redis.call('HSET', ARGV[1] .. created, 'number', created, 'state', 'queued',
             'params', ARGV[i], 'attempt', 0, 'created_at', stamp(now))
  table.insert(out, created)
  created = created + 1
end
redis.call('HSET', KEYS[1], 'trials_created', created)
return out
""")

# KEYS: trial. Marks a queued trial as sent to the queue (the sweep re-sends stale ones).
MARK_DISPATCHED = lua("""
if redis.call('HGET', KEYS[1], 'state') ~= 'queued' then return 0 end
redis.call('HSET', KEYS[1], 'dispatched_at', stamp(now))
return 1
""")

# KEYS: trial, job, status log, the leases set. ARGV: token, lease seconds, worker name, max
# attempts. Returns {outcome, attempt}: claimed | leased (someone holds a live lease) |
# finished | missing | job_finished | exhausted (a lost worker's trial out of attempts: now
# failed) | expired (the job's max_duration_s passed before it started: now cancelled).
CLAIM_TRIAL = lua(
    """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {'missing', '0'} end
local job_status = redis.call('HGET', KEYS[2], 'status')
if job_status ~= 'queued' and job_status ~= 'running' then return {'job_finished', '0'} end
local attempt = tonumber(redis.call('HGET', KEYS[1], 'attempt') or '0')
if state == 'running' then
  local deadline = tonumber(redis.call('HGET', KEYS[1], 'lease_deadline') or '0')
  if deadline > now then return {'leased', tostring(attempt)} end
  if attempt >= tonumber(ARGV[4]) then
    finish_unclaimed(KEYS[1], KEYS[2], 'failed',
                     'worker lost on each of ' .. attempt .. ' attempts')
    redis.call('ZREM', KEYS[4], KEYS[1])
    return {'exhausted', tostring(attempt)}
  end
elseif state ~= 'queued' then
  return {'finished', tostring(attempt)}
else
  local job_deadline = tonumber(redis.call('HGET', KEYS[2], 'deadline_at') or '0')
  if job_deadline > 0 and now > job_deadline then
    finish_unclaimed(KEYS[1], KEYS[2], 'cancelled', 'job max_duration_s reached first')
    return {'expired', tostring(attempt)}
  end
end
attempt = redis.call('HINCRBY', KEYS[1], 'attempt', 1)
redis.call('HSET', KEYS[1], 'state', 'running', 'lease_token', ARGV[1],
           'lease_deadline', stamp(now + tonumber(ARGV[2])),
           'worker', ARGV[3], 'started_at', stamp(now))
redis.call('ZADD', KEYS[4], now + tonumber(ARGV[2]), KEYS[1])
if job_status == 'queued' then
  redis.call('HSET', KEYS[2], 'started_at', stamp(now))
  log_status(KEYS[2], KEYS[3], 'running')
end
return {'claimed', tostring(attempt)}
""",
    "log_status",
    "finish_unclaimed",
)

# KEYS: trial, job, the leases set. ARGV: token, lease seconds, then field/value pairs to set
# with the renewal.
# Returns 0 when the caller lost the lease (nothing is written), 1 when it holds it, 2 when it
# holds it but the job was cancelled (the trial should stop).
RENEW_LEASE = lua("""
if redis.call('HGET', KEYS[1], 'state') ~= 'running' then return 0 end
if redis.call('HGET', KEYS[1], 'lease_token') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'lease_deadline', stamp(now + tonumber(ARGV[2])))
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[2]), KEYS[1])
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
local job_status = redis.call('HGET', KEYS[2], 'status')
if job_status == 'cancelled' or job_status == 'stopping' then return 2 end
return 1
""")

# KEYS: trial, the leases set. ARGV: token. A preempted trial (its worker is shutting down) goes
# back to the queue; the preemption does not count as an attempt. Returns 1 or 0.
RELEASE_TRIAL = lua("""
if redis.call('HGET', KEYS[1], 'state') ~= 'running' then return 0 end
if redis.call('HGET', KEYS[1], 'lease_token') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'state', 'queued', 'lease_deadline', '0', 'lease_token', '')
redis.call('ZREM', KEYS[2], KEYS[1])
redis.call('HINCRBY', KEYS[1], 'attempt', -1)
redis.call('HINCRBY', KEYS[1], 'preemptions', 1)
return 1
""")

# KEYS: trial, job, the leases set. ARGV: token, state, value ('' = none), then field/value
# pairs.
# Finishes the trial exactly once and keeps the job's best (completed trials only) up to date
# while its search goes on: a trial ending after a cancel (a stopping job ships the best it had)
# changes it no more. Returns 1 or 0.
FINISH_TRIAL = lua("""
if redis.call('HGET', KEYS[1], 'state') ~= 'running' then return 0 end
if redis.call('HGET', KEYS[1], 'lease_token') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'finished_at', stamp(now), 'lease_deadline', '0')
redis.call('ZREM', KEYS[3], KEYS[1])
for i = 4, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('HINCRBY', KEYS[2], 'trials_finished', 1)
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'value', ARGV[3]) end
local job_status = redis.call('HGET', KEYS[2], 'status')
local searching = job_status == 'queued' or job_status == 'running'
if ARGV[3] ~= '' and ARGV[2] == 'completed' and searching then
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
""")

# KEYS: job, status log, the tenant's jobs, the active-jobs set, the tenant's active jobs.
# ARGV: job id, tenant, the most unfinished jobs the tenant may have (0: no limit), the job's
# max duration in seconds ('' for none), then field/value pairs of the job.
# Creates the queued job unless the tenant is at its limit, in one step, so parallel
# submissions cannot pass it. Returns {1 (created) or 0 (refused), the tenant's active jobs}.
CREATE_JOB = lua(
    """
local active = redis.call('SCARD', KEYS[5])
local most = tonumber(ARGV[3])
if most > 0 and active >= most then return {0, active} end
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'tenant', ARGV[2], 'status', 'queued',
           'created_at', stamp(now))
for i = 5, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[1], 'deadline_at', stamp(now + tonumber(ARGV[4])))
end
redis.call('RPUSH', KEYS[2], 'queued@' .. stamp(now))
redis.call('ZADD', KEYS[3], now, ARGV[1])
redis.call('SADD', KEYS[4], ARGV[1])
redis.call('SADD', KEYS[5], ARGV[1])
return {1, active + 1}
"""
)

# KEYS: job, status log, active-jobs set, the tenant's active jobs, the leases set. ARGV: new
# status, comma-separated statuses it may move from, then field/value pairs. Returns 1 when the
# status changed, else 0. A finished job's finalization lease ends with it (a later
# finalize task finds none and does nothing; ``reopen`` waits while one is live).
SET_STATUS = lua(
    """
local current = redis.call('HGET', KEYS[1], 'status')
if not current then return redis.error_reply('NOJOB') end
if not string.find(',' .. ARGV[2] .. ',', ',' .. current .. ',', 1, true) then return 0 end
log_status(KEYS[1], KEYS[2], ARGV[1])
if ARGV[1] == 'succeeded' or ARGV[1] == 'failed' or ARGV[1] == 'cancelled' then
  redis.call('HSET', KEYS[1], 'finished_at', stamp(now))
  redis.call('SREM', KEYS[3], redis.call('HGET', KEYS[1], 'id'))
  redis.call('SREM', KEYS[4], redis.call('HGET', KEYS[1], 'id'))
  redis.call('ZREM', KEYS[5], KEYS[1] .. ':finalize')
  redis.call('HDEL', KEYS[1], 'finalize_deadline')
end
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
return 1
""",
    "log_status",
)

# KEYS: job, status log, active-jobs set, the tenant's active jobs, the leases set. ARGV: trial
# key prefix, reason, '1' to ship the best trial so far (refit it) or '0'.
# Stops an active job: queued trials cancelled; running trials see it at their next lease
# renewal and stop. With a best trial to ship, the job goes to 'stopping' (it stays active, for
# the finalization that refits the best and ends it cancelled); else, or when a stopping job is
# cancelled without the refit, straight to 'cancelled'. Returns {the job's status afterwards,
# 1 if this call changed it else 0}.
CANCEL_JOB = lua(
    """
local current = redis.call('HGET', KEYS[1], 'status')
if not current then return redis.error_reply('NOJOB') end
local ship = ARGV[3] == '1' and (redis.call('HGET', KEYS[1], 'best_trial') or '') ~= ''
if current == 'stopping' and ship then return {current, 0} end
if current ~= 'queued' and current ~= 'running' and current ~= 'stopping' then
  return {current, 0}
end
local created = tonumber(redis.call('HGET', KEYS[1], 'trials_created') or '0')
for n = 0, created - 1 do
  local trial = ARGV[1] .. n
  if redis.call('HGET', trial, 'state') == 'queued' then
    redis.call('HSET', trial, 'state', 'cancelled', 'error', ARGV[2], 'finished_at', stamp(now))
    redis.call('HINCRBY', KEYS[1], 'trials_finished', 1)
  end
end
redis.call('HSET', KEYS[1], 'stop_reason', ARGV[2])
if ship then
  log_status(KEYS[1], KEYS[2], 'stopping')
  return {'stopping', 1}
end
log_status(KEYS[1], KEYS[2], 'cancelled')
redis.call('HSET', KEYS[1], 'finished_at', stamp(now))
redis.call('SREM', KEYS[3], redis.call('HGET', KEYS[1], 'id'))
redis.call('SREM', KEYS[4], redis.call('HGET', KEYS[1], 'id'))
redis.call('ZREM', KEYS[5], KEYS[1] .. ':finalize')
return {'cancelled', 1}
""",
    "log_status",
)

# KEYS: job, the leases set. ARGV: lease seconds. True for one caller at a time: finalization
# holds a lease so that a finalizer that died can be replaced (the sweep asks again once it
# expired).
CLAIM_FINALIZE = lua("""
local deadline = tonumber(redis.call('HGET', KEYS[1], 'finalize_deadline') or '0')
if deadline > now then return 0 end
redis.call('HSET', KEYS[1], 'finalize_deadline', stamp(now + tonumber(ARGV[1])))
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[1]), KEYS[1] .. ':finalize')
return 1
""")

# KEYS: lock. ARGV: token. Deletes the lock only if the caller still holds it.
RELEASE_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# KEYS: job, status log, and optionally an API key's record and its request counter.
# ARGV: trial key prefix, the tag the caller last read ('' for none), then (with a counter) the
# request's cost, the most per window and the window (ms). One round trip for the job as the
# API shows it: the job, its status log, its best trial without the curves (the view does not
# show them), the key's stored digest and tenant, the request counted against the key (only
# when the key exists): {allowed, ms until the window ends}, and the tag: a digest of all that
# the view is made from (the job's fields and the length of its status log, which only grows;
# the best trial is a finished one, which never changes). When it is the tag the caller sent,
# the job's parts come back empty: the caller still holds what they would render to. The key's
# keys lie outside the job's hash slot: right for one Redis (and Sentinel), which is what tuneq
# runs on, not for Redis Cluster.
READ_JOB = lua(
    """
local job = redis.call('HGETALL', KEYS[1])
local key = {}
local verdict = {1, 0}
if KEYS[3] then key = redis.call('HMGET', KEYS[3], 'digest', 'tenant') end
if KEYS[4] and key[1] then
  verdict = take(KEYS[4], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]))
end
local tag = ''
if #job > 0 then tag = redis.sha1hex(redis.call('LLEN', KEYS[2]) .. cjson.encode(job)) end
if tag ~= '' and tag == ARGV[2] then return {{}, {}, {}, key, verdict, tag} end
local log = redis.call('LRANGE', KEYS[2], 0, -1)
local best = {}
local number = redis.call('HGET', KEYS[1], 'best_trial')
if number and number ~= '' then
  local raw = redis.call('HGETALL', ARGV[1] .. number)
  for i = 1, #raw, 2 do
    if raw[i] ~= 'history' then
      best[#best + 1] = raw[i]
      best[#best + 1] = raw[i + 1]
    end
  end
end
return {job, log, best, key, verdict, tag}
""",
    "take",
)

# KEYS: the tenant's datasets, the tenant's stored bytes, the dataset's description, its data,
# its tenants. ARGV: dataset id, tenant, the tenant's entry, size, the most datasets and the most
# bytes a tenant may hold, the description, the data. Stores a new dataset for the tenant within
# both limits. Returns {1, ''} when stored, {0, entry} when the tenant holds it already,
# {-1, ''} at the most datasets, {-2, bytes held} over the most bytes.
PUT_DATASET = """
local existing = redis.call('HGET', KEYS[1], ARGV[1])
if existing then return {0, existing} end
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[5]) then return {-1, ''} end
local held = tonumber(redis.call('GET', KEYS[2]) or '0')
if held + tonumber(ARGV[4]) > tonumber(ARGV[6]) then return {-2, tostring(held)} end
redis.call('SET', KEYS[4], ARGV[8])
redis.call('HSET', KEYS[3], 'meta', ARGV[7], 'size', ARGV[4])
redis.call('SADD', KEYS[5], ARGV[2])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('INCRBY', KEYS[2], ARGV[4])
return {1, ''}
"""

# KEYS: the tenant's datasets, the dataset's tenants, the dataset's description, its data, the
# tenant's stored bytes. ARGV: dataset id, tenant. Drops the tenant's reference (and its bytes)
# and, with the last one, the data. Returns -1 when the tenant held none, 1 when the data went
# too, else 0.
RELEASE_DATASET = """
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return -1 end
redis.call('SREM', KEYS[2], ARGV[2])
local size = tonumber(redis.call('HGET', KEYS[3], 'size') or '0')
local held = tonumber(redis.call('GET', KEYS[5]) or '0')
redis.call('SET', KEYS[5], math.max(0, held - size))
if redis.call('SCARD', KEYS[2]) == 0 then
  redis.call('DEL', KEYS[3], KEYS[4])
  return 1
end
return 0
"""

# KEYS: the caller's open streams. ARGV: stream id, most streams, seconds until it lapses.
# Drops streams that lapsed, then opens this one if the caller has fewer than the most.
# Returns 1 when opened, else 0.
OPEN_STREAM = lua("""
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[3])) + 60)
return 1
""")

# KEYS: a counter. ARGV: the cost, the most per window, the window (ms). Counts the cost unless
# that would pass the most; returns {1 (counted) or 0 (refused), ms until the window ends}.
TAKE = lua(
    """
return take(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]))
""",
    "take",
)

# KEYS: an API key's record, its request counter. ARGV: as TAKE. Finds the key and, when it
# exists, counts the request against it: {digest, tenant, counted, ms until the window ends}
# (digest and tenant empty for an unknown key, which is counted nowhere).
AUTHENTICATE = lua(
    """
local key = redis.call('HMGET', KEYS[1], 'digest', 'tenant')
if not key[1] then return {'', '', 0, 0} end
local verdict = take(KEYS[2], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]))
return {key[1], key[2], verdict[1], verdict[2]}
""",
    "take",
)
