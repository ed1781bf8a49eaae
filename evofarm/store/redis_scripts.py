"""The Lua scripts of the Redis store: each is one atomic read-modify-write.

Redis runs a script without interleaving any other command, which is what makes
the counts, budgets, transitions and checkpoints exact across processes. Every
script touches the keys of one campaign only (one hash tag, :mod:`evofarm.keys`),
so each runs on one shard of a Redis Cluster.
"""

from __future__ import annotations

# KEYS: meta. ARGV: spec, status, now, info field/value pairs...
# Only the campaign's own key, so it stays one slot under Redis Cluster; the
# global campaign index is updated apart (see RedisStore.create_campaign).
CREATE = """
if redis.call('HEXISTS', KEYS[1], 'status') == 1 then return 0 end
redis.call('HSET', KEYS[1], 'spec', ARGV[1], 'status', ARGV[2], 'reason', '',
           'created_at', ARGV[3], 'updated_at', ARGV[3])
for i = 4, #ARGV, 2 do redis.call('HSET', KEYS[1], 'info:' .. ARGV[i], ARGV[i + 1]) end
return 1
"""

# KEYS: meta. ARGV: to, reason, now, allowed-from...
TRANSITION = """
local cur = redis.call('HGET', KEYS[1], 'status')
if not cur then return -1 end
for i = 4, #ARGV do
  if cur == ARGV[i] then
    redis.call('HSET', KEYS[1], 'status', ARGV[1], 'reason', ARGV[2], 'updated_at', ARGV[3])
    return 1
  end
end
return 0
"""

# Budgets crossed are checked in the same script that counts, so no evaluation
# can slip between counting and checking. Names are sorted so that, if two
# budgets are crossed by one evaluation, the flagged one does not depend on
# hash iteration order.
CHECK_BUDGETS = """
local function check_budgets(counters, limits, meta)
  local flat = redis.call('HGETALL', limits)
  local names = {}
  for i = 1, #flat, 2 do names[#names + 1] = flat[i] end
  table.sort(names)
  for _, name in ipairs(names) do
    local used = tonumber(redis.call('HGET', counters, name) or '0')
    if used >= tonumber(redis.call('HGET', limits, name)) then
      redis.call('HSETNX', meta, 'crossed_budget', name)
    end
  end
  return redis.call('HGET', meta, 'crossed_budget') or ''
end
"""

# KEYS: eval, eval index, counters, limits, meta.
# ARGV: doc, index member, tokens, cost, failed (0/1), case runs, partial (0/1).
RECORD = (
    CHECK_BUDGETS
    + """
local recorded = 0
if redis.call('SET', KEYS[1], ARGV[1], 'NX') then
  recorded = 1
  redis.call('SADD', KEYS[2], ARGV[2])
  local partial = ARGV[7] == '1'
  if not partial then redis.call('HINCRBY', KEYS[3], 'evaluations', 1) end
  redis.call('HINCRBY', KEYS[3], 'tokens', ARGV[3])
  redis.call('HINCRBY', KEYS[3], 'cost_micro_usd', ARGV[4])
  if ARGV[6] ~= '0' then redis.call('HINCRBY', KEYS[3], 'case_runs', ARGV[6]) end
  if ARGV[5] == '1' and not partial then redis.call('HINCRBY', KEYS[3], 'failures', 1) end
else
  redis.call('HINCRBY', KEYS[3], 'duplicates', 1)
end
return {recorded, check_budgets(KEYS[3], KEYS[4], KEYS[5])}
"""
)

# KEYS: reserved, limits. ARGV: name, amount.
RESERVE = """
local limit = redis.call('HGET', KEYS[2], ARGV[1])
local amount = tonumber(ARGV[2])
if limit then
  local cur = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
  if cur + amount > tonumber(limit) then return 0 end
end
redis.call('HINCRBY', KEYS[1], ARGV[1], amount)
return 1
"""

# KEYS: checkpoint, latest, history. ARGV: state, generation, history entries...
CHECKPOINT = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX') then return 0 end
local latest = tonumber(redis.call('GET', KEYS[2]) or '-1')
if tonumber(ARGV[2]) > latest then redis.call('SET', KEYS[2], ARGV[2]) end
for i = 3, #ARGV do redis.call('RPUSH', KEYS[3], ARGV[i]) end
return 1
"""

# KEYS: lease. ARGV: owner, ttl ms.
LEASE = """
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""

# KEYS: lease. ARGV: owner.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
"""
