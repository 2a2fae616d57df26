-- wrk script: GET the paths listed in $PATHS (one a line) in turn, with
-- the API key $API_KEY. Each thread walks the whole list from its own start.
local paths = {}
for line in io.lines(os.getenv("PATHS")) do
  paths[#paths + 1] = line
end
local key = os.getenv("API_KEY") or ""
local i = 0

setup = function(thread)
  thread:set("start", math.random(#paths))
end

init = function()
  i = (start or 1) - 1
end

request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i], { ["X-Api-Key"] = key })
end
