-- wrk-paths.lua - wrk request script for the benchmarks.
--   WRK_PATHS=FILE  cycle through the request paths in FILE (one a line); each
--                   wrk thread starts at its own offset so threads spread over it
--   WRK_BODY=FILE   send FILE as the body of every request (with WRK_METHOD=PUT)
--   WRK_METHOD      request method (default GET)
-- Requests are pre-formatted once per path, so wrk stays cheap per request.
local counter = 0
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end

local reqs, idx = {}, 0
function init(args)
  local method = os.getenv("WRK_METHOD") or "GET"
  local body = nil
  local bf = os.getenv("WRK_BODY")
  if bf and bf ~= "" then
    local f = assert(io.open(bf, "rb"))
    body = f:read("*a")
    f:close()
    wrk.headers["Content-Type"] = "application/octet-stream"
  end
  local pf = os.getenv("WRK_PATHS")
  if pf and pf ~= "" then
    for l in io.lines(pf) do
      if l ~= "" then reqs[#reqs + 1] = wrk.format(method, l, nil, body) end
    end
  end
  if #reqs == 0 then reqs[1] = wrk.format(method, nil, nil, body) end
  idx = math.floor((tid or 0) * #reqs / 4) % #reqs
end

function request()
  idx = idx % #reqs + 1
  return reqs[idx]
end
