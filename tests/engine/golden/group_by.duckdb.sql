SELECT
  "p"."__profile_id",
  COALESCE(
    COALESCE(
      ARRAY_LENGTH(
        LIST_TRANSFORM(
          LIST_TRANSFORM(
            LIST_FILTER(
              LIST_TRANSFORM("p"."_acme"."orders", LAMBDA "__v2" : "__v2"."storeId"),
              LAMBDA "__v3", "__v4" : LIST_POSITION(LIST_TRANSFORM("p"."_acme"."orders", LAMBDA "__v2" : "__v2"."storeId"), "__v3") = "__v4"
            ),
            LAMBDA "__v5" : {'key': "__v5", 'value': LIST_FILTER("p"."_acme"."orders", LAMBDA "__v6" : "__v6"."storeId" IS NOT DISTINCT FROM "__v5")}
          ),
          LAMBDA "__v1" : "__v1"."key"
        )
      ),
      0
    ) >= 2,
    FALSE
  ) AS "seg_0"
FROM "profiles" AS "p"
