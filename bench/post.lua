-- wrk script: POST /api/reports with a small JSON report and "Authorization: Bearer <token>" (the
-- first line of the file named by $TOKENS, a token with scope weather.write). Every answer should be
-- 201: each one is a committed, fsynced row (SQLite WAL, synchronous = FULL).
function init(args)
  for line in io.lines(os.getenv("TOKENS")) do
    if #line > 0 then token = line; break end
  end
end

function request()
  return wrk.format("POST", nil, {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
  }, '{"description":"bench report","location":{"city":"Portland","state":"OR"}}')
end
