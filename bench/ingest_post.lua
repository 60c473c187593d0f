-- wrk script for bench/ingest: POST Ozonetel-shaped records, each with a unique monitorUCID.
-- Environment: INGEST_PATH (URL path with token), INGEST_RECORDS (records per post), INGEST_APIKEY,
-- INGEST_PREFIX (of the ids: bench for the measured run, warm for the warm-up), INGEST_SPREAD (1:
-- the calls spread over 20 campaigns and 28 days; else all in one campaign at one time of one day).
local next_id = 1

function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
end

function init(args)
  path = os.getenv("INGEST_PATH")
  per_post = tonumber(os.getenv("INGEST_RECORDS") or "1")
  apikey = os.getenv("INGEST_APIKEY") or "KKbench"
  prefix = os.getenv("INGEST_PREFIX") or "bench"
  spread = os.getenv("INGEST_SPREAD") == "1"
  counter = 0
  wrk.headers["Content-Type"] = "application/json"
end

-- About 280 bytes per record.
local template = '{"monitorUCID":"%s-%d-%d","UCID":"%d%d","CampaignName":"%s",' ..
  '"CallerID":"9876543210","StartTime":"2026-11-%02d 10:15:02",' ..
  '"EndTime":"2026-11-%02d 10:16:40","Status":"Answered","Duration":"00:01:38","AgentID":"agent7",' ..
  '"Disposition":"Interested","Apikey":"%s"}'

function request()
  local records = {}
  for i = 1, per_post do
    counter = counter + 1
    local campaign, day = "Bench_Campaign", 23
    if spread then
      campaign, day = "Bench_Campaign_" .. (counter % 20), 1 + (counter % 28)
    end
    records[i] = string.format(template, prefix, tid, counter, tid, counter, campaign, day, day, apikey)
  end
  local body
  if per_post == 1 then body = records[1] else body = "[" .. table.concat(records, ",") .. "]" end
  return wrk.format("POST", path, nil, body)
end
