-- wrk script of bench/intake_throughput.py: POST /api/v1/cases with a different community,
-- building, category and applicant per request (identical cases would make intake's duplicate
-- lookup match ever more rows, which is not what residents do), and a JSON summary at the end.
local communities = {"lianhua", "heping", "xinyuan", "chaoyang", "taoyuan", "binhe", "jinxiu"}
local categories = {"neighbours", "property_management", "housing", "marriage_family", "damages"}
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(os.time() * 100 + id)
end

request = function()
  counter = counter + 1
  local body = string.format(
    '{"category":"%s","community":"%s","building":"%d","unit":"%d-%d",' ..
    '"description":"Loud renovation work every night after 22:00 (%d/%d).",' ..
    '"applicants":[{"name":"张三","phone":"13800138000","email":"r%d-%d@example.com"}],' ..
    '"respondents":[{"name":"李四"}],"consent":true,"language":"en"}',
    categories[math.random(#categories)], communities[math.random(#communities)],
    math.random(1, 400), math.random(1, 6), math.random(101, 1803), id, counter, id, counter)
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"non_2xx":%d,"errors":%d,' ..
    '"latency_ms":{"mean":%.2f,"p50":%.2f,"p90":%.2f,"p99":%.2f,"max":%.2f}}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency.mean / 1000, latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
end
