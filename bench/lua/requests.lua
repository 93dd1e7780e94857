-- wrk script for every scenario of the harness: the requests come from a file it wrote.
--
-- Environment (set by bench/wrk.py):
--   BENCH_REQUESTS  the file, one request a line:
--                   METHOD <TAB> PATH <TAB> name: value <US> name: value ... <TAB> BODY
--                   (<US> is the unit separator \31; BODY may be empty)
--   BENCH_PICK      "random": every request is a random line (all threads read all lines);
--                   "sequential": thread k of n sends lines k, k+n, k+2n, ... in order, once
--                   each, and wraps around (counted in `wrapped`) if the run outlasts them.
--   BENCH_THREADS   the number of wrk threads (-t)
--   BENCH_OUT       where done() writes the figures as JSON
--
-- Every request is formatted once in init(); request() only picks a prepared string, so
-- the load generator spends its time on the network, not in Lua.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
end

local prepared = {}
local pick_random = true
local cursor = 0
sent = 0
wrapped = 0

local function parse(line)
  local t1 = string.find(line, "\t", 1, true)
  local t2 = string.find(line, "\t", t1 + 1, true)
  local t3 = string.find(line, "\t", t2 + 1, true)
  local method = string.sub(line, 1, t1 - 1)
  local path = string.sub(line, t1 + 1, t2 - 1)
  local header_text = string.sub(line, t2 + 1, t3 - 1)
  local body = string.sub(line, t3 + 1)
  local headers = {}
  for pair in string.gmatch(header_text, "[^\31]+") do
    local colon = string.find(pair, ": ", 1, true)
    headers[string.sub(pair, 1, colon - 1)] = string.sub(pair, colon + 2)
  end
  if body == "" then
    body = nil
  end
  return method, path, headers, body
end

function init(args)
  local nthreads = tonumber(os.getenv("BENCH_THREADS"))
  pick_random = os.getenv("BENCH_PICK") ~= "sequential"
  local index = 0
  for line in io.lines(os.getenv("BENCH_REQUESTS")) do
    if line ~= "" then
      if pick_random or (index % nthreads) == (id - 1) then
        prepared[#prepared + 1] = wrk.format(parse(line))
      end
      index = index + 1
    end
  end
  math.randomseed(os.time() * 100 + id)
end

function request()
  sent = sent + 1
  if pick_random then
    return prepared[math.random(#prepared)]
  end
  cursor = cursor + 1
  if cursor > #prepared then
    cursor = 1
    wrapped = wrapped + 1
  end
  return prepared[cursor]
end

function done(summary, latency, requests)
  local per_thread = {}
  local wraps = 0
  for i, thread in ipairs(threads) do
    per_thread[i] = tostring(thread:get("sent") or 0)
    wraps = wraps + (thread:get("wrapped") or 0)
  end
  local out = assert(io.open(os.getenv("BENCH_OUT"), "w"))
  out:write(string.format(
    '{"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"mean": %.1f, "stdev": %.1f, "max": %d, ' ..
    '"p50": %d, "p90": %d, "p99": %d, "p999": %d}, ' ..
    '"sent_per_thread": [%s], "wrapped": %d}\n',
    summary.requests, summary.duration, summary.bytes,
    summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.status, summary.errors.timeout,
    latency.mean, latency.stdev, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9),
    table.concat(per_thread, ", "), wraps))
  out:close()
end
