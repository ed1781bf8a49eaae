"""The Lua scripts of the fleet: each one atomic read-modify-write in Redis."""

from __future__ import annotations

# KEYS: pause, bucket... ARGV: max_wait_ms, ttl_ms, then per bucket 9 numbers:
# rate r/i/o (per ms, 0 = unlimited), burst r/i/o, amount r/i/o.
# Returns {granted (1/0), wait_ms}. Levels may go negative (reserve before
# waiting), so callers are served in the order they asked. A call sent
# ``wait`` from now takes its amount from the level it will have then, capped
# at the burst: a bucket does not fill beyond its burst while a call waits
# (for a pause, or for another bucket), so calls that asked during a 429's
# pause leave it one interval apart instead of all at once.
ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local wait = 0
local pause = tonumber(redis.call('GET', KEYS[1]) or '0')
if pause > now then wait = pause - now end
local maxwait = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local dims = {'r', 'i', 'o'}
local levels = {}
for b = 2, #KEYS do
  local base = 2 + (b - 2) * 9
  local stamp = tonumber(redis.call('HGET', KEYS[b], 't') or now)
  levels[b] = {}
  for d = 1, 3 do
    local rate = tonumber(ARGV[base + d])
    local burst = tonumber(ARGV[base + 3 + d])
    local amount = tonumber(ARGV[base + 6 + d])
    local level = tonumber(redis.call('HGET', KEYS[b], dims[d]) or burst)
    if rate > 0 then
      level = math.min(burst, level + (now - stamp) * rate)
      local deficit = amount - level
      if deficit > 0 then wait = math.max(wait, deficit / rate) end
    end
    levels[b][d] = {level, amount, rate}
  end
end
if wait > maxwait then return {0, math.floor(wait)} end
for b = 2, #KEYS do
  for d = 1, 3 do
    local l = levels[b][d]
    if l[3] > 0 then
      local burst = tonumber(ARGV[2 + (b - 2) * 9 + 3 + d])
      local level = math.min(l[1], burst - wait * l[3])
      redis.call('HSET', KEYS[b], dims[d], tostring(level - l[2]))
    end
  end
  redis.call('HSET', KEYS[b], 't', now)
  redis.call('PEXPIRE', KEYS[b], ttl)
end
return {1, math.floor(wait)}
"""

# KEYS: bucket... ARGV: per bucket: burst_o, amount_o. Subtracting without a
# refill is exact: the next ACQUIRE refills from the bucket's stamp, and the
# refill over an interval does not depend on when in it the tokens were spent.
SETTLE = """
for b = 1, #KEYS do
  local burst = tonumber(ARGV[(b - 1) * 2 + 1])
  local amount = tonumber(ARGV[(b - 1) * 2 + 2])
  local level = tonumber(redis.call('HGET', KEYS[b], 'o') or burst)
  redis.call('HSET', KEYS[b], 'o', tostring(level - amount))
end
return 1
"""

# KEYS: pause. ARGV: pause_ms. Returns ms the pause lasts from now.
PAUSE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local want = now + tonumber(ARGV[1])
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if want > cur then
  redis.call('SET', KEYS[1], want, 'PX', math.max(1, tonumber(ARGV[1])))
  cur = want
end
return math.max(0, cur - now)
"""

# KEYS: counters, limits, held, reserved, meta, settled.
# ARGV: call id, tokens, micro_usd, role.
# Returns {1, ''} when booked (or already known), {0, budget, used, held, limit}.
RESERVE = """
if redis.call('SISMEMBER', KEYS[6], ARGV[1]) == 1
   or redis.call('HEXISTS', KEYS[4], ARGV[1]) == 1 then
  return {1, ''}
end
local wants = {tokens = tonumber(ARGV[2]), cost_micro_usd = tonumber(ARGV[3])}
for _, name in ipairs({'cost_micro_usd', 'tokens'}) do
  local limit = redis.call('HGET', KEYS[2], name)
  if limit then
    local used = tonumber(redis.call('HGET', KEYS[1], name) or '0')
    local held = tonumber(redis.call('HGET', KEYS[3], name) or '0')
    if used + held + wants[name] > tonumber(limit) then
      redis.call('HSETNX', KEYS[5], 'crossed_budget', name)
      return {0, name, used, held, tonumber(limit)}
    end
  end
end
local t = redis.call('TIME')
redis.call('HINCRBY', KEYS[3], 'tokens', ARGV[2])
redis.call('HINCRBY', KEYS[3], 'cost_micro_usd', ARGV[3])
redis.call('HSET', KEYS[4], ARGV[1], ARGV[2] .. ':' .. ARGV[3] .. ':' .. t[1] .. ':' .. ARGV[4])
return {1, ''}
"""

# KEYS: counters, held, reserved, settled.
# ARGV: call id, count (1: settle/record, 0: release), role, input, output, micro, cached.
# Returns 1 if the call was counted now, else 0.
SETTLE_CALL = """
local r = redis.call('HGET', KEYS[3], ARGV[1])
if r then
  local tokens, micro = string.match(r, '^(%d+):(%d+):')
  redis.call('HINCRBY', KEYS[2], 'tokens', 0 - tonumber(tokens))
  redis.call('HINCRBY', KEYS[2], 'cost_micro_usd', 0 - tonumber(micro))
  redis.call('HDEL', KEYS[3], ARGV[1])
end
if ARGV[2] == '0' then return 0 end
if redis.call('SADD', KEYS[4], ARGV[1]) == 0 then return 0 end
local input, output, micro = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local prefix = 'llm:' .. ARGV[3] .. ':'
redis.call('HINCRBY', KEYS[1], 'tokens', input + output)
redis.call('HINCRBY', KEYS[1], 'cost_micro_usd', micro)
redis.call('HINCRBY', KEYS[1], prefix .. 'input_tokens', input)
redis.call('HINCRBY', KEYS[1], prefix .. 'output_tokens', output)
redis.call('HINCRBY', KEYS[1], prefix .. 'micro_usd', micro)
if ARGV[7] == '1' then
  redis.call('HINCRBY', KEYS[1], prefix .. 'cached_calls', 1)
else
  redis.call('HINCRBY', KEYS[1], prefix .. 'calls', 1)
end
return 1
"""

# KEYS: index, entry. ARGV: ttl_ms, max_entries, value, keep ('1': an existing
# entry stays). Drops index members older than the TTL (their entries have
# expired), stores the entry, then evicts the oldest beyond the cap.
# Returns the entries kept (-1: kept the existing one).
CACHE_PUT = """
if ARGV[4] == '1' and redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - ttl)
redis.call('SET', KEYS[2], ARGV[3], 'PX', ttl)
redis.call('ZADD', KEYS[1], now, KEYS[2])
local over = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[2])
if over > 0 then
  local old = redis.call('ZPOPMIN', KEYS[1], over)
  for i = 1, #old, 2 do redis.call('DEL', old[i]) end
end
return redis.call('ZCARD', KEYS[1])
"""
