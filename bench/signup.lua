-- wrk script: POST the sign-up events of the file named by WARDEN_SIGNUP_EVENTS (JSON lines, as
-- `warden signup synth` writes them), each with an id and account of its own (the thread and a
-- counter), so that every request is a new decision, not a repeat answered from the store.
-- Each of the WARDEN_SIGNUP_THREADS threads (2) walks its own share of the file, from
-- WARDEN_SIGNUP_SKIP events into it (0), so that a run of fewer requests than the file holds
-- sends no person twice (a warm-up run skips none, the measured run what the warm-up sent).
local events = {}
local n = 0
local headers = { ["Content-Type"] = "application/json" }
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("tag", tostring(math.random(1, 1000000000)))
  thread:set("part", tostring(threads))
end

function init(args)
  for line in io.lines(os.getenv("WARDEN_SIGNUP_EVENTS")) do
    events[#events + 1] = line
  end
  local shares = tonumber(os.getenv("WARDEN_SIGNUP_THREADS") or "2")
  local skip = tonumber(os.getenv("WARDEN_SIGNUP_SKIP") or "0")
  n = ((tonumber(part) or 1) - 1) * math.floor(#events / shares) + skip
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
