"""The point record and folder: point.json's fields and every file name in a point's folder.

One class owns each: ``PointFiles`` names the files of results/<sweep>/points/<id>/ (the
runner writes them, the analysis reads them; sshbench.paths names the folder itself), and
``PointRecord`` is point.json: it reads, validates on read (a one-line error naming the file
and the field) and writes. The contract is docs/ARCHITECTURE.md, "The point record".

``rps`` is stored once, in ``params.rps``. point.json files written before that also carry
``schedule.rps``; reading one drops it (an error when it disagrees with ``params.rps``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

POINT_FILE = "point.json"
REQUESTS_FILE = "requests.csv"
STATUSES = ("ok", "failed")


@dataclass(frozen=True)
class PointFiles:
    """Every file of one point's folder, by name."""

    folder: Path

    @property
    def record(self) -> Path:
        """point.json: written last and atomically; a folder with one is a finished point."""
        return self.folder / POINT_FILE

    @property
    def record_tmp(self) -> Path:
        return self.folder / f"{POINT_FILE}.tmp"

    @property
    def kept(self) -> Path:
        """point.json's second name (a hard link) that survives a rerun Snakemake asks for
        after a Ctrl-C (sshbench.sweep.point)."""
        return self.folder / f".{POINT_FILE}.kept"

    @property
    def requests(self) -> Path:
        """One row per slot (measure.rows)."""
        return self.folder / REQUESTS_FILE

    @property
    def api_log(self) -> Path:
        return self.folder / "api.log"

    @property
    def locust_stats(self) -> Path:
        return self.folder / "locust_stats.csv"

    @property
    def locust_log(self) -> Path:
        return self.folder / "locust.log"

    def worker_log(self, i: int) -> Path:
        return self.folder / f"locust-worker-{i}.log"

    def attempt(self, n: int) -> Path:
        """Where attempt n's files go when the point is rerun after a harness failure."""
        return self.folder / f"attempt-{n}"


def pattern_of(point: Mapping[str, Any]) -> str:
    """A point's pattern from point.json's object: params.pattern, else the schedule's,
    ``sustained`` when neither says."""
    return (
        (point.get("params") or {}).get("pattern")
        or (point.get("schedule") or {}).get("pattern")
        or "sustained"
    )


def _bad(path: Path | str, name: str, why: str) -> ValueError:
    return ValueError(f"{path}: field {name!r} {why} (see docs/ARCHITECTURE.md, point record)")


# Field -> the types it may hold (None allowed for every field but id, params, status).
_TYPES: dict[str, tuple[type, ...]] = {
    "id": (str,),
    "sweep": (str,),
    "params": (dict,),
    "status": (str,),
    "error_class": (str,),
    "error": (str,),
    "started_at": (str,),
    "ended_at": (str,),
    "schedule": (dict,),
    "counts": (dict,),
    "integrity": (str,),
    "loadgen": (dict,),
    "resources": (dict,),
    "transfer": (dict,),
    "applied": (dict,),
    "settings": (dict,),
    "provenance": (dict,),
    "attempts": (list,),
    "capacity_step": (dict,),
}
_REQUIRED = ("id", "params", "status")


@dataclass
class PointRecord:
    """point.json. Field meanings: docs/ARCHITECTURE.md, "The point record"."""

    id: str
    params: dict[str, Any]
    status: str
    sweep: str | None = None
    error_class: str | None = None
    error: str | None = None
    started_at: str | None = None
    ended_at: str | None = None
    schedule: dict[str, Any] | None = None
    counts: dict[str, Any] | None = None
    integrity: str | None = None
    loadgen: dict[str, Any] | None = None
    resources: dict[str, Any] | None = None
    transfer: dict[str, Any] | None = None
    applied: dict[str, Any] | None = None
    settings: dict[str, Any] | None = None
    provenance: dict[str, Any] | None = None
    attempts: list[Any] | None = None
    capacity_step: dict[str, Any] | None = None
    # keys this version does not know, kept as they are (a newer runner's)
    extra: dict[str, Any] = field(default_factory=dict)
    # optional fields the file did not have (an older runner's): written back without them
    absent: frozenset[str] = field(default=frozenset(), compare=False, repr=False)

    @classmethod
    def from_dict(cls, data: Any, source: Path | str = POINT_FILE) -> PointRecord:
        """A record from point.json's JSON object; ValueError naming source and field."""
        if not isinstance(data, dict):
            raise ValueError(f"{source}: not a JSON object")
        for name in _REQUIRED:
            if data.get(name) is None:
                raise _bad(source, name, "is missing")
        for name, types in _TYPES.items():
            val = data.get(name)
            if val is not None and not isinstance(val, types):
                want = " or ".join(t.__name__ for t in types)
                raise _bad(source, name, f"is {type(val).__name__}, not {want}")
        if data["status"] not in STATUSES:
            raise _bad(source, "status", f"is {data['status']!r}, not one of {STATUSES}")
        known = {f.name for f in fields(cls)} - {"extra", "absent"}
        args = {k: v for k, v in data.items() if k in known}
        sched = args.get("schedule")
        if sched is not None and "rps" in sched:  # older files: rps also in the schedule
            sched = dict(sched)
            old, rps = sched.pop("rps"), data["params"].get("rps")
            if old is not None and rps is not None and float(old) != float(rps):
                raise _bad(source, "schedule.rps", f"{old} disagrees with params.rps {rps}")
            args["schedule"] = sched
        return cls(
            **args,
            extra={k: v for k, v in data.items() if k not in known},
            absent=frozenset(known - set(data)),
        )

    @classmethod
    def read(cls, folder: Path | str) -> PointRecord:
        """The point.json of a point's folder, validated."""
        path = PointFiles(Path(folder)).record
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not valid JSON ({exc})") from exc
        return cls.from_dict(data, path)

    def to_dict(self) -> dict[str, Any]:
        """point.json's JSON object (fields in the contract's order; None fields kept)."""
        names = ["id", "sweep", *(f.name for f in fields(self) if f.name not in ("id", "sweep"))]
        out = {n: getattr(self, n) for n in names if n not in ("extra", "absent")}
        for name in ("transfer", "capacity_step", *self.absent):  # only where there is one
            if out.get(name, 0) is None:
                del out[name]
        return {**out, **self.extra}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, default=str) + "\n"

    @property
    def pattern(self) -> str:
        return pattern_of({"params": self.params, "schedule": self.schedule})

    @property
    def rps(self) -> float | None:
        """The target rate (params.rps; None for a burst, which has none)."""
        rps = self.params.get("rps")
        return None if rps is None or self.pattern == "burst" else float(rps)

    @property
    def ok(self) -> bool:
        return self.status == "ok"
