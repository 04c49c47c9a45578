-- wrk script: POST the sign-up events of the file named by WARDEN_SIGNUP_EVENTS (JSON lines, as
-- `warden signup synth` writes them) in rotation, each with an id and account of its own (the
-- thread and a counter), so that every request is a new decision, not a repeat answered from
-- the store.
local events = {}
local n = 0
local headers = { ["Content-Type"] = "application/json" }

function setup(thread)
  thread:set("tag", tostring(math.random(1, 1000000000)))
end

function init(args)
  for line in io.lines(os.getenv("WARDEN_SIGNUP_EVENTS")) do
    events[#events + 1] = line
  end
  n = (tonumber(tag) or 1) % #events
  local token = os.getenv("WARDEN_TOKEN")
  if token then headers["Authorization"] = "Bearer " .. token end
end

function request()
  n = n + 1
  local e = events[n % #events + 1]
  e = string.gsub(e, '"id":"[^"]*"', '"id":"w' .. tag .. '-' .. n .. '"', 1)
  e = string.gsub(e, '"account":"[^"]*"', '"account":"w' .. tag .. '-' .. n .. '"', 1)
  return wrk.format("POST", "/v1/signup/check", headers, e)
end
