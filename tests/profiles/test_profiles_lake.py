from pathlib import Path

import pytest

from segmint.profiles.lake import Lake, commit, discard, staging_dir


def test_layout_under_root(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    sandbox = tmp_path / "lake" / "ORG@AdobeOrg" / "prod"
    assert lake.dataset_dir("ORG@AdobeOrg", "prod", "ds1") == sandbox / "datasets" / "ds1"
    assert (
        lake.batch_dir("ORG@AdobeOrg", "prod", "ds1", "b1") == sandbox / "datasets" / "ds1" / "b1"
    )
    assert lake.segmentation_dir("ORG@AdobeOrg", "prod") == sandbox / "segmentation"


@pytest.mark.parametrize("bad", ["", ".", "..", "a/b", "../x", "a\\b", "nul\x00", ".hidden"])
def test_unsafe_segments_are_rejected(tmp_path: Path, bad: str) -> None:
    lake = Lake(tmp_path)
    with pytest.raises(ValueError, match="org"):
        lake.dataset_dir(bad, "prod", "ds")
    with pytest.raises(ValueError, match="sandbox"):
        lake.segmentation_dir("org", bad)
    with pytest.raises(ValueError, match="dataset id"):
        lake.dataset_dir("org", "prod", bad)
    with pytest.raises(ValueError, match="batch id"):
        lake.batch_dir("org", "prod", "ds", bad)


def test_staging_is_a_hidden_sibling(tmp_path: Path) -> None:
    final = tmp_path / "a" / "b" / "batch"
    staging = staging_dir(final)
    assert staging.is_dir()
    assert staging.parent == final.parent
    assert staging.name.startswith(".staging-")
    assert not final.exists()


def test_commit_makes_the_directory_appear_whole(tmp_path: Path) -> None:
    final = tmp_path / "batch"
    staging = staging_dir(final)
    (staging / "sub").mkdir()
    (staging / "part-00000.parquet").write_bytes(b"data")
    (staging / "sub" / "x").write_text("y")
    commit(staging, final)
    assert not staging.exists()
    assert (final / "part-00000.parquet").read_bytes() == b"data"
    assert (final / "sub" / "x").read_text() == "y"
    assert [p.name for p in tmp_path.iterdir()] == ["batch"]


@pytest.mark.parametrize("existing", ["empty dir", "full dir", "file"])
def test_commit_refuses_to_replace(tmp_path: Path, existing: str) -> None:
    final = tmp_path / "batch"
    if existing == "file":
        final.write_text("x")
    else:
        final.mkdir()
        if existing == "full dir":
            (final / "old").write_text("old")
    staging = staging_dir(final)
    (staging / "new").write_text("new")
    with pytest.raises(FileExistsError):
        commit(staging, final)
    assert staging.is_dir()
    assert not (final.is_dir() and (final / "new").exists())


def test_discard_removes_staging(tmp_path: Path) -> None:
    staging = staging_dir(tmp_path / "batch")
    (staging / "f").write_text("x")
    discard(staging)
    assert not staging.exists()
    discard(staging)  # already gone: no error
