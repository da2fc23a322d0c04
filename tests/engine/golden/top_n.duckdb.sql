WITH "event_lists" AS (
  SELECT
    "e"."__profile_id" AS "__profile_id",
    ARRAY_AGG(
      {'commerce': "e"."commerce", 'eventType': "e"."eventType", 'timestamp': "e"."timestamp"} ORDER BY "e"."timestamp"
    ) AS "el_0"
  FROM "events" AS "e"
  GROUP BY
    "e"."__profile_id"
)
SELECT
  "p"."__profile_id",
  COALESCE(
    LIST_TRANSFORM(
      LIST_SORT(
        LIST_FILTER(
          LIST_TRANSFORM(
            COALESCE("el"."el_0", []),
            LAMBDA "__v1", "__v2" : {'k': "__v1"."commerce"."order"."priceTotal", 'j': -"__v2", 'v': "__v1"}
          ),
          LAMBDA "__v3" : NOT (
            "__v3"."k" IS NULL
          )
        ),
        'DESC'
      )[1:2],
      LAMBDA "__v3" : "__v3"."v"
    )[1]."eventType" = 'buy',
    FALSE
  ) AS "seg_0"
FROM "profiles" AS "p"
LEFT JOIN "event_lists" AS "el"
  ON "p"."__profile_id" = "el"."__profile_id"
