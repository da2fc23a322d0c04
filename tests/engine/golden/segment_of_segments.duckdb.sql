WITH "event_counts" AS (
  SELECT
    "e"."__profile_id" AS "__profile_id",
    COUNT(*) FILTER(WHERE
      "e"."eventType" = 'buy') AS "ev_0"
  FROM "events" AS "e"
  WHERE
    "e"."eventType" = 'buy'
  GROUP BY
    "e"."__profile_id"
)
SELECT
  "p"."__profile_id",
  COALESCE(COALESCE("ec"."ev_0", 0) >= 2, FALSE) AS "seg_0",
  COALESCE("p"."homeAddress"."city" = 'a', FALSE) AS "seg_1",
  COALESCE(COALESCE(COALESCE("ec"."ev_0", 0) >= 2, FALSE), FALSE)
  AND COALESCE(COALESCE("p"."homeAddress"."city" = 'a', FALSE), FALSE) AS "seg_2"
FROM "profiles" AS "p"
LEFT JOIN "event_counts" AS "ec"
  ON "p"."__profile_id" = "ec"."__profile_id"
