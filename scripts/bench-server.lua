-- scripts/bench-server.lua — the request mix of scripts/bench-server for
-- wrk: 70% valid keys, 20% invalid keys (never issued, or a mistyped
-- checksum), 10% no key, all in X-API-Key, interleaved in a fixed order so
-- both servers see exactly the same sequence. Host is set explicitly:
-- wrk.format() with a headers table sends no Host of its own, and nginx
-- refuses an HTTP/1.1 request without one.
local requests = {}
local n = 0

local function lines(path)
  local out = {}
  local f = assert(io.open(path, "r"), "cannot open " .. path)
  for line in f:lines() do
    if line ~= "" then
      out[#out + 1] = line
    end
  end
  f:close()
  return out
end

function init(args)
  local valid = lines(os.getenv("KEYGATE_BENCH_VALID"))
  local invalid = lines(os.getenv("KEYGATE_BENCH_INVALID"))
  local path = "/api/v1/iocs"
  local vi, ii = 0, 0
  for i = 1, 1000 do
    local slot = i % 10
    local headers = { ["Host"] = "bench.keygate" }
    if slot < 7 then
      vi = vi % #valid + 1
      headers["X-API-Key"] = valid[vi]
    elseif slot < 9 then
      ii = ii % #invalid + 1
      headers["X-API-Key"] = invalid[ii]
    end
    requests[i] = wrk.format("GET", path, headers)
  end
  -- KEYGATE_BENCH_PIPELINE = D > 1: each write carries D consecutive
  -- requests (HTTP/1.1 pipelining; wrk counts every response), so the Lua
  -- call per request stops making wrk the bottleneck. The mix is the same.
  local depth = tonumber(os.getenv("KEYGATE_BENCH_PIPELINE") or "1")
  if depth > 1 then
    local single = requests
    requests = {}
    for b = 1, #single do
      local batch = {}
      for k = 1, depth do
        batch[k] = single[((b - 1) * depth + k - 1) % #single + 1]
      end
      requests[b] = table.concat(batch)
    end
  end
  n = 0
end

function request()
  n = n % #requests + 1
  return requests[n]
end
