//! The Redis scripts of the limiter: one decision (check every limit of a request, then
//! charge all or none) and one refund, for every strategy. They transcribe
//! [`super::window`] (the log), [`super::counter`] (the buckets) and [`super::gcra`]
//! (one TAT); the parity tests in
//! `tests::redis_store` hold them to it. Time comes from Redis `TIME`, so host clocks do
//! not matter, and every key of one call shares the request's hash tag.

use super::counter::Shape;
use super::limits::{Rate, Strategy};

/// How a key is passed to the scripts: `(kind, width, lookback)`: kind 0 is a log (a
/// list of admission stamps; width and lookback unused), 1 buckets (a hash of
/// sub-window index → count), 2 GCRA (a string `"<tat_ms> <frac> <tat_ms − mark>"`: the TAT is
/// `tat_ms + frac/count`, the mark is [`super::gcra`]'s, never after the TAT; width and lookback carry count and period for the refund).
pub fn key_args(rate: Rate) -> (u8, u64, u64) {
    if rate.strategy == Strategy::Gcra {
        return (2, rate.count, rate.period_ms().max(1));
    }
    match Shape::of(rate) {
        Some(s) => (1, s.width, s.lookback),
        None => (0, 0, 0),
    }
}

/// The decision. KEYS: one state per check. `ARGV[1]`: cost; `ARGV[2]`: 1 to charge an
/// admitted request, 0 for a dry run; `ARGV[3]`: how many of the first KEYS are guards
/// (checked, never charged); then five per key: count, period (ms), kind, width,
/// lookback ([`key_args`]). Returns `{now_ms, allowed, remaining_1, reset_after_ms_1,
/// retry_after_ms_1 (-1: none), ...}`.
///
/// A log key gets PEXPIRE of its period after its newest entry; a bucket key
/// `width + lookback + 1` (period plus a sub-window) after the first charge of each
/// sub-window (which is when its last charge is counted until at most): an idle
/// identity costs nothing after one period. A GCRA key is one `SET … PX` per charge,
/// living until its TAT (after which it is the same as no key). A bucket key holds at most 65 sub-windows
/// and three fields of totals (68 fields): a decision reads four fields whatever the
/// count, and the sub-windows that stopped counting are deleted once, when the oldest
/// counted one moves on.
pub const DECIDE: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cost = tonumber(ARGV[1])
local charge = tonumber(ARGV[2]) == 1
local guards = tonumber(ARGV[3])
local n = #KEYS
-- No local functions: a closure is built on every call, and they cost more than the
-- counter's own work. Per key: s.total (admissions counted), and for buckets s.o and
-- s.h (oldest and newest sub-window held), s.cur/s.curval (the current one).
local states = {}
local allowed = 1
for i = 1, n do
  local key = KEYS[i]
  local a = 3 + 5 * (i - 1)
  local s = {count = tonumber(ARGV[a + 1]), period = tonumber(ARGV[a + 2]), kind = tonumber(ARGV[a + 3])}
  if s.kind == 2 then
    -- GCRA: s.b is the backlog (TAT - now) in 1/count ms, exact below 2^53 (the
    -- parser keeps count * period under 2^52); s.mark: the last admission that found
    -- less than one interval of backlog (what a refund needs)
    local v = redis.call('GET', key)
    s.b, s.mark = 0, 0
    if v then
      local tms, frac, back = string.match(v, '(%d+) (%d+) (%d+)')
      tms = tonumber(tms)
      s.b = math.max((tms - now) * s.count + tonumber(frac), 0)
      s.mark = tms - tonumber(back)
    end
    s.total = 0
    if s.b + cost * s.period > s.count * s.period then allowed = 0 end
  elseif s.kind == 0 then
    -- the log: drop admissions that left the window (ascending, oldest first: gallop
    -- from the head, binary-search the first entry still inside, one LTRIM)
    local cutoff = now - s.period
    local len = redis.call('LLEN', key)
    if len > 0 and tonumber(redis.call('LINDEX', key, 0)) <= cutoff then
      local bound = 1
      while bound < len and tonumber(redis.call('LINDEX', key, bound)) <= cutoff do
        bound = bound * 2
      end
      local lo = math.floor(bound / 2) + 1
      local hi = math.min(bound, len)
      while lo < hi do
        local mid = math.floor((lo + hi) / 2)
        if tonumber(redis.call('LINDEX', key, mid)) <= cutoff then lo = mid + 1 else hi = mid end
      end
      redis.call('LTRIM', key, lo, -1)
      len = len - lo
    end
    s.total = len
  else
    -- the buckets: a hash of sub-window index -> count, plus 'n', 'o', 'h' (the sum
    -- of the counts held, the oldest and the newest index held), so a decision reads
    -- four fields whatever the count; the sub-windows that stopped counting are
    -- deleted when the oldest counted one moves on. Numbers go to Redis as numbers
    -- (written as integers below 1e14), no string formatting on the hot path.
    local width, lookback = tonumber(ARGV[a + 4]), tonumber(ARGV[a + 5])
    s.width, s.lookback = width, lookback
    local oldest = math.floor(math.max(now - lookback, 0) / width)
    s.cur = math.floor(now / width)
    local got = redis.call('HMGET', key, 'n', 'o', 'h', s.cur)
    s.curval, s.total = tonumber(got[4]) or 0, 0
    if got[1] then
      s.total, s.o, s.h = tonumber(got[1]), tonumber(got[2]), tonumber(got[3])
      if s.h < oldest then
        redis.call('DEL', key)
        s.total, s.o, s.h, s.curval = 0, nil, nil, 0
      elseif s.o < oldest then
        local dead = {}
        for d = s.o, oldest - 1 do dead[#dead + 1] = d end
        local vals = redis.call('HMGET', key, unpack(dead))
        for j = 1, #vals do s.total = s.total - (tonumber(vals[j]) or 0) end
        redis.call('HDEL', key, unpack(dead))
        local live = {}
        for d = oldest, s.h do live[#live + 1] = d end
        vals = redis.call('HMGET', key, unpack(live))
        for j = 1, #vals do
          if vals[j] then s.o = oldest + j - 1 break end
        end
        redis.call('HSET', key, 'n', s.total, 'o', s.o)
      end
    end
  end
  if s.kind ~= 2 and s.total + cost > s.count then allowed = 0 end
  states[i] = s
end

local out = {now, allowed}
for i = 1, n do
  local key, s = KEYS[i], states[i]
  local count, period = s.count, s.period
  local c = cost
  if allowed == 1 and charge and i > guards then
    if s.kind == 2 then
      if s.b < period then s.mark = math.max(s.mark, now) end
      s.b = s.b + cost * period
      local frac = math.fmod(s.b, count)
      local ahead = (s.b - frac) / count
      if frac > 0 then ahead = ahead + 1 end
      local tms = now + (s.b - frac) / count
      redis.call('SET', key, string.format('%d %d %d', tms, frac, tms - s.mark), 'PX', math.max(ahead, 1))
    elseif s.kind == 0 then
      local last = tonumber(redis.call('LINDEX', key, -1) or now)
      local at = math.max(now, last)
      local stamp = string.format('%d', at)
      for k = 1, cost do redis.call('RPUSH', key, stamp) end
      redis.call('PEXPIRE', key, period + at - now)
    else
      -- a clock that stepped back charges the newest sub-window: counted longer
      local at, val = s.cur, s.curval
      if s.h and s.h > at then
        at = s.h
        val = tonumber(redis.call('HGET', key, at)) or 0
      end
      if s.h == at then
        redis.call('HSET', key, 'n', s.total + cost, at, val + cost)
      else
        -- a new sub-window: the key must outlive it (period + a sub-window from
        -- its first charge), so the TTL is set once per sub-window, not per call
        s.o = s.o or at
        redis.call('HSET', key, 'n', s.total + cost, 'o', s.o, 'h', at, at, val + cost)
        redis.call('PEXPIRE', key, s.width + s.lookback + 1)
      end
      s.h = at
    end
    s.total = s.total + cost
    c = 0
  end
  local reset, retry = 0, -1
  if s.kind == 2 then
    -- remaining: whole intervals left below a full bucket; reset: until it is empty;
    -- retry: until the backlog has drained enough (count units per ms)
    local b = s.b
    local r = math.fmod(b, period)
    s.total = (b - r) / period
    if r > 0 then s.total = s.total + 1 end
    r = math.fmod(b, count)
    reset = (b - r) / count
    if r > 0 then reset = reset + 1 end
    local over = b + c * period - count * period
    if over > 0 then
      if c > count then retry = period
      else
        r = math.fmod(over, count)
        retry = (over - r) / count
        if r > 0 then retry = retry + 1 end
        retry = math.max(retry, 1)
      end
    end
  elseif s.kind == 0 then
    local len = s.total
    if len > 0 then reset = tonumber(redis.call('LINDEX', key, 0)) + period - now end
    if len + c > count then
      if c > count then retry = period
      else retry = math.max(tonumber(redis.call('LINDEX', key, len + c - count - 1)) + period - now, 1) end
    end
  else
    local width, lookback = s.width, s.lookback
    if s.o then reset = (s.o + 1) * width + lookback - now end
    if s.total + c > count then
      if c > count then retry = period
      else
        -- the oldest sub-windows leave first: wait for the one that frees enough
        local need, freed, held = s.total + c - count, 0, {}
        for d = s.o, s.h do held[#held + 1] = d end
        local vals = redis.call('HMGET', key, unpack(held))
        for j = 1, #vals do
          freed = freed + (tonumber(vals[j]) or 0)
          if freed >= need then
            retry = math.max((s.o + j) * width + lookback - now, 1)
            break
          end
        end
      end
    end
  end
  out[#out + 1] = math.max(count - s.total, 0)
  out[#out + 1] = math.max(reset, 0)
  out[#out + 1] = retry
end
return out
"#;

/// The refund of one admission stamped `ARGV[1]` (ms) to each of KEYS; then three per
/// key: kind, width, lookback ([`key_args`]). A log loses its newest entry with that
/// stamp; buckets lose one from the stamp's sub-window and from the total, never below
/// zero (the sub-window stays, at zero, until it stops counting); a GCRA TAT moves back
/// one interval when no admission since the stamp found it nearly empty (its mark),
/// and its mark becomes now.
pub const REFUND: &str = r#"
local stamp = ARGV[1]
for i = 1, #KEYS do
  local key = KEYS[i]
  local a = 1 + 3 * (i - 1)
  local kind, width = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  if kind == 2 then
    local count, period = width, tonumber(ARGV[a + 3])
    local v = redis.call('GET', key)
    if v then
      local tms, frac, back = string.match(v, '(%d+) (%d+) (%d+)')
      if tonumber(tms) - tonumber(back) <= tonumber(stamp) then
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local b = (tonumber(tms) - now) * count + tonumber(frac) - period
        if b > 0 then
          local r = math.fmod(b, count)
          local ahead = (b - r) / count
          local ttl = ahead
          if r > 0 then ttl = ttl + 1 end
          redis.call('SET', key, string.format('%d %d %d', now + ahead, r, ahead), 'PX', ttl)
        else
          redis.call('DEL', key)
        end
      end
    end
  elseif kind == 0 then
    redis.call('LREM', key, -1, stamp)
  else
    local field = math.floor(tonumber(stamp) / width)
    local got = redis.call('HMGET', key, 'n', field)
    local left = tonumber(got[2]) or 0
    if got[1] and left > 0 then
      redis.call('HSET', key, 'n', tonumber(got[1]) - 1, field, left - 1)
    end
  end
end
return 0
"#;
