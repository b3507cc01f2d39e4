-- wrk: POST the AdmissionReview in $BODY_FILE on every request (scripts/bench.sh, profile.sh).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
wrk.body = f:read("*a")
f:close()
