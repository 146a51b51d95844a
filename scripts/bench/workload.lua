-- wrk script for `make bench` (scripts/bench.sh). The workload comes from BENCH_MODE:
--   W1 GET /api/catalog                      W2 GET /api/products/{random}/summary
--   W3 GET /api/orders?page=1..20&per_page=50 W4 GET /api/orders/{random}
--   W5 GET /api/search?q={search term}        W7 GET /health
--   W6 mix: 60 % W1/W2/W5, 30 % W3/W4, 10 % PUT /api/products/{random} with a new price
-- Ids and terms are read from BENCH_DATA/{products,orders,terms}.txt (one per line).
-- done() prints one JSON line prefixed with BENCHJSON for bench_report.

local mode = os.getenv("BENCH_MODE") or "W7"
local key = os.getenv("BENCH_KEY") or "demo-key-2"
local dir = os.getenv("BENCH_DATA") or "target/bench/data"

local function lines(path)
  local t = {}
  for l in io.lines(path) do
    if l ~= "" and l:sub(1, 1) ~= "#" then t[#t + 1] = l end
  end
  return t
end

local products, orders, terms
local headers = { ["Authorization"] = "Bearer " .. key }
local put_headers = { ["Authorization"] = "Bearer " .. key, ["Content-Type"] = "application/json" }

local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

function init(args)
  math.randomseed(os.time() * 1000 + (tid or 0))
  products = lines(dir .. "/products.txt")
  orders = lines(dir .. "/orders.txt")
  terms = lines(dir .. "/terms.txt")
end

local function pick(t) return t[math.random(#t)] end

local gen = {}
gen.W1 = function() return wrk.format("GET", "/api/catalog", headers) end
gen.W2 = function() return wrk.format("GET", "/api/products/" .. pick(products) .. "/summary", headers) end
gen.W3 = function() return wrk.format("GET", "/api/orders?page=" .. math.random(20) .. "&per_page=50", headers) end
gen.W4 = function() return wrk.format("GET", "/api/orders/" .. pick(orders), headers) end
gen.W5 = function() return wrk.format("GET", "/api/search?q=" .. pick(terms), headers) end
gen.W7 = function() return wrk.format("GET", "/health") end
gen.PUT = function()
  return wrk.format("PUT", "/api/products/" .. pick(products), put_headers,
    '{"price_cents":' .. math.random(199, 49999) .. '}')
end
gen.W6 = function()
  local r = math.random(100)
  if r <= 20 then return gen.W1()
  elseif r <= 40 then return gen.W2()
  elseif r <= 60 then return gen.W5()
  elseif r <= 75 then return gen.W3()
  elseif r <= 90 then return gen.W4()
  else return gen.PUT() end
end

request = gen[mode]

function done(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    'BENCHJSON {"name":"%s","label":"%s","workers":%d,"variant":"%s","round":%d,"requests":%d,"duration_s":%.3f,"rps":%.2f,' ..
    '"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f,"errors":%d,"non_2xx_3xx":%d,"bytes":%d}\n',
    os.getenv("BENCH_NAME") or mode, os.getenv("BENCH_LABEL") or mode, tonumber(os.getenv("BENCH_WORKERS") or "0"),
    os.getenv("BENCH_VARIANT") or "main", tonumber(os.getenv("BENCH_ROUND") or "0"), summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    e.connect + e.read + e.write + e.timeout, e.status, summary.bytes))
end
