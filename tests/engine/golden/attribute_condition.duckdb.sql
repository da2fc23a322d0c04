SELECT
  "p"."__profile_id",
  COALESCE("p"."homeAddress"."city" = 'a', FALSE)
  AND COALESCE("p"."loyalty"."points" >= 2, FALSE) AS "seg_0"
FROM "profiles" AS "p"
