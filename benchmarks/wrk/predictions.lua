-- wrk script for benchmarks/service_load.py: GET predictions of pre-filled sessions.
--
--   wrk -t T -c C -d D -s predictions.lua http://127.0.0.1:PORT -- SESSIONS_FILE T
--
-- As observe.lua: thread i of T cycles through its own contiguous share of the sessions.
-- `done` prints the same JSON line.

local thread_count = 0

function setup(thread)
  thread:set("thread_index", thread_count)
  thread_count = thread_count + 1
end

local paths = {}
local position = 0

function init(args)
  local all = {}
  for line in io.lines(args[1]) do
    if line ~= "" then all[#all + 1] = line end
  end
  local threads = tonumber(args[2])
  local share = math.max(1, math.floor(#all / threads))
  local first = (thread_index * share) % #all
  for i = 0, share - 1 do
    paths[#paths + 1] = "/v2/sessions/" .. all[(first + i) % #all + 1] .. "/predictions"
  end
end

function request()
  position = position % #paths + 1
  return wrk.format("GET", paths[position])
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'KATO_WRK {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"status_errors":%d,"socket_errors":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, errors.status, errors.connect + errors.read + errors.write + errors.timeout))
end
