-- wrk script for benchmarks/service_load.py: POST observe bodies to pre-created sessions,
-- or (KIND "predictions") GET the predictions of pre-filled ones.
--
--   wrk -t T -c C -d D -s observe.lua http://127.0.0.1:PORT -- SESSIONS_FILE T [KIND]
--
-- SESSIONS_FILE holds one session id per line. Thread i of T takes its own contiguous
-- share of the sessions and cycles through it, so requests in flight on one thread go to
-- different sessions (no waiting on another request's session lock). Each body observes
-- 1-3 random symbols of a 1,000-symbol vocabulary. `done` prints one JSON line that the
-- Python script parses.

local thread_count = 0

function setup(thread)
  thread:set("thread_index", thread_count)
  thread_count = thread_count + 1
end

local paths = {}
local position = 0
local predictions = false

function init(args)
  local all = {}
  for line in io.lines(args[1]) do
    if line ~= "" then all[#all + 1] = line end
  end
  local threads = tonumber(args[2])
  predictions = args[3] == "predictions"
  local suffix = predictions and "/predictions" or "/observe"
  local share = math.max(1, math.floor(#all / threads))
  local first = (thread_index * share) % #all
  for i = 0, share - 1 do
    paths[#paths + 1] = "/v2/sessions/" .. all[(first + i) % #all + 1] .. suffix
  end
  math.randomseed(1000 + thread_index)
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  position = position % #paths + 1
  if predictions then
    return wrk.format("GET", paths[position])
  end
  local symbols = {}
  for i = 1, math.random(1, 3) do
    symbols[i] = string.format('"s%04d"', math.random(0, 999))
  end
  local body = '{"strings":[' .. table.concat(symbols, ",") .. "]}"
  return wrk.format("POST", paths[position], nil, body)
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'KATO_WRK {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"status_errors":%d,"socket_errors":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, errors.status, errors.connect + errors.read + errors.write + errors.timeout))
end
