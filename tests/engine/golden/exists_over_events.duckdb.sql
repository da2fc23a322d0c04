WITH "event_lists" AS (
  SELECT
    "e"."__profile_id" AS "__profile_id",
    ARRAY_AGG(
      {'eventType': "e"."eventType", 'productListItems': "e"."productListItems", 'timestamp': "e"."timestamp"} ORDER BY "e"."timestamp"
    ) FILTER(WHERE
      "e"."eventType" = 'buy') AS "el_0"
  FROM "events" AS "e"
  WHERE
    "e"."eventType" = 'buy'
  GROUP BY
    "e"."__profile_id"
)
SELECT
  "p"."__profile_id",
  COALESCE(
    COALESCE(
      ARRAY_LENGTH(
        FLATTEN(
          LIST_TRANSFORM(
            COALESCE("el"."el_0", []),
            LAMBDA "__v1" : LIST_TRANSFORM(
              LIST_FILTER("__v1"."productListItems", LAMBDA "__v2" : COALESCE("__v2"."quantity" >= 2, FALSE)),
              LAMBDA "__v2" : 1
            )
          )
        )
      ),
      0
    ) > 0,
    FALSE
  ) AS "seg_0"
FROM "profiles" AS "p"
LEFT JOIN "event_lists" AS "el"
  ON "p"."__profile_id" = "el"."__profile_id"
