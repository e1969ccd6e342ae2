"""
The Lua scripts of the relay mode: each change of shared state, atomic.

A relay acts only while it holds the lease, and it proves that on every
change it makes: the acknowledgement, the claim, the read, the trim,
the status write, the watches' state, the floor's state, the boards'
and threads' ids and the end of a mute each run in a script that first
checks the lease still holds the relay's own value (its id and its
*fencing token*, a number that grows with each new lease). A relay that
stalled past its lease and woke up again finds another value there, and
its script does nothing.
Discord itself cannot be fenced: the batch such a relay had on its way
may arrive twice, and nothing more.

The producers' append is a script too, so that trimming the stream to
its bound and counting the unread entries it removed are one step.
"""

from __future__ import annotations

__all__ = [
    "ACK",
    "ACQUIRE",
    "APPEND",
    "CLAIM",
    "FORGET_PLACES",
    "READ",
    "READ_FLOOR",
    "RELEASE",
    "RENEW",
    "SAVE_FLOOR",
    "SAVE_PLACE",
    "SAVE_WATCHING",
    "TIDY",
    "WRITE_STATUS",
]

#: True when the lease (KEYS[1]) holds ARGV[1]; scripts below start so.
_FENCED = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return false
end
"""

#: The last id the group (ARGV[2] of its caller) was given, or '0-0'.
_LAST_DELIVERED = """
local function last_delivered(stream, group)
  local ok, groups = pcall(redis.call, 'XINFO', 'GROUPS', stream)
  if not ok then
    return '0-0'
  end
  for _, g in ipairs(groups) do
    local name, last
    for k = 1, #g, 2 do
      if g[k] == 'name' then
        name = g[k + 1]
      elseif g[k] == 'last-delivered-id' then
        last = g[k + 1]
      end
    end
    if name == group then
      return last
    end
  end
  return '0-0'
end

local function after(a, b)
  local ams, aseq = string.match(a, '^(%d+)-(%d+)$')
  local bms, bseq = string.match(b, '^(%d+)-(%d+)$')
  ams, bms = tonumber(ams), tonumber(bms)
  if ams ~= bms then
    return ams > bms
  end
  return tonumber(aseq) > tonumber(bseq)
end
"""

#: Producers: KEYS stream, counters; ARGV bound, group, fields per
#: entry, then the entries' fields and values, flat. Appends them in
#: order, trims the stream to the bound, and adds the entries it trimmed
#: that the group had not read to the ``trimmed`` counter. Returns the
#: number trimmed unread.
APPEND = (
    _LAST_DELIVERED
    + """
local bound = tonumber(ARGV[1])
local per = tonumber(ARGV[3])
for i = 4, #ARGV, per do
  redis.call('XADD', KEYS[1], '*', unpack(ARGV, i, i + per - 1))
end
local over = redis.call('XLEN', KEYS[1]) - bound
if over <= 0 then
  return 0
end
local last = last_delivered(KEYS[1], ARGV[2])
local unread = 0
local oldest = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', over)
for _, entry in ipairs(oldest) do
  if after(entry[1], last) then
    unread = unread + 1
  end
end
redis.call('XTRIM', KEYS[1], 'MAXLEN', bound)
if unread > 0 then
  redis.call('HINCRBY', KEYS[2], 'trimmed', unread)
end
return unread
"""
)

#: KEYS lease, fence; ARGV relay id, TTL in ms. Takes the lease if it is
#: free, or this relay's own from before (a session that failed), with a
#: new fencing token; returns its value, or ``false``.
ACQUIRE = """
local held = redis.call('GET', KEYS[1])
if held and string.sub(held, 1, #ARGV[1] + 1) ~= ARGV[1] .. '|' then
  return false
end
local value = ARGV[1] .. '|' .. redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], value, 'PX', ARGV[2])
return value
"""

#: KEYS lease; ARGV the lease's value, TTL in ms: 1 if still ours.
RENEW = (
    _FENCED
    + """
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""
)

#: KEYS lease; ARGV the lease's value: give it up now, if still ours.
RELEASE = (
    _FENCED
    + """
redis.call('DEL', KEYS[1])
return 1
"""
)

#: KEYS lease, stream; ARGV the lease's value, group, ids. The number
#: acknowledged, or ``false`` when the lease is not ours.
ACK = (
    _FENCED
    + """
return redis.call('XACK', KEYS[2], ARGV[2], unpack(ARGV, 3))
"""
)

#: KEYS lease, stream; ARGV the lease's value, group, consumer, start,
#: count. Moves pending entries of any consumer to this one (how a new
#: relay takes over what the old one left); XAUTOCLAIM's answer.
CLAIM = (
    _FENCED
    + """
return redis.call('XAUTOCLAIM', KEYS[2], ARGV[2], ARGV[3], 0, ARGV[4],
                  'COUNT', ARGV[5])
"""
)

#: KEYS lease, stream; ARGV the lease's value, group, consumer, count,
#: id ('>' for new entries, an id for this consumer's pending ones).
#: XREADGROUP's answer without waiting; a script cannot block, so the
#: relay waits with a plain XREAD when there was nothing.
READ = (
    _FENCED
    + """
local read = redis.call('XREADGROUP', 'GROUP', ARGV[2], ARGV[3],
                        'COUNT', ARGV[4], 'STREAMS', KEYS[2], ARGV[5])
if not read then
  return {}  -- nothing new; false would read as a lost lease
end
return read
"""
)

