"""Wire shapes that need many resources to reach through the API."""

from __future__ import annotations

from segmint.api.wire import segment_job
from segmint.jobs.model import (
    MAX_LISTED_SEGMENTS,
    JobSource,
    JobStatus,
    SegmentJob,
    SegmentSnapshot,
    Tenant,
    initial_metrics,
)

TENANT = Tenant("ORG@AdobeOrg", "sandbox-id", "prod", "production", True)


def job_with(count: int, *, all_segments: bool = False) -> SegmentJob:
    segments = tuple(
        SegmentSnapshot(f"seg-{i}", "PQL", "pql/text", 'person.gender = "x"', "mp", 1)
        for i in range(count)
    )
    return SegmentJob(
        id="job",
        tenant=TENANT,
        status=JobStatus.NEW,
        source=JobSource.API,
        batch_id="b",
        compute_job_id=1,
        compute_gateway_job_id="g",
        request_id="r",
        schema_name="_xdm.context.profile",
        all_segments=all_segments,
        segments=segments,
        metrics=initial_metrics(),
        created_ms=1,
        updated_ms=1_000,
    )


def test_up_to_1500_segments_are_listed_one_by_one() -> None:
    body = segment_job(job_with(MAX_LISTED_SEGMENTS))
    assert len(body["segments"]) == 1500
    assert body["segments"][0]["segment"]["id"] == "seg-0"


def test_more_than_1500_segments_show_as_star() -> None:
    assert segment_job(job_with(MAX_LISTED_SEGMENTS + 1))["segments"] == [{"segmentId": "*"}]


def test_all_segments_job_shows_as_star_even_when_small() -> None:
    assert segment_job(job_with(2, all_segments=True))["segments"] == [{"segmentId": "*"}]


def test_optional_fields_appear_only_when_set() -> None:
    body = segment_job(job_with(1))
    assert "properties" not in body and "errors" not in body
    assert body["updateEpoch"] == 1
