-- Figures of each deployed model over [@start, @end) from the prediction log and the feedback table.
-- BigQuery dialect, the one text of both targets: run as-is on BigQuery, transpiled to DuckDB by sqlglot
-- on the local target (llmops_factory.monitoring.sql). A response that is not JSON is counted in
-- `unparseable` and excluded from every other figure. An error answer (Vertex AI error shape, or the
-- local endpoint's logged {"status", "error"}) with a 4xx code is a request the endpoint refused (bad
-- input, a prompt over its token budget): counted in `rejected`; any other error answer (5xx, no code)
-- is a serving failure, counted in `errors` (the error rate that alerts and rolls back).
WITH logged AS (
  SELECT
    endpoint,
    deployed_model_id,
    request_id,
    SAFE.PARSE_JSON(response_payload[SAFE_OFFSET(0)]) AS doc
  FROM {prediction_log}
  WHERE logging_time >= @start AND logging_time < @end
),
facts AS (
  SELECT
    endpoint,
    deployed_model_id,
    request_id,
    doc IS NULL AS unparseable,
    doc IS NOT NULL AND (JSON_QUERY(doc, '$.error') IS NOT NULL OR JSON_VALUE(doc, '$.status') IS NOT NULL) AS failed,
    COALESCE(
      SAFE_CAST(JSON_VALUE(doc, '$.error.code') AS INT64), SAFE_CAST(JSON_VALUE(doc, '$.status') AS INT64)
    ) AS status_code,
    JSON_VALUE(doc, '$.model_version') AS model_version,
    JSON_VALUE(doc, '$.prompt_version') AS prompt_version,
    SAFE_CAST(JSON_VALUE(doc, '$.tokens_in') AS INT64) AS tokens_in,
    SAFE_CAST(JSON_VALUE(doc, '$.tokens_out') AS INT64) AS tokens_out,
    SAFE_CAST(JSON_VALUE(doc, '$.latency_ms') AS FLOAT64) AS latency_ms
  FROM logged
),
classified AS (
  SELECT
    *,
    failed AND COALESCE(status_code BETWEEN 400 AND 499, FALSE) AS is_rejected,
    failed AND NOT COALESCE(status_code BETWEEN 400 AND 499, FALSE) AS is_error
  FROM facts
),
rated AS (
  SELECT
    l.deployed_model_id,
    COUNT(*) AS rated,
    COUNTIF(f.rating > 0) AS positive,
    AVG((f.rating + 1) / 2) AS feedback_score
  FROM {feedback} AS f
  JOIN logged AS l ON CAST(f.request_id AS INT64) = CAST(l.request_id AS INT64)
  GROUP BY l.deployed_model_id
),
served AS (
  SELECT
    deployed_model_id,
    MAX(endpoint) AS endpoint,
    MAX(model_version) AS model_version,
    MAX(prompt_version) AS prompt_version,
    COUNT(DISTINCT prompt_version) AS prompt_versions,
    COUNT(*) AS requests,
    COUNTIF(unparseable) AS unparseable,
    COUNTIF(is_error) AS errors,
    COUNTIF(is_rejected) AS rejected,
    COUNTIF(NOT unparseable AND NOT failed) AS ok,
    APPROX_QUANTILES(IF(failed, NULL, latency_ms), 100)[OFFSET(50)] AS latency_p50_ms,
    APPROX_QUANTILES(IF(failed, NULL, latency_ms), 100)[OFFSET(95)] AS latency_p95_ms,
    APPROX_QUANTILES(IF(failed, NULL, latency_ms), 100)[OFFSET(99)] AS latency_p99_ms,
    SUM(IF(failed, 0, tokens_in)) AS tokens_in,
    SUM(IF(failed, 0, tokens_out)) AS tokens_out
  FROM classified
  GROUP BY deployed_model_id
)
SELECT
  s.*,
  COALESCE(r.rated, 0) AS rated,
  COALESCE(r.positive, 0) AS positive,
  r.feedback_score
FROM served AS s
LEFT JOIN rated AS r ON r.deployed_model_id = s.deployed_model_id
ORDER BY s.deployed_model_id
