WITH `event_counts` AS (
  SELECT
    `e`.`__profile_id` AS `__profile_id`,
    COUNT(*) FILTER(WHERE
      `e`.`eventType` = 'commerce.purchases'
      AND (
        `e`.`timestamp` >= CAST('2025-05-19 14:30:00.000000' AS TIMESTAMP_NTZ)
        AND `e`.`timestamp` < CAST('2025-06-18 14:30:00.000000' AS TIMESTAMP_NTZ)
      )) AS `ev_0`
  FROM `events` AS `e`
  WHERE
    `e`.`eventType` = 'commerce.purchases'
    AND (
      `e`.`timestamp` >= CAST('2025-05-19 14:30:00.000000' AS TIMESTAMP_NTZ)
      AND `e`.`timestamp` < CAST('2025-06-18 14:30:00.000000' AS TIMESTAMP_NTZ)
    )
  GROUP BY
    `e`.`__profile_id`
)
SELECT
  `p`.`__profile_id`,
  COALESCE(`p`.`homeAddress`.`countryCode` = 'US', FALSE)
  AND COALESCE(`p`.`person`.`birthYear` >= 1980, FALSE) AS `seg_0`,
  COALESCE(COALESCE(`ec`.`ev_0`, 0) >= 2, FALSE) AS `seg_1`,
  COALESCE(LOWER(`p`.`loyalty`.`tier`) = LOWER('gold'), FALSE)
  AND COALESCE(`ec`.`ev_0`, 0) > 0 AS `seg_2`
FROM `profiles` AS `p`
LEFT JOIN `event_counts` AS `ec`
  ON `p`.`__profile_id` = `ec`.`__profile_id`
