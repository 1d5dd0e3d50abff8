-- A deterministic sample of at most @limit requests logged over [@start, @end), all deployed models
-- together: the prompts whose flattened features (llmops_factory.monitoring.features) Vertex AI Model
-- Monitoring and the local feature-drift check watch. The same scrambled order key as request_sample.sql,
-- so a re-run of the day reads the same sample. BigQuery dialect, run on DuckDB through sqlglot.
SELECT
  logging_time,
  CAST(request_id AS INT64) AS request_id,
  deployed_model_id,
  request_payload[SAFE_OFFSET(0)] AS instance,
  JSON_VALUE(SAFE.PARSE_JSON(response_payload[SAFE_OFFSET(0)]), '$.model_version') AS model_version
FROM {prediction_log}
WHERE logging_time >= @start AND logging_time < @end
QUALIFY ROW_NUMBER() OVER (
  ORDER BY MOD(MOD(CAST(request_id AS INT64), 1000003) * 7919 + 12345, 1000003), CAST(request_id AS INT64)
) <= @limit
ORDER BY request_id