#: KEYS lease, stream, floor meta; ARGV the lease's value, group, and
#: ``1`` when the relay keeps the floor's state. Trims what every relay
#: is done with: entries older than the oldest pending one (or up to the
#: last one read, when none is pending), and, keeping the floor's state,
#: not past its cursor (entries it has yet to apply stay). Returns the
#: number trimmed.
TIDY = (
    _FENCED
    + _LAST_DELIVERED
    + """
local function next_id(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return ms .. '-' .. (tonumber(seq) + 1)
end
local pending = redis.call('XPENDING', KEYS[2], ARGV[2])
local keep = pending[2]
if not keep then
  keep = next_id(last_delivered(KEYS[2], ARGV[2]))
end
if ARGV[3] == '1' then
  local cursor = redis.call('HGET', KEYS[3], 'cursor')
  if cursor and string.match(cursor, '^%d+-%d+$') then
    local floor = next_id(cursor)
    if after(keep, floor) then
      keep = floor
    end
  end
end
return redis.call('XTRIM', KEYS[2], 'MINID', keep)
"""
)

#: KEYS lease, status; ARGV the lease's value, then fields and values.
WRITE_STATUS = (
    _FENCED
    + """
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], unpack(ARGV, 2))
return 1
"""
)

#: KEYS lease, watching, stream; ARGV the lease's value, the save's
#: batch, the state, the fields per entry, then each output entry's
#: fields and values, flat. Stores the watches' and digests' state (the
#: hash's ``state``) and appends what they made to the stream, in one
#: step: an output is in the stream exactly when the saved state says it
#: was made. A batch stored already (a try whose answer was lost) is not
#: stored again. 1 (2 for a batch stored already), or ``false`` when
#: the lease is not ours.
SAVE_WATCHING = (
    _FENCED
    + """
if redis.call('HGET', KEYS[2], 'batch') == ARGV[2] then
  return 2
end
redis.call('HSET', KEYS[2], 'state', ARGV[3], 'batch', ARGV[2])
local per = tonumber(ARGV[4])
for i = 5, #ARGV, per do
  redis.call('XADD', KEYS[3], '*', unpack(ARGV, i, i + per - 1))
end
return 1
"""
)

#: KEYS lease, places; ARGV the lease's value, the place's field, its
#: value. Keeps one board's or thread's id; 1, or ``false`` when the
#: lease is not ours.
SAVE_PLACE = (
    _FENCED
    + """
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
return 1
"""
)

#: KEYS lease, places; ARGV the lease's value, then one or more fields.
#: Forgets those places; the number forgotten, or ``false`` when the
#: lease is not ours.
FORGET_PLACES = (
    _FENCED
    + """
return redis.call('HDEL', KEYS[2], unpack(ARGV, 2))
"""
)

#: KEYS stream; ARGV after (an entry id), count. Reads only, so it is
#: not fenced: up to *count* entries after *after*, with what tells how
#: many entries were ever removed from the stream's front, in one step:
#: ``{entries, entries-added, length}`` (-1 for the entries added on
#: Redis before 7.0, which does not say; no stream: no entries).
READ_FLOOR = """
local ok, info = pcall(redis.call, 'XINFO', 'STREAM', KEYS[1])
if not ok then
  return {{}, -1, 0}
end
local added, length = -1, 0
for k = 1, #info, 2 do
  if info[k] == 'entries-added' then
    added = info[k + 1]
  elseif info[k] == 'length' then
    length = info[k + 1]
  end
end
local read = redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+',
                        'COUNT', ARGV[2])
return {read, added, length}
"""

#: KEYS lease, floor meta, then the hashes changed; ARGV the lease's
#: value, the cursor the changes were made on (``''``: none yet), the
#: number of meta fields, those fields and values (the new cursor among
#: them), then for each hash changed: the number of fields set (``-1``:
#: delete the hash first, and set none), the number deleted, the fields
#: and values set, the fields deleted. Saves the floor's state's
#: changes and its cursor in one step, only on the state they were made
#: on (the meta's cursor is still the one given: no other relay saved
#: since). 1, 0 when another save came first, or ``false`` when the
#: lease is not ours.
SAVE_FLOOR = (
    _FENCED
    + """
if (redis.call('HGET', KEYS[2], 'cursor') or '') ~= ARGV[2] then
  return 0
end
local function each(command, key, first, last, step)
  for i = first, last, step do
    redis.call(command, key, unpack(ARGV, i, math.min(i + step - 1, last)))
  end
end
local metas = tonumber(ARGV[3])
each('HSET', KEYS[2], 4, 3 + 2 * metas, 200)
local i = 4 + 2 * metas
for k = 3, #KEYS do
  local sets, dels = tonumber(ARGV[i]), tonumber(ARGV[i + 1])
  i = i + 2
  if sets < 0 then
    redis.call('DEL', KEYS[k])
    sets = 0
  end
  each('HSET', KEYS[k], i, i + 2 * sets - 1, 200)
  i = i + 2 * sets
  each('HDEL', KEYS[k], i, i + dels - 1, 100)
  i = i + dels
end
return 1
"""
)
