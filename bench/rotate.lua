-- wrk script: POST the messages listed in the file named by WARDEN_LOAD_LIST (one path a
-- line), in rotation, each thread starting at another offset. WARDEN_LOAD_RATE, when set,
-- paces every connection so that all of them together send about that many requests a
-- second. WARDEN_LOAD_HEADERS adds "Name: value" headers separated by "|".
local bodies = {}
local headers = { ["Content-Type"] = "message/rfc822" }
local next_index = 1
local delay_ms = nil

function setup(thread)
  thread:set("offset", math.random(1, 1000000))
end

function init(args)
  for path in io.lines(os.getenv("WARDEN_LOAD_LIST")) do
    local f = io.open(path, "rb")
    if f then
      bodies[#bodies + 1] = f:read("*a")
      f:close()
    end
  end
  local extra = os.getenv("WARDEN_LOAD_HEADERS")
  if extra then
    for pair in string.gmatch(extra, "[^|]+") do
      local k, v = string.match(pair, "^%s*([^:]+):%s*(.*)$")
      if k then headers[k] = v end
    end
  end
  next_index = (offset or 1) % #bodies + 1
  local rate = tonumber(os.getenv("WARDEN_LOAD_RATE") or "")
  local conns = tonumber(os.getenv("WARDEN_LOAD_CONNECTIONS") or "16")
  local threads = tonumber(os.getenv("WARDEN_LOAD_THREADS") or "2")
  if rate then
    -- This thread's connections send rate / threads requests a second between them.
    delay_ms = 1000 * (conns / threads) / (rate / threads)
  end
end

function delay()
  return delay_ms or 0
end

function request()
  local body = bodies[next_index]
  next_index = next_index % #bodies + 1
  return wrk.format("POST", nil, headers, body)
end
