//! The Redis scripts of the limiter: one decision (check every limit of a request, then
//! charge all or none) and one refund, for every strategy. They transcribe
//! [`super::window`] (the log) and [`super::counter`] (the buckets); the parity tests in
//! `tests::redis_store` hold them to it. Time comes from Redis `TIME`, so host clocks do
//! not matter, and every key of one call shares the request's hash tag.

use super::counter::Shape;
use super::limits::Rate;

/// How a key is passed to the scripts: `(kind, width, lookback)`: kind 0 is a log (a
/// list of admission stamps; width and lookback unused), 1 buckets (a hash of
/// sub-window index → count).
pub fn key_args(rate: Rate) -> (u8, u64, u64) {
    match Shape::of(rate) {
        Some(s) => (1, s.width, s.lookback),
        None => (0, 0, 0),
    }
}

/// The decision. KEYS: one state per check. ARGV[1]: cost; ARGV[2]: 1 to charge an
/// admitted request, 0 for a dry run; ARGV[3]: how many of the first KEYS are guards
/// (checked, never charged); then five per key: count, period (ms), kind, width,
/// lookback ([`key_args`]). Returns `{now_ms, allowed, remaining_1, reset_after_ms_1,
/// retry_after_ms_1 (-1: none), ...}`.
///
/// A log key gets PEXPIRE of its period after its newest entry; a bucket key
/// `width + lookback + 1` (period plus a sub-window) after each charge: an idle identity
/// costs nothing after one period. A bucket key holds at most 65 fields: sub-windows
/// that stopped counting are deleted by the next call that reads the key.
pub const DECIDE: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cost = tonumber(ARGV[1])
local charge = tonumber(ARGV[2]) == 1
local guards = tonumber(ARGV[3])
local n = #KEYS

-- the log: drop admissions that left the window (ascending, oldest first: gallop
-- from the head, binary-search the first entry still inside, one LTRIM)
local function log_load(key, period)
  local cutoff = now - period
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
  return len
end

local function log_status(key, s, count, period, c)
  local len = s.total
  local reset = 0
  if len > 0 then reset = tonumber(redis.call('LINDEX', key, 0)) + period - now end
  local retry = -1
  if len + c > count then
    if c > count then retry = period
    else retry = math.max(tonumber(redis.call('LINDEX', key, len + c - count - 1)) + period - now, 1) end
  end
  return math.max(count - len, 0), reset, retry
end

local function log_charge(key, s, period)
  local last = tonumber(redis.call('LINDEX', key, -1) or now)
  local at = math.max(now, last)
  local stamp = string.format('%d', at)
  for c = 1, cost do redis.call('RPUSH', key, stamp) end
  redis.call('PEXPIRE', key, period + at - now)
  s.total = s.total + cost
end

-- the buckets: {index, count} ascending from the oldest counted sub-window; the
-- sub-windows that stopped counting are deleted
local function buckets_load(key, width, lookback)
  local oldest = math.floor(math.max(now - lookback, 0) / width)
  local raw = redis.call('HGETALL', key)
  local b, stale, total = {}, {}, 0
  for j = 1, #raw, 2 do
    local index = tonumber(raw[j])
    if index < oldest then
      stale[#stale + 1] = raw[j]
    else
      local c = tonumber(raw[j + 1])
      b[#b + 1] = {index, c}
      total = total + c
    end
  end
  if #stale > 0 then redis.call('HDEL', key, unpack(stale)) end
  table.sort(b, function(x, y) return x[1] < y[1] end)
  return b, total
end

local function buckets_status(s, count, period, width, lookback, c)
  local b = s.b
  local reset = 0
  if #b > 0 then reset = (b[1][1] + 1) * width + lookback - now end
  local retry = -1
  if s.total + c > count then
    if c > count then retry = period
    else
      local need, freed = s.total + c - count, 0
      for j = 1, #b do
        freed = freed + b[j][2]
        if freed >= need then
          retry = math.max((b[j][1] + 1) * width + lookback - now, 1)
          break
        end
      end
    end
  end
  return math.max(count - s.total, 0), reset, retry
end

local function buckets_charge(key, s, width, lookback)
  local b = s.b
  local index = math.floor(now / width)
  -- a clock that stepped back charges the newest sub-window: counted longer
  if #b > 0 and b[#b][1] >= index then
    b[#b][2] = b[#b][2] + cost
    index = b[#b][1]
  else
    b[#b + 1] = {index, cost}
  end
  redis.call('HINCRBY', key, string.format('%d', index), cost)
  redis.call('PEXPIRE', key, width + lookback + 1)
  s.total = s.total + cost
end

local states = {}
local allowed = 1
for i = 1, n do
  local a = 3 + 5 * (i - 1)
  local count, period = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  local kind, width, lookback = tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4]), tonumber(ARGV[a + 5])
  local s = {count = count, period = period, kind = kind, width = width, lookback = lookback}
  if kind == 0 then
    s.total = log_load(KEYS[i], period)
  else
    s.b, s.total = buckets_load(KEYS[i], width, lookback)
  end
  if s.total + cost > count then allowed = 0 end
  states[i] = s
end

local out = {now, allowed}
for i = 1, n do
  local key, s = KEYS[i], states[i]
  local c = cost
  if allowed == 1 and charge and i > guards then
    if s.kind == 0 then log_charge(key, s, s.period) else buckets_charge(key, s, s.width, s.lookback) end
    c = 0
  end
  local remaining, reset, retry
  if s.kind == 0 then
    remaining, reset, retry = log_status(key, s, s.count, s.period, c)
  else
    remaining, reset, retry = buckets_status(s, s.count, s.period, s.width, s.lookback, c)
  end
  out[#out + 1] = remaining
  out[#out + 1] = math.max(reset, 0)
  out[#out + 1] = retry
end
return out
"#;

/// The refund of one admission stamped ARGV[1] (ms) to each of KEYS; then three per
/// key: kind, width, lookback ([`key_args`]). A log loses its newest entry with that
/// stamp; buckets lose one from the stamp's sub-window, never below zero (a sub-window
/// that reaches zero is deleted).
pub const REFUND: &str = r#"
local stamp = ARGV[1]
for i = 1, #KEYS do
  local a = 1 + 3 * (i - 1)
  local kind, width = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  if kind == 0 then
    redis.call('LREM', KEYS[i], -1, stamp)
  else
    local field = string.format('%d', math.floor(tonumber(stamp) / width))
    local left = tonumber(redis.call('HGET', KEYS[i], field) or '0')
    if left > 1 then
      redis.call('HINCRBY', KEYS[i], field, -1)
    elseif left == 1 then
      redis.call('HDEL', KEYS[i], field)
    end
  end
end
return 0
"#;
