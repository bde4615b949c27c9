-- wrk script: every request carries "Authorization: Bearer <token>", rotating over the tokens in
-- the file named by $TOKENS (one per line). Each wrk thread walks its own disjoint slice, so with
-- N tokens no token is reused before about N requests have passed.
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  tokens = {}
  for line in io.lines(os.getenv("TOKENS")) do
    if #line > 0 then tokens[#tokens + 1] = line end
  end
  local threads = tonumber(os.getenv("WRK_THREADS") or "1")
  per = math.max(1, math.floor(#tokens / threads))
  first = (id % threads) * per
  if first + per > #tokens then first = 0 end
  i = 0
end

function request()
  local t = tokens[first + (i % per) + 1]
  i = i + 1
  return wrk.format("GET", nil, { ["Authorization"] = "Bearer " .. t })
end
