"""The study's claims as data: the fields of a claim, and loading them from paper/claims.yaml
(every field checked, so a bad claims file stops with the claim's id and the field)."""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from analysis.common import isnum
from sshbench import paths

KINDS = ("threshold", "ratio", "trend", "difference", "first_limit", "versus")
COMPARISONS = ("<", "<=", ">", ">=", "==", "within")
# Named levels of a ratio: by sorted position among the measured ones (no name checked).
POSITIONAL = ("first", "second")


@dataclass
class Claim:
    """One published claim as data (see the head of paper/claims.yaml for every field)."""

    id: str
    text: str
    source: str
    kind: str
    metric: str
    comparison: str
    threshold: Any
    condition: dict[str, Any] = field(default_factory=dict)
    unit: str = ""
    published: str = ""
    operationalisation: str = ""
    aggregate: str = "mean"
    rate_of: str | None = None
    rate_bound: float = 0.01
    over: str | None = None
    numerator: Any = None
    denominator: Any = None
    levels: dict[str, list[Any]] | list[Any] | None = None
    min_levels: int = 2
    max_drop: float = 0.0
    max_step: float = math.inf
    require: str = "all"
    # difference: the denominator level must show none (a count-like metric 0 in every trial)
    denominator_zero: bool = False
    # parameters every configuration's label names even when the sweep has one level
    split: list[str] = field(default_factory=list)
    # first_limit: the metric's limit (per point) and the rival limit's metric (> 0 = reached)
    limit_metric: str | None = None
    limit_share: float = 0.9
    rival_metric: str | None = None
    rival_name: str = ""
    # the parameters whose levels differ "by construction" (ratio over host): see claims.py
    construction: bool = False
    # versus: a lower-is-better metric judged beside `metric` (rival / subject)
    cost_metric: str | None = None

    def __post_init__(self) -> None:
        # A plain list of levels is the levels of `over` (a trend's series).
        if isinstance(self.levels, list):
            self.levels = {self.over or "": list(self.levels)}
        self.levels = dict(self.levels or {})

    def series_levels(self) -> list[Any]:
        """The levels of `over` a trend runs through, in order."""
        assert isinstance(self.levels, dict)
        return list(self.levels.get(self.over or "", []))

    def named_levels(self) -> dict[str, list[Any]]:
        """Every level the claim names, per parameter: a list in its condition, its `levels`,
        and a ratio's named numerator and denominator. A sweep that lacks some of them
        measured the claim only partly."""
        named: dict[str, list[Any]] = {}
        for k, v in self.condition.items():
            if isinstance(v, list) and len(v) > 1:
                named[k] = list(v)
        assert isinstance(self.levels, dict)
        for k, v in self.levels.items():
            named[k] = list(dict.fromkeys([*named.get(k, []), *v]))
        if self.kind in ("ratio", "difference") and self.over:
            pair = [v for v in (self.numerator, self.denominator) if v not in POSITIONAL]
            if pair:
                named[self.over] = list(dict.fromkeys([*named.get(self.over, []), *pair]))
        return named


def load_claims(path: Path) -> list[Claim]:
    """Claims from YAML, each checked: a bad field stops with the claim's id and the field."""
    try:
        doc = yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("claims"), list):
        raise ValueError(f"{path}: needs a top-level 'claims:' list")
    claims = []
    known = set(Claim.__dataclass_fields__)
    for i, raw in enumerate(doc["claims"]):
        cid = raw.get("id", f"#{i}") if isinstance(raw, dict) else f"#{i}"
        if not isinstance(raw, dict):
            raise ValueError(f"{path}: claim {cid} is not a mapping")
        unknown = set(raw) - known
        if unknown:
            raise ValueError(f"{path}: claim {cid}: unknown field(s) {sorted(unknown)}")
        try:
            claim = Claim(**raw)
        except TypeError as exc:
            raise ValueError(f"{path}: claim {cid}: {exc}") from exc
        check(claim, path)
        claims.append(claim)
    ids = [c.id for c in claims]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        raise ValueError(f"{path}: duplicate claim id(s) {sorted(dup)}")
    return claims


def load_study(path: Path) -> dict[str, Any]:
    """The study's own testbed description (claims file, `study_testbed:`)."""
    doc = yaml.safe_load(Path(path).read_text()) or {}
    return doc.get("study_testbed") or {}


@dataclass(frozen=True)
class Reference:
    """The study's numbers set beside ours (claims file, `reference:`)."""

    study_rps: float  # the headline claim's rate: "the study's 90 RPS"
    # figure 1's marks: (rate, percentile, latency bound in ms, label)
    marks: tuple[tuple[float, float, float, str], ...]


