"""The point record (measure.point): round trip, validation naming file and field, rps once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from measure.point import PointFiles, PointRecord

RECORDED = Path(__file__).parent / "data" / "ci-recorded" / "points"


def _record() -> dict:
    return {
        "id": "r10-t0",
        "sweep": "fixture",
        "params": {"rps": 10.0, "pattern": "sustained", "host": "taco"},
        "status": "ok",
        "error_class": None,
        "error": None,
        "schedule": {"pattern": "sustained", "t0": 1.0, "slots": 100, "window": [3.0, 11.0]},
        "counts": {"slots": 100, "sent": 100, "missed": 0, "ok": 100, "failed": 0},
        "integrity": "ok",
        "settings": {"capacity": {"p99_ms": 2000}},
        "attempts": [],
        "from_a_newer_runner": {"kept": True},
    }


def _write(folder: Path, data: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    PointFiles(folder).record.write_text(json.dumps(data))


def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    _write(tmp_path, _record())
    rec = PointRecord.read(tmp_path)
    assert rec.rps == 10.0 and rec.pattern == "sustained" and rec.ok
    assert rec.extra == {"from_a_newer_runner": {"kept": True}}
    again = tmp_path / "again"
    again.mkdir()
    PointFiles(again).record.write_text(rec.to_json())
    back = PointRecord.read(again)
    assert back == rec
    assert json.loads(PointFiles(again).record.read_text())["from_a_newer_runner"] == {"kept": True}


@pytest.mark.parametrize(
    ("change", "field", "why"),
    [
        ({"params": None}, "params", "is missing"),
        ({"status": "done"}, "status", "not one of"),
        ({"counts": [1, 2]}, "counts", "is list, not dict"),
        ({"integrity": 3}, "integrity", "is int, not str"),
    ],
)
def test_a_bad_field_is_named_with_its_file(
    tmp_path: Path, change: dict, field: str, why: str
) -> None:
    _write(tmp_path, {**_record(), **change})
    with pytest.raises(ValueError) as err:
        PointRecord.read(tmp_path)
    text = str(err.value)
    assert "\n" not in text
    assert str(PointFiles(tmp_path).record) in text and repr(field) in text and why in text


def test_not_json_names_the_file(tmp_path: Path) -> None:
    PointFiles(tmp_path).record.write_text("{not json")
    with pytest.raises(ValueError, match=r"point\.json: not valid JSON"):
        PointRecord.read(tmp_path)


def test_rps_is_stored_once_and_old_files_with_two_still_load(tmp_path: Path) -> None:
    old = _record()
    old["schedule"] = {**old["schedule"], "rps": 10.0}  # as runners before the record wrote
    _write(tmp_path, old)
    rec = PointRecord.read(tmp_path)
    assert rec.rps == 10.0 and "rps" not in (rec.schedule or {})
    assert "rps" not in json.loads(rec.to_json())["schedule"]
    _write(tmp_path, {**old, "schedule": {**old["schedule"], "rps": 20.0}})
    with pytest.raises(ValueError, match=r"'schedule\.rps' 20\.0 disagrees with params\.rps"):
        PointRecord.read(tmp_path)


def test_recorded_points_load() -> None:
    """Every point.json recorded by an earlier runner (both rps) reads through the record."""
    found = sorted(RECORDED.glob("*/point.json"))
    assert found
    for f in found:
        rec = PointRecord.read(f.parent)
        assert rec.id == f.parent.name
        raw = json.loads(f.read_text())
        had = raw["schedule"].pop("rps", None) if raw.get("schedule") else None
        assert had is None or had == rec.rps  # the one rate it keeps is the same
        back = json.loads(rec.to_json())
        assert back == raw and list(back) == list(raw), f  # field for field, in order


def test_a_burst_has_no_rate() -> None:
    rec = PointRecord.from_dict({**_record(), "params": {"rps": 5, "pattern": "burst"}})
    assert rec.rps is None and rec.pattern == "burst"
