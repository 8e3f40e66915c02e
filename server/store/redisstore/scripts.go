package redisstore

import "github.com/redis/go-redis/v9"

// prelude is shared by the scripts: ARGV[1] is the key prefix.
const prelude = `
local P = ARGV[1]
local ST = P .. 'stats'
local OVERHEAD = 96
local function mk(room) return P .. 'm:{' .. room .. '}' end
local function hk(room) return P .. 'h:{' .. room .. '}' end
local function ik(uid) return P .. 'i:{' .. uid .. '}' end
local function dk(uid) return P .. 'd:{' .. uid .. '}' end
-- parse returns a stored entry's seq (or id), time and size.
local function parse(m)
  local s, t, hl = string.match(m, '^(%d+):(%-?%d+):%d+:()')
  return tonumber(s), tonumber(t), #m - hl + 1 + OVERHEAD
end
-- front refreshes room's place in the indexes of rooms with history,
-- and the time of its oldest message in its meta hash (ots).
local function front(room)
  local f = redis.call('ZRANGE', hk(room), 0, 0)
  if #f == 0 then
    redis.call('ZREM', P .. 'rooms', room)
    redis.call('ZREM', P .. 'oldest', room)
    redis.call('HDEL', mk(room), 'ots')
  else
    local _, t = parse(f[1])
    redis.call('ZADD', P .. 'oldest', t, room)
    redis.call('HSET', mk(room), 'ots', t)
  end
end
-- popOldest drops room's oldest message; false when it holds none.
local function popOldest(room)
  local r = redis.call('ZPOPMIN', hk(room))
  if #r == 0 then return false end
  local _, _, sz = parse(r[1])
  redis.call('HINCRBY', mk(room), 'count', -1)
  redis.call('HINCRBY', mk(room), 'bytes', -sz)
  redis.call('HINCRBY', ST, 'messages', -1)
  redis.call('HINCRBY', ST, 'bytes', -sz)
  front(room)
  return true
end
-- trimAge drops room's messages published before cutoff (0: none).
local function trimAge(room, cutoff)
  if cutoff == 0 then return 0 end
  local n = 0
  while true do
    local f = redis.call('ZRANGE', hk(room), 0, 0)
    if #f == 0 then break end
    local _, t = parse(f[1])
    if t >= cutoff then break end
    popOldest(room)
    n = n + 1
  end
  if n > 0 then redis.call('HINCRBY', ST, 'trimmed', n) end
  return n
end
-- head returns room's summary: epoch, seq, oldest, count, bytes.
local function head(room)
  local h = redis.call('HMGET', mk(room), 'epoch', 'seq', 'count', 'bytes')
  local oldest = 0
  local f = redis.call('ZRANGE', hk(room), 0, 0)
  if #f > 0 then oldest = parse(f[1]) end
  return {h[1] or '', tonumber(h[2] or 0), oldest, tonumber(h[3] or 0), tonumber(h[4] or 0)}
end
-- expireInbox drops uid's inbox messages sent before cutoff.
local function dropInbox(uid, m)
  local _, _, sz = parse(m)
  redis.call('ZREM', ik(uid), m)
  redis.call('HINCRBY', ST, 'inbox_messages', -1)
  redis.call('HINCRBY', ST, 'inbox_bytes', -sz)
end
local function expireInbox(uid, cutoff)
  local n = 0
  while true do
    local f = redis.call('ZRANGE', ik(uid), 0, 0)
    if #f == 0 then break end
    local _, t = parse(f[1])
    if t >= cutoff then break end
    dropInbox(uid, f[1])
    n = n + 1
  end
  if n > 0 then redis.call('HINCRBY', ST, 'inbox_expired', n) end
  return n
end
-- tidyInbox forgets uid's inbox once it is empty.
local function tidyInbox(uid)
  if redis.call('EXISTS', ik(uid)) == 0 then
    redis.call('DEL', dk(uid))
    redis.call('SREM', P .. 'inboxes', uid)
  end
end
`

