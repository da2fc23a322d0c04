WITH "event_counts" AS (
  SELECT
    "e"."__profile_id" AS "__profile_id",
    MIN("e"."timestamp") FILTER(WHERE
      NOT (
        "e"."__a0"
      )
      AND (
        "e"."eventType" = 'view'
        AND (
          "e"."timestamp" > CAST('2025-06-15 14:30:00.000000' AS TIMESTAMP)
          AND "e"."timestamp" < CAST('2025-06-18 14:30:00.000000' AS TIMESTAMP)
        )
      )) AS "ev_0",
    MAX("e"."timestamp") FILTER(WHERE
      NOT (
        "e"."__a0"
      )
      AND (
        "e"."eventType" = 'buy'
        AND (
          "e"."timestamp" >= CAST('2025-06-18 00:00:00.000000' AS TIMESTAMP)
          AND "e"."timestamp" < CAST('2025-06-19 00:00:00.000000' AS TIMESTAMP)
        )
      )) AS "ev_1"
  FROM (
    SELECT
      *,
      "e"."timestamp" IS NULL AS "__a0"
    FROM "events" AS "e"
  ) AS "e"
  WHERE
    (
      NOT (
        "e"."timestamp" IS NULL
      )
      AND (
        "e"."eventType" = 'view'
        AND (
          "e"."timestamp" > CAST('2025-06-15 14:30:00.000000' AS TIMESTAMP)
          AND "e"."timestamp" < CAST('2025-06-18 14:30:00.000000' AS TIMESTAMP)
        )
      )
    )
    OR (
      NOT (
        "e"."timestamp" IS NULL
      )
      AND (
        "e"."eventType" = 'buy'
        AND (
          "e"."timestamp" >= CAST('2025-06-18 00:00:00.000000' AS TIMESTAMP)
          AND "e"."timestamp" < CAST('2025-06-19 00:00:00.000000' AS TIMESTAMP)
        )
      )
    )
  GROUP BY
    "e"."__profile_id"
)
SELECT
  "p"."__profile_id",
  COALESCE("ec"."ev_0" < "ec"."ev_1", FALSE) AS "seg_0"
FROM "profiles" AS "p"
LEFT JOIN "event_counts" AS "ec"
  ON "p"."__profile_id" = "ec"."__profile_id"
