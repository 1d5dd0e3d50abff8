-- A deterministic sample of at most @per_model requests of each deployed model over [@start, @end):
-- the first instance, the response text, the error flag, the latency and the user rating, for the
-- response checks (unsafe, PII, hallucination, relevance) and the A/B tests. BigQuery dialect, run on
-- DuckDB through sqlglot. The order key scrambles request ids without overflow (a fixed hash), so a
-- re-run of the day reads the same sample.
WITH logged AS (
  SELECT
    deployed_model_id,
    CAST(request_id AS INT64) AS request_id,
    request_payload[SAFE_OFFSET(0)] AS instance,
    SAFE.PARSE_JSON(response_payload[SAFE_OFFSET(0)]) AS doc
  FROM {prediction_log}
  WHERE logging_time >= @start AND logging_time < @end
)
SELECT
  l.deployed_model_id,
  l.request_id,
  l.instance,
  JSON_VALUE(l.doc, '$.text') AS response_text,
  JSON_VALUE(l.doc, '$.model_version') AS model_version,
  JSON_QUERY(l.doc, '$.error') IS NOT NULL OR JSON_VALUE(l.doc, '$.status') IS NOT NULL AS is_error,
  SAFE_CAST(JSON_VALUE(l.doc, '$.latency_ms') AS FLOAT64) AS latency_ms,
  f.rating
FROM logged AS l
LEFT JOIN {feedback} AS f ON CAST(f.request_id AS INT64) = l.request_id
WHERE l.doc IS NOT NULL
QUALIFY ROW_NUMBER() OVER (
  PARTITION BY l.deployed_model_id
  ORDER BY MOD(MOD(l.request_id, 1000003) * 7919 + 12345, 1000003), l.request_id
) <= @per_model
ORDER BY l.deployed_model_id, l.request_id
