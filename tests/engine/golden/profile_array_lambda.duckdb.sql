SELECT
  "p"."__profile_id",
  COALESCE(
    COALESCE(
      ARRAY_LENGTH(LIST_FILTER("p"."_acme"."scores", LAMBDA "__v1" : COALESCE("__v1" > 1, FALSE))),
      0
    ) >= 2,
    FALSE
  ) AS "seg_0"
FROM "profiles" AS "p"
