WITH "event_counts" AS (
  SELECT
    "e"."__profile_id" AS "__profile_id",
    SUM("e"."commerce"."order"."priceTotal") AS "ev_0"
  FROM "events" AS "e"
  GROUP BY
    "e"."__profile_id"
)
SELECT
  "p"."__profile_id",
  COALESCE(
    COALESCE(COALESCE("ec"."ev_0", 0) > 10, FALSE)
    AND COALESCE(COALESCE("ec"."ev_0", 0) < 50, FALSE),
    FALSE
  ) AS "seg_0"
FROM "profiles" AS "p"
LEFT JOIN "event_counts" AS "ec"
  ON "p"."__profile_id" = "ec"."__profile_id"
