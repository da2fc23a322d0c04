WITH "event_lists" AS (
  SELECT
    "e"."__profile_id" AS "__profile_id",
    LIST_SORT(
      ARRAY_AGG(
        {'timestamp': "e"."timestamp", '__step0': COALESCE(COALESCE("e"."eventType" = 'view', FALSE), FALSE), '__step1': COALESCE(COALESCE("e"."eventType" = 'buy', FALSE), FALSE)}
      ) FILTER(WHERE
        NOT (
          "e"."timestamp" IS NULL
        )
        AND (
          "e"."eventType" = 'view' OR "e"."eventType" = 'buy'
        ))
    ) AS "el_0"
  FROM "events" AS "e"
  WHERE
    NOT (
      "e"."timestamp" IS NULL
    )
    AND (
      "e"."eventType" = 'view' OR "e"."eventType" = 'buy'
    )
  GROUP BY
    "e"."__profile_id"
)
SELECT
  "p"."__profile_id",
  COALESCE(
    ARRAY_LENGTH(
      LIST_FILTER(
        LIST_FILTER(
          COALESCE("el"."el_0", []),
          LAMBDA "__v1" : NOT (
            "__v1"."timestamp" IS NULL
          ) AND "__v1"."__step0"
        )[2:2],
        LAMBDA "__v2" : COALESCE(
          ARRAY_LENGTH(
            LIST_FILTER(
              LIST_FILTER(
                COALESCE("el"."el_0", []),
                LAMBDA "__v3" : NOT (
                  "__v3"."timestamp" IS NULL
                )
                AND "__v3"."timestamp" > "__v2"."timestamp"
                AND "__v3"."__step1"
              )[1:1],
              LAMBDA "__v4" : TRUE
            )
          ),
          0
        ) > 0
      )
    ),
    0
  ) > 0 AS "seg_0"
FROM "profiles" AS "p"
LEFT JOIN "event_lists" AS "el"
  ON "p"."__profile_id" = "el"."__profile_id"
