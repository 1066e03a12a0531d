-- wrk script (reactor-bench http, post-64k): POST /echo with a 64 KiB body, which the
-- server sends back; wrk.format adds the Content-Length.

wrk.method = "POST"
wrk.path = "/echo"
wrk.body = string.rep("x", 65536)
wrk.headers["Content-Type"] = "application/octet-stream"
