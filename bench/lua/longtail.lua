-- wrk script for the long tail (bench/longtail.py): anonymous views of public pages, the
-- page drawn from a Zipf distribution over every creator, counting the page cache's answers.
--
-- Environment (set by bench/longtail.py):
--   BENCH_CREATORS   N: creators 1..N exist; creator n's handle is
--                    FIRST[n % #FIRST] "." TOPIC[(n // #FIRST) % #TOPIC] n (bench/dataset.py)
--   BENCH_FIRST, BENCH_TOPIC   those two word lists, space-separated
--   BENCH_EXPONENT   s: rank k is asked for with probability proportional to 1 / k^s
--   BENCH_STRIDE     a number coprime with N: rank k is creator ((k - 1) * stride) % N + 1,
--                    so popularity does not follow the creators' ids (or their shapes)
--   BENCH_HEADERS    the headers every request carries, as "name: value" joined by \31
--   BENCH_REFERRERS  referrers joined by \31 (creator n's visitors come from the n % #th;
--                    an empty one sends no Referer)
--   BENCH_OUT        where done() writes the figures as JSON
--
-- The sampler is rejection-inversion (W. Hörmann and G. Derflinger, "Rejection-inversion to
-- generate variates from monotone discrete distributions", 1996): O(1) per draw, exact, and
-- no table of N probabilities. response() counts the x-cache header of every answer.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
end

local function split(text, sep)
  local out = {}
  for part in string.gmatch(text or "", "[^" .. sep .. "]+") do
    out[#out + 1] = part
  end
  return out
end

local n_creators, exponent, stride
local first, topic, referrers
local base_headers = {}
local h_x1, h_n, skew

-- log(1 + x) / x and (exp(x) - 1) / x, accurate near 0 (LuaJIT has no log1p or expm1).
local function helper1(x)
  if math.abs(x) > 1e-8 then
    return math.log(1 + x) / x
  end
  return 1 - x * (0.5 - x * (1 / 3 - 0.25 * x))
end

local function helper2(x)
  if math.abs(x) > 1e-8 then
    return (math.exp(x) - 1) / x
  end
  return 1 + x * 0.5 * (1 + x / 3 * (1 + 0.25 * x))
end

local function h(x) -- the density, x^-s
  return math.exp(-exponent * math.log(x))
end

local function h_integral(x) -- its integral, (x^(1-s) - 1) / (1 - s), log(x) at s = 1
  local log_x = math.log(x)
  return helper2((1 - exponent) * log_x) * log_x
end

local function h_integral_inverse(x)
  local t = x * (1 - exponent)
  if t < -1 then
    t = -1 -- rounding at the very end of the range
  end
  return math.exp(helper1(t) * x)
end

local function zipf_rank()
  while true do
    local u = h_n + math.random() * (h_x1 - h_n)
    local x = h_integral_inverse(u)
    local k = math.floor(x + 0.5)
    if k < 1 then
      k = 1
    elseif k > n_creators then
      k = n_creators
    end
    if k - x <= skew or u >= h_integral(k + 0.5) - h(k) then
      return k
    end
  end
end

seen = {} -- the creators this thread asked for
sent = 0
top = 0
hit = 0
miss = 0
other = 0
statuses = {} -- answers by status code

function init(args)
  n_creators = tonumber(os.getenv("BENCH_CREATORS"))
  exponent = tonumber(os.getenv("BENCH_EXPONENT"))
  stride = tonumber(os.getenv("BENCH_STRIDE"))
  first = split(os.getenv("BENCH_FIRST"), " ")
  topic = split(os.getenv("BENCH_TOPIC"), " ")
  referrers = split(os.getenv("BENCH_REFERRERS"), "\31")
  table.insert(referrers, "") -- the visitor who typed the address
  for _, pair in ipairs(split(os.getenv("BENCH_HEADERS"), "\31")) do
    local colon = string.find(pair, ": ", 1, true)
    base_headers[string.sub(pair, 1, colon - 1)] = string.sub(pair, colon + 2)
  end
  h_x1 = h_integral(1.5) - 1
  h_n = h_integral(n_creators + 0.5)
  skew = 2 - h_integral_inverse(h_integral(2.5) - h(2))
  math.randomseed(os.time() * 100 + id)
end

function request()
  local rank = zipf_rank()
  sent = sent + 1
  if rank == 1 then
    top = top + 1
  end
  local n = ((rank - 1) * stride) % n_creators + 1
  seen[n] = true
  local handle = first[n % #first + 1] .. "." .. topic[math.floor(n / #first) % #topic + 1] .. n
  local headers = {}
  for name, value in pairs(base_headers) do
    headers[name] = value
  end
  local referrer = referrers[n % #referrers + 1]
  if referrer ~= "" then
    headers["Referer"] = referrer
  end
  return wrk.format("GET", "/" .. handle, headers)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  local outcome = headers["x-cache"] or headers["X-Cache"]
  if outcome == "hit" then
    hit = hit + 1
  elseif outcome == "miss" then
    miss = miss + 1
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local totals = { sent = 0, top = 0, hit = 0, miss = 0, other = 0 }
  local pages, distinct = {}, 0
  local codes = {}
  for _, thread in ipairs(threads) do
    for code, count in pairs(thread:get("statuses") or {}) do
      codes[code] = (codes[code] or 0) + count
    end
    for name, _ in pairs(totals) do
      totals[name] = totals[name] + (thread:get(name) or 0)
    end
    for n, _ in pairs(thread:get("seen") or {}) do
      if not pages[n] then
        pages[n] = true
        distinct = distinct + 1
      end
    end
  end
  local by_status = {}
  for code, count in pairs(codes) do
    by_status[#by_status + 1] = string.format('"%d": %d', code, count)
  end
  local out = assert(io.open(os.getenv("BENCH_OUT"), "w"))
  out:write(string.format(
    '{"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"mean": %.1f, "stdev": %.1f, "max": %d, ' ..
    '"p50": %d, "p90": %d, "p99": %d, "p999": %d}, ' ..
    '"sent_per_thread": [], "wrapped": 0, "sent": %d, "top_rank": %d, ' ..
    '"x_cache": {"hit": %d, "miss": %d, "other": %d}, "distinct_pages": %d, "statuses": {%s}}\n',
    summary.requests, summary.duration, summary.bytes,
    summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.status, summary.errors.timeout,
    latency.mean, latency.stdev, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9),
    totals.sent, totals.top, totals.hit, totals.miss, totals.other, distinct,
    table.concat(by_status, ", ")))
  out:close()
end
