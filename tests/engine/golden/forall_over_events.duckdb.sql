WITH "event_counts" AS (
  SELECT
    "e"."__profile_id" AS "__profile_id",
    COUNT(*) FILTER(WHERE
      NOT COALESCE("e"."commerce"."order"."priceTotal" >= 10, FALSE)) AS "ev_0"
  FROM "events" AS "e"
  WHERE
    NOT COALESCE("e"."commerce"."order"."priceTotal" >= 10, FALSE)
  GROUP BY
    "e"."__profile_id"
)
SELECT
  "p"."__profile_id",
  COALESCE(COALESCE("ec"."ev_0", 0) = 0, FALSE) AS "seg_0"
FROM "profiles" AS "p"
LEFT JOIN "event_counts" AS "ec"
  ON "p"."__profile_id" = "ec"."__profile_id"