// appendScript: ARGV prefix, room, ts, from, data, epoch, retention
// count, age cutoff (0: none), MaxBytes (0: none), MaxRooms (0: none),
// then the Publish: channel ("" for none), head, meta. It returns seq,
// epoch, messages evicted by size, rooms forgotten.
//
// It is the hot path, so it reads the room's meta hash once, keeps the
// changes in locals and writes them once: about 7 Redis calls per append,
// 10 once the room is at its retention (one trimmed per append).
var appendScript = redis.NewScript(prelude + `
local room, ts, from, data = ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
local keep, cutoff = tonumber(ARGV[7]), tonumber(ARGV[8])
local maxBytes, maxRooms = tonumber(ARGV[9]), tonumber(ARGV[10])
local meta, hist = mk(room), hk(room)
local h = redis.call('HMGET', meta, 'epoch', 'seq', 'count', 'bytes', 'ots')
local epoch, seq = h[1], tonumber(h[2] or 0)
local count, bytes, ots = tonumber(h[3] or 0), tonumber(h[4] or 0), tonumber(h[5])
local forgot = 0
if not epoch then
  epoch = ARGV[6]
  if maxRooms > 0 then
    local known = redis.call('ZCARD', P .. 'known')
    if known >= maxRooms then
      local idle = redis.call('ZRANGE', P .. 'known', 0, math.max(1, math.floor(known / 100)) - 1)
      local msgs = 0
      for _, r in ipairs(idle) do
        local rh = redis.call('HMGET', mk(r), 'count', 'bytes')
        local c, b = tonumber(rh[1] or 0), tonumber(rh[2] or 0)
        -- (a room without history has 0 of each: Redis refuses "-0")
        if c ~= 0 then redis.call('HINCRBY', ST, 'messages', -c) end
        if b ~= 0 then redis.call('HINCRBY', ST, 'bytes', -b) end
        msgs = msgs + c
        redis.call('DEL', mk(r), hk(r))
        redis.call('ZREM', P .. 'known', r)
        redis.call('ZREM', P .. 'rooms', r)
        redis.call('ZREM', P .. 'oldest', r)
      end
      redis.call('HINCRBY', ST, 'evicted', msgs)
      forgot = #idle
    end
  end
end
seq = seq + 1
redis.call('ZADD', P .. 'known', ts, room)
local dm, db, trimmed, refront = 0, 0, 0, false
if keep > 0 then
  local sz = #from + #data + OVERHEAD
  redis.call('ZADD', hist, seq, seq .. ':' .. ARGV[3] .. ':' .. #from .. ':' .. from .. data)
  if count == 0 then
    redis.call('ZADD', P .. 'rooms', 0, room)
    ots = ts
    redis.call('ZADD', P .. 'oldest', ts, room)
  end
  count, bytes, dm, db = count + 1, bytes + sz, 1, sz
end
-- pop drops the room's n oldest messages.
local function pop(n)
  local r = redis.call('ZPOPMIN', hist, n)
  for i = 1, #r, 2 do
    local _, _, sz = parse(r[i])
    count, bytes, dm, db, trimmed = count - 1, bytes - sz, dm - 1, db - sz, trimmed + 1
  end
  refront = true
  return #r > 0
end
if count > keep then pop(count - keep) end
if cutoff > 0 and count > 0 then
  while true do
    if refront or not ots then
      local f = redis.call('ZRANGE', hist, 0, 0)
      if #f == 0 then count, bytes, ots = 0, 0, nil break end
      local _, t = parse(f[1])
      ots, refront = t, false
    end
    if ots >= cutoff or not pop(1) then break end
  end
end
if refront then
  local f = redis.call('ZRANGE', hist, 0, 0)
  if #f == 0 then ots = nil else local _, t = parse(f[1]) ots = t end
end
if trimmed > 0 then
  if ots then
    redis.call('ZADD', P .. 'oldest', ots, room)
  else
    redis.call('ZREM', P .. 'rooms', room)
    redis.call('ZREM', P .. 'oldest', room)
  end
end
if ots then
  redis.call('HSET', meta, 'epoch', epoch, 'seq', seq, 'count', count, 'bytes', bytes, 'ots', ots)
else
  redis.call('HSET', meta, 'epoch', epoch, 'seq', seq, 'count', count, 'bytes', bytes)
  if h[5] then redis.call('HDEL', meta, 'ots') end
end
if dm ~= 0 then redis.call('HINCRBY', ST, 'messages', dm) end
local total = 0
if db ~= 0 then total = redis.call('HINCRBY', ST, 'bytes', db) elseif maxBytes > 0 then total = tonumber(redis.call('HGET', ST, 'bytes') or 0) end
if trimmed > 0 then redis.call('HINCRBY', ST, 'trimmed', trimmed) end
local evicted = 0
if maxBytes > 0 and total > maxBytes then
  local target = maxBytes - math.floor(maxBytes / 10)
  while tonumber(redis.call('HGET', ST, 'bytes') or 0) > target do
    local o = redis.call('ZRANGE', P .. 'oldest', 0, 0)
    if #o == 0 then break end
    popOldest(o[1])
    evicted = evicted + 1
  end
  if evicted > 0 then redis.call('HINCRBY', ST, 'evicted', evicted) end
end
if ARGV[11] ~= '' then
  local sq = tostring(seq)
  redis.call('PUBLISH', ARGV[11], ARGV[12] .. #sq .. ':' .. sq .. #epoch .. ':' .. epoch ..
    ARGV[13] .. #from .. ':' .. from .. #data .. ':' .. data)
end
return {seq, epoch, evicted, forgot}
`)

