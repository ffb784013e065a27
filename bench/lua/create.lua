-- POST /v1/records with a name unique to this run, thread and request (wrk passes the run id).
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

function init(args)
  run = args[1] or tostring(os.time())
  key = args[2] or "rt_bench"
  count = 0
end

function request()
  count = count + 1
  local body = string.format(
    '{"type":"bench-create","name":"%s-%d-%d","metadata":{"industry":"tech","tier":"gold","seats":%d}}',
    run, tid, count, count)
  return wrk.format("POST", "/v1/records",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. key}, body)
end
