-- wrk script: POST the original curl body to /invocations (model evaluated on every request).
-- Usage: wrk -s bench/post.lua http://127.0.0.1:8080/invocations
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"age": 35, "gender_code": 1, "location": 12, "subscription_type_code": 2, "tenure_months": 24, ' ..
           '"income_bracket_code": 1, "event_created_at_ts": 1718500000, "transaction_value": 149.99, "channel_code": 0}'

-- No response() callback: it would make wrk parse every reply in Lua, on the same two cores as the server.
-- Non-2xx replies are counted by wrk itself (summary.errors.status).
function done(summary, latency, requests)
  io.write(string.format("BENCH requests=%d duration_s=%.2f rps=%.0f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f errors=%d non2xx=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout + summary.errors.status,
    summary.errors.status))
end