// headScript: ARGV prefix, room, age cutoff. It returns head's fields, or
// nothing for a room the store does not know.
var headScript = redis.NewScript(prelude + `
local room = ARGV[2]
if redis.call('EXISTS', mk(room)) == 0 then return {} end
trimAge(room, tonumber(ARGV[3]))
return head(room)
`)

// readScript: ARGV prefix, room, age cutoff, "after" or "before", the
// bound (after: the seq; before: the seq, 0 for none), how many. It
// returns head's fields then the messages in the direction asked.
var readScript = redis.NewScript(prelude + `
local room = ARGV[2]
if redis.call('EXISTS', mk(room)) == 0 then return {} end
trimAge(room, tonumber(ARGV[3]))
local out = head(room)
local ms
if ARGV[4] == 'after' then
  ms = redis.call('ZRANGEBYSCORE', hk(room), '(' .. ARGV[5], '+inf', 'LIMIT', 0, ARGV[6])
else
  local top = '+inf'
  if ARGV[5] ~= '0' then top = '(' .. ARGV[5] end
  ms = redis.call('ZREVRANGEBYSCORE', hk(room), top, '-inf', 'LIMIT', 0, ARGV[6])
end
for _, m in ipairs(ms) do out[#out + 1] = m end
return out
`)

// inboxAppendScript: ARGV prefix, uid, ts, from, data, cap, age cutoff,
// the inboxes' byte share (0: none). It returns the id, or -1 and the
// bytes inboxes take when the share is used up.
var inboxAppendScript = redis.NewScript(prelude + `
local uid, ts, from, data = ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
local cap, cutoff, share = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
expireInbox(uid, cutoff)
local sz = #from + #data + OVERHEAD
local used = tonumber(redis.call('HGET', ST, 'inbox_bytes') or 0)
if share > 0 and used + sz > share then
  tidyInbox(uid)
  return {-1, used}
end
local id = redis.call('INCR', P .. 'inboxid')
redis.call('ZADD', ik(uid), id, id .. ':' .. ARGV[3] .. ':' .. #from .. ':' .. from .. data)
redis.call('SADD', P .. 'inboxes', uid)
redis.call('HINCRBY', ST, 'inbox_messages', 1)
redis.call('HINCRBY', ST, 'inbox_bytes', sz)
local over = 0
while redis.call('ZCARD', ik(uid)) > cap do
  dropInbox(uid, redis.call('ZRANGE', ik(uid), 0, 0)[1])
  over = over + 1
end
if over > 0 then redis.call('HINCRBY', ST, 'inbox_expired', over) end
return {id}
`)

// inboxReadScript: ARGV prefix, uid, age cutoff, after, how many. It
// returns the delivered mark then the messages.
var inboxReadScript = redis.NewScript(prelude + `
local uid = ARGV[2]
expireInbox(uid, tonumber(ARGV[3]))
tidyInbox(uid)
local out = {tonumber(redis.call('GET', dk(uid)) or 0)}
local ms = redis.call('ZRANGEBYSCORE', ik(uid), '(' .. ARGV[4], '+inf', 'LIMIT', 0, ARGV[5])
for _, m in ipairs(ms) do out[#out + 1] = m end
return out
`)

// inboxDeliveredScript: ARGV prefix, uid, up to.
var inboxDeliveredScript = redis.NewScript(prelude + `
local uid, upTo = ARGV[2], tonumber(ARGV[3])
if redis.call('EXISTS', ik(uid)) == 1 and upTo > tonumber(redis.call('GET', dk(uid)) or 0) then
  redis.call('SET', dk(uid), ARGV[3])
end
return {0}
`)

// inboxAckScript: ARGV prefix, uid, up to. It returns how many went.
var inboxAckScript = redis.NewScript(prelude + `
local uid = ARGV[2]
local ms = redis.call('ZRANGEBYSCORE', ik(uid), '-inf', ARGV[3])
for _, m in ipairs(ms) do dropInbox(uid, m) end
tidyInbox(uid)
return #ms
`)

// sweepInboxScript: ARGV prefix, SSCAN cursor, how many, age cutoff. It
// drops the expired messages of a batch of inboxes and returns the next
// cursor.
var sweepInboxScript = redis.NewScript(prelude + `
local cutoff = tonumber(ARGV[4])
local r = redis.call('SSCAN', P .. 'inboxes', ARGV[2], 'COUNT', ARGV[3])
for _, uid in ipairs(r[2]) do
  expireInbox(uid, cutoff)
  tidyInbox(uid)
end
return r[1]
`)
