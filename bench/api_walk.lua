-- wrk script of `make bench-api` (bench/api.py), for `wrk -t1`: one Lua state walks the list.
--
--   wrk -t1 -c16 -d10s -s bench/api_walk.lua URL -- FILE
--
-- FILE holds prebuilt raw HTTP requests, each as "<byte length>\n<bytes>". With one
-- request in FILE it is sent again and again (register, discover); with several, each is
-- sent once, in order (Hawk-signed requests: a fresh nonce each), and when the list runs
-- out the thread stops and done() says so. Every response is counted by status and, for
-- errors, by the JSON errno ("400/105"). done() prints one "BENCH key value" per line
-- for bench/api.py to parse.

local requests = {}
local index = 0
exhausted = 0
counts = {}

function init(args)
   local file = assert(io.open(args[1], "rb"))
   local data = file:read("*a")
   file:close()
   local pos = 1
   while pos <= #data do
      local newline = data:find("\n", pos, true)
      local length = tonumber(data:sub(pos, newline - 1))
      requests[#requests + 1] = data:sub(newline + 1, newline + length)
      pos = newline + length + 1
   end
   assert(#requests > 0, "no request in " .. args[1])
end

function request()
   if #requests == 1 then
      return requests[1]
   end
   index = index + 1
   if index > #requests then
      -- Out of signed requests: never replay one (that would be a 401, not a measure).
      if exhausted == 0 then
         exhausted = 1
         wrk.thread:stop()
      end
      return wrk.format("GET", "/__lbheartbeat__")
   end
   return requests[index]
end

function response(status, headers, body)
   local key = tostring(status)
   if status >= 300 then
      local errno = body and body:match('"errno"%s*:%s*(%d+)')
      key = key .. "/" .. (errno or "-")
   end
   counts[key] = (counts[key] or 0) + 1
end

local threads = {}

function setup(thread)
   threads[#threads + 1] = thread
end

function done(summary, latency, _)
   local e = summary.errors
   io.write(string.format("BENCH requests %d\nBENCH duration_us %d\n",
                          summary.requests, summary.duration))
   io.write(string.format("BENCH errors connect=%d read=%d write=%d status=%d timeout=%d\n",
                          e.connect, e.read, e.write, e.status, e.timeout))
   io.write(string.format("BENCH latency_us p50=%d p90=%d p99=%d max=%d mean=%d\n",
                          latency:percentile(50), latency:percentile(90),
                          latency:percentile(99), latency.max, latency.mean))
   for _, thread in ipairs(threads) do
      for key, n in pairs(thread:get("counts") or {}) do
         io.write(string.format("BENCH status %s %d\n", key, n))
      end
      io.write(string.format("BENCH exhausted %d\n", thread:get("exhausted") or 0))
   end
end