def load_reference(path: Path) -> Reference:
    """`reference:` of the claims file, its numbers read from the claims it names."""
    doc = yaml.safe_load(Path(path).read_text()) or {}
    ref = doc.get("reference") or {}
    by_id = {c.get("id"): c for c in doc.get("claims") or [] if isinstance(c, dict)}

    def claim(cid: Any, field: str) -> dict[str, Any]:
        if cid not in by_id:
            raise ValueError(f"{path}: reference.{field} names no claim: {cid!r}")
        return by_id[cid]

    head = claim(ref.get("headline"), "headline")
    marks = []
    for i, m in enumerate(ref.get("figure1_marks") or []):
        c = claim(m.get("claim"), f"figure1_marks[{i}].claim")
        bound = re.fullmatch(r"frac_ok_under_(\d+)ms", str(c.get("metric")))
        if bound is None:
            raise ValueError(
                f"{path}: claim {c['id']}: a figure 1 mark needs a frac_ok_under_<ms>ms metric"
            )
        rps = float(c["condition"]["rps"])
        label = f"study: {c.get('published', '')} at {rps:g} RPS"
        marks.append((rps, float(m["percentile"]), float(bound.group(1)), label))
    return Reference(float(head["condition"]["rps"]), tuple(marks))


@functools.cache
def study_reference() -> Reference:
    """load_reference of paper/claims.yaml (what figures, tables and captions set beside)."""
    return load_reference(paths.PAPER_DIR / "claims.yaml")


def check(c: Claim, path: Path | str = "claim") -> None:
    """Stop with one clear line if a claim's fields do not make a test."""
    where = f"{path}: claim {c.id}"
    if c.kind not in KINDS:
        raise ValueError(f"{where}: kind {c.kind!r} is not one of {KINDS}")
    if c.comparison not in COMPARISONS:
        raise ValueError(f"{where}: comparison {c.comparison!r} is not one of {list(COMPARISONS)}")
    if c.comparison == "within" and not (
        isinstance(c.threshold, list) and len(c.threshold) == 2 and c.threshold[0] <= c.threshold[1]
    ):
        raise ValueError(f"{where}: 'within' needs threshold [low, high]")
    if c.comparison != "within" and not isnum(c.threshold):
        raise ValueError(f"{where}: threshold must be a number")
    if c.kind in ("ratio", "trend") and not c.over:
        raise ValueError(f"{where}: kind {c.kind} needs 'over' (the parameter it runs over)")
    if c.kind in ("ratio", "difference", "first_limit") and not c.over:
        raise ValueError(f"{where}: kind {c.kind} needs 'over' (the parameter it runs over)")
    if c.kind == "versus" and (not c.over or c.numerator is None):
        raise ValueError(f"{where}: kind versus needs 'over' and 'numerator' (the subject)")
    if c.kind in ("ratio", "difference") and (c.numerator is None or c.denominator is None):
        raise ValueError(f"{where}: kind {c.kind} needs 'numerator' and 'denominator'")
    if c.kind == "first_limit" and not (c.limit_metric and c.rival_metric):
        raise ValueError(f"{where}: kind first_limit needs 'limit_metric' and 'rival_metric'")
    if not 0 < c.limit_share <= 1:
        raise ValueError(f"{where}: limit_share must be in (0, 1]")
    if not isinstance(c.split, list):
        raise ValueError(f"{where}: split must be a list of parameters")
    if c.kind == "trend" and len(c.series_levels()) < 2:
        raise ValueError(f"{where}: kind trend needs 'levels' (at least 2 of '{c.over}')")
    if c.aggregate not in ("mean", "sum"):
        raise ValueError(f"{where}: aggregate must be mean or sum")
    if c.aggregate == "sum" and not c.rate_of:
        raise ValueError(f"{where}: aggregate sum needs 'rate_of' (the count it is a share of)")
    if not 0 < c.rate_bound <= 1:
        raise ValueError(f"{where}: rate_bound must be in (0, 1]")
    if c.require not in ("all", "any"):
        raise ValueError(f"{where}: require must be all or any")
    if not isinstance(c.condition, dict):
        raise ValueError(f"{where}: condition must be a mapping of parameter to value")
    if not isinstance(c.levels, dict) or not all(isinstance(v, list) for v in c.levels.values()):
        raise ValueError(f"{where}: levels must be a list, or a mapping of parameter to a list")
