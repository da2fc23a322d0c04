WITH "event_counts" AS (
  SELECT
    "e"."__profile_id" AS "__profile_id",
    COUNT(*) FILTER(WHERE
      "e"."eventType" = 'view'
      AND (
        "e"."timestamp" > CAST('2025-06-15 14:30:00.000000' AS TIMESTAMP)
        AND "e"."timestamp" < CAST('2025-06-18 14:30:00.000000' AS TIMESTAMP)
      )) AS "ev_0"
  FROM "events" AS "e"
  WHERE
    "e"."eventType" = 'view'
    AND (
      "e"."timestamp" > CAST('2025-06-15 14:30:00.000000' AS TIMESTAMP)
      AND "e"."timestamp" < CAST('2025-06-18 14:30:00.000000' AS TIMESTAMP)
    )
  GROUP BY
    "e"."__profile_id"
)
SELECT
  "p"."__profile_id",
  COALESCE(COALESCE("ec"."ev_0", 0) >= 2, FALSE) AS "seg_0"
FROM "profiles" AS "p"
LEFT JOIN "event_counts" AS "ec"
  ON "p"."__profile_id" = "ec"."__profile_id"
