-- wrk script (reactor-bench http, pipelined): each connection writes 16 GET /plaintext at
-- once and waits for their 16 responses, as wrk's scripts/pipeline.lua does. `-- N` sets
-- another depth.

init = function(args)
   local depth = tonumber(args[1]) or 16
   local requests = {}
   for i = 1, depth do
      requests[i] = wrk.format(nil, "/plaintext")
   end
   batch = table.concat(requests)
end

request = function()
   return batch
end
