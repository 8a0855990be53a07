"""The annual call (avviso annuale, PTM art. 14): proposals of adherent comuni, scored by STTM
coherence (art. 19) with the weight table ``data/call_criteria.csv``, ranked with the tie rule of
``data/call_rules.toml``, and funded down the ranking within the budget; the decision is posted
to the fund ledger (disbursements, CMM only) in the same transaction as the decision records.

Scores are exact fractions (no float ties); ``score_milli`` is for display only.
"""
from __future__ import annotations

import csv
import json
import re
import tomllib
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from importlib import resources
from pathlib import Path

from sqlalchemy import Engine, insert, select

from sttm.equalization.fund import Ledger, disbursement, public_utility_categories

from sttm.equalization.fund import chain
from sttm.equalization.fund.errors import Refused
from sttm.equalization.fund.money import eur_to_cents

from . import adhesion, schema

CMM = "cmm"
_ID = re.compile(r"^[A-Za-z0-9_.\-/]{1,60}$")


class CallError(Refused):
    """A refusal; nothing was written."""


@lru_cache(maxsize=None)
def criteria() -> dict[str, dict]:
    with resources.files(__package__).joinpath("data", "call_criteria.csv").open(encoding="utf-8") as fh:
        rows = {r["criterion"]: r for r in csv.DictReader(fh)}
    for r in rows.values():
        r["weight"] = int(r["weight"])
    return rows


@lru_cache(maxsize=None)
def rules() -> dict:
    with resources.files(__package__).joinpath("data", "call_rules.toml").open("rb") as fh:
        r = tomllib.load(fh)
    if r["allocation"] not in ("skip", "stop"):
        raise ValueError("call_rules.toml: allocation must be 'skip' or 'stop'")
    return r


def ensure_schema(engine: Engine) -> None:
    chain.ensure_tables(engine, schema.metadata, [schema.calls, schema.proposals, schema.decisions])


_now = chain.now


# ------------------------------------------------------------------------------------ scoring
@dataclass(frozen=True)
class Proposal:
    proposal_id: str
    istat_code: str
    title: str
    category: str
    cost: int                    # EUR cents
    requested: int               # EUR cents
    cofunding: int = 0           # EUR cents
    strategies: tuple[str, ...] = ()
    lum_level: int = 0           # 0 = outside any LUM, 1..3
    in_green_network: bool = False
    in_regeneration_area: bool = False
    indicator_score: int | None = None   # ‰ (0..1000), None = not available
    kind: str = "intervention"   # intervention | building
    submitted_at: str = ""
    location_source: str = "declared"
    geometry: str | None = None  # WKT in EPSG:32632 (point or polygon of the intervention)


def criterion_scores(p: Proposal, weights: dict[str, int] | None = None) -> dict[str, Fraction]:
    """Points per criterion (exact fractions), weight × sub-score in [0, 1]."""
    w = weights or {k: v["weight"] for k, v in criteria().items()}
    full = Fraction(rules()["cofunding_full_share"])
    sub = {
        "strategies": Fraction(len(set(p.strategies)), 3),
        "lum": Fraction({0: 0, 1: 3, 2: 2, 3: 1}[p.lum_level], 3),
        "green_network": Fraction(int(bool(p.in_green_network))),
        "regeneration_area": Fraction(int(bool(p.in_regeneration_area))),
        "indicators": Fraction(p.indicator_score or 0, 1000),
        "cofunding": min(Fraction(p.cofunding, p.cost) / full, Fraction(1)) if p.cost else Fraction(0),
    }
    return {k: w[k] * sub[k] for k in w}


def score(p: Proposal, weights: dict[str, int] | None = None) -> Fraction:
    return sum(criterion_scores(p, weights).values(), Fraction(0))


def rank_key(p: Proposal, s: Fraction):
    """The tie rule of call_rules.toml: score desc, co-funding share desc, requested asc,
    submission time asc, proposal id asc."""
    share = Fraction(p.cofunding, p.cost) if p.cost else Fraction(0)
    return (-s, -share, p.requested, p.submitted_at, p.proposal_id)


@dataclass
class RankedProposal:
    rank: int | None
    proposal: Proposal
    score: Fraction
    granted: int
    outcome: str        # funded | not_funded | excluded
    reason: str


def rank_and_allocate(proposals: list[Proposal], budget: int, *, eligible=lambda p: (True, ""),
                      weights: dict[str, int] | None = None) -> list[RankedProposal]:
    """Pure: ranks the proposals and allocates ``budget`` (cents) down the ranking.

    Excluded proposals (not eligible, or under ``min_score``) get no rank."""
    rl = rules()
    scored = [(p, score(p, weights)) for p in proposals]
    out: list[RankedProposal] = []
    ranked = []
    for p, s in scored:
        ok, why = eligible(p)
        if not ok:
            out.append(RankedProposal(None, p, s, 0, "excluded", why))
        elif s < rl["min_score"]:
            out.append(RankedProposal(None, p, s, 0, "excluded",
                                      f"punteggio {float(s):.2f} inferiore alla soglia minima {rl['min_score']}"))
        else:
            ranked.append((p, s))
    ranked.sort(key=lambda ps: rank_key(*ps))
    remaining, stopped = budget, False
    result = []
    for i, (p, s) in enumerate(ranked, 1):
        if not stopped and p.requested <= remaining:
            remaining -= p.requested
            result.append(RankedProposal(i, p, s, p.requested, "funded", "finanziata per intero"))
        else:
            if rl["allocation"] == "stop":
                stopped = True
            result.append(RankedProposal(i, p, s, 0, "not_funded",
                                         "risorse residue insufficienti" if not stopped or p.requested > remaining
                                         else "assegnazione interrotta (regola 'stop')"))
    return result + out


# ---------------------------------------------------------------------------------- persistence
def open_call(engine: Engine, call_id: str, *, year: int, budget: int, author: str, author_role: str = CMM,
              title: str = "") -> None:
    if author_role != CMM:
        raise CallError("only_cmm", "only CMM opens the annual call")
    if not _ID.match(call_id):
        raise CallError("call_id", f"call id '{call_id}' must be 1-60 characters among letters, digits, _ . - /")
    if isinstance(budget, bool) or not isinstance(budget, int) or budget <= 0:
        raise CallError("budget", f"budget must be a positive integer number of cents, got {budget!r}")
    ensure_schema(engine)
    weights = {k: v["weight"] for k, v in criteria().items()}
    with engine.begin() as conn:
        if conn.execute(select(schema.calls.c.call_id).where(schema.calls.c.call_id == call_id)).first():
            raise CallError("exists", f"call '{call_id}' already exists")
        conn.execute(insert(schema.calls).values(call_id=call_id, year=year, budget=budget,
                                                 title=title or f"Avviso annuale art. 14 NdA PTM — {year}",
                                                 weights=json.dumps(weights), opened_at=_now(), opened_by=author))


def _call(conn, call_id: str):
    c = conn.execute(select(schema.calls).where(schema.calls.c.call_id == call_id)).first()
    if c is None:
        raise CallError("no_call", f"no call '{call_id}'")
    return c


def _validate(p: Proposal, where: str) -> None:
    def need(cond, code, msg):
        if not cond:
            raise CallError(code, f"{where}: {msg}")
    need(bool(_ID.match(p.proposal_id or "")), "proposal_id", f"proposal_id '{p.proposal_id}' is not a valid id")
    need(bool(re.match(r"^\d{6}$", p.istat_code or "")), "istat_code", f"istat_code '{p.istat_code}' is not 6 digits")
    need(bool(p.title and p.title.strip()), "title", "title is required")
    need(p.category in public_utility_categories(), "category",
         f"category '{p.category}' is not a public-utility category ({', '.join(public_utility_categories())})")
    need(p.kind in ("intervention", "building"), "kind", f"kind must be 'intervention' or 'building', got '{p.kind}'")
    for f in ("cost", "requested", "cofunding"):
        v = getattr(p, f)
        need(isinstance(v, int) and not isinstance(v, bool) and v >= 0, f, f"{f} must be a non-negative integer (cents)")
    need(p.requested > 0, "requested", "requested must be positive")
    need(p.requested + p.cofunding <= p.cost, "cost", "requested + cofunding exceed the cost")
    need(all(s in adhesion.STRATEGIES for s in p.strategies), "strategies", f"strategies must be among {adhesion.STRATEGIES}")
    need(p.lum_level in (0, 1, 2, 3), "lum_level", "lum_level must be 0 (outside), 1, 2 or 3")
    need(p.indicator_score is None or 0 <= p.indicator_score <= 1000, "indicator_score", "indicator_score is 0..1000 ‰")


def submit(engine: Engine, call_id: str, proposals: list[Proposal], *, author: str, author_role: str) -> int:
    """Submits proposals to a call, all or none. Only comuni with the right to take part in the
    call (adhesion advantage 'annual_call', or case c's own procedure) may propose; a comune
    submits only its own proposals (CMM may register them on a comune's behalf)."""
    ensure_schema(engine)
    for i, p in enumerate(proposals, 1):
        where = f"proposal {i} ({p.proposal_id})"
        _validate(p, where)
        if author_role != CMM and author_role != f"comune:{p.istat_code}":
            raise CallError("role", f"{where}: {author_role} cannot submit for comune {p.istat_code}")
        if not adhesion.has_right(engine, p.istat_code, "annual_call"):
            raise CallError("not_adherent", f"{where}: comune {p.istat_code} has not adhered to the STTM and the fund "
                            "in a case that admits it to the annual call (Relazione §4.5)")
    ids = [p.proposal_id for p in proposals]
    if len(set(ids)) != len(ids):
        raise CallError("duplicate", "duplicate proposal_id in the submission")
    ts = _now()
    with engine.begin() as conn:
        _call(conn, call_id)
        if conn.execute(select(schema.decisions.c.call_id).where(schema.decisions.c.call_id == call_id)).first():
            raise CallError("closed", f"call '{call_id}' is already decided")
        dup = conn.execute(select(schema.proposals.c.proposal_id).where(schema.proposals.c.call_id == call_id,
                                                                          schema.proposals.c.proposal_id.in_(ids))).first()
        if dup:
            raise CallError("duplicate", f"proposal '{dup[0]}' already submitted to call '{call_id}'")
        conn.execute(insert(schema.proposals), [dict(
            proposal_id=p.proposal_id, call_id=call_id, istat_code=p.istat_code, title=p.title, kind=p.kind,
            category=p.category, strategies=",".join(p.strategies), cost=p.cost, requested=p.requested,
            cofunding=p.cofunding, lum_level=p.lum_level, in_green_network=int(bool(p.in_green_network)),
            in_regeneration_area=int(bool(p.in_regeneration_area)), indicator_score=p.indicator_score,
            location_source=p.location_source, geometry_wkt=p.geometry, submitted_at=p.submitted_at or ts,
            submitted_by=author)
            for p in proposals])
    return len(proposals)


def _euro_to_cents(text: str, where: str) -> int:
    try:
        return eur_to_cents(text, where)
    except Refused as exc:
        raise CallError(exc.code, exc.message) from None


def _geometry(r: dict, where: str) -> str | None:
    """WKT (EPSG:32632) from a ``wkt`` column, or a point from ``lon``/``lat`` (WGS 84)."""
    import shapely
    if (r.get("wkt") or "").strip():
        try:
            g = shapely.from_wkt(r["wkt"])
        except shapely.errors.GEOSException as exc:
            raise CallError("geometry", f"{where}, wkt: {exc}") from None
        if g is None or g.is_empty or not g.is_valid:
            raise CallError("geometry", f"{where}, wkt: empty or invalid geometry")
        return g.wkt
    if (r.get("lon") or "").strip() and (r.get("lat") or "").strip():
        from pyproj import Transformer
        x, y = Transformer.from_crs("EPSG:4326", "EPSG:32632", always_xy=True).transform(float(r["lon"]), float(r["lat"]))
        return shapely.Point(x, y).wkt
    return None


def locate(proposals: list[Proposal], layers: dict) -> tuple[list[Proposal], list[str]]:
    """Pure: sets the location criteria of proposals that have a geometry from the given layers
    (GeoDataFrames in EPSG:32632, or None when absent): ``lum`` (column ``level``),
    ``green_network``, ``regeneration`` (opportunity areas). Criteria whose layer is absent keep
    the comune's declaration; ``location_source`` says which."""
    import dataclasses
    import shapely
    cfg = rules()["location"]
    notes = [f"strato '{cfg[k + '_layer']}' assente: vale la dichiarazione del Comune"
             for k in ("lum", "green_network", "regeneration") if layers.get(k) is None]
    out = []
    for p in proposals:
        if not p.geometry:
            out.append(p)
            continue
        g = shapely.from_wkt(p.geometry)
        upd, computed = {}, 0
        lum = layers.get("lum")
        if lum is not None:
            near = lum[lum.distance(g) <= cfg["lum_radius_m"]]
            levels = [cfg["lum_levels"].get(str(v), 3) for v in near["level"]] if len(near) else []
            upd["lum_level"] = min(levels) if levels else 0
            computed += 1
        for key, field in (("green_network", "in_green_network"), ("regeneration", "in_regeneration_area")):
            layer = layers.get(key)
            if layer is not None:
                upd[field] = bool(len(layer)) and bool(layer.intersects(g).any())
                computed += 1
        upd["location_source"] = "kb" if computed == 3 else ("kb+declared" if computed else "declared")
        out.append(dataclasses.replace(p, **upd))
    return out, notes


def _sub_indicators(p: Proposal, layers: dict) -> dict[str, Fraction]:
    """The STTM 1–3 sub-indicators (exact fractions in [0, 1]) available for ``p`` (see call_rules.toml)."""
    import shapely
    cfg = rules()["indicators"]
    out: dict[str, Fraction] = {}
    nbs = layers.get("sttm1")
    if nbs is not None and p.category in cfg["sttm1_categories"] and len(nbs):
        mine = nbs[nbs["istat_code"].astype(str) == p.istat_code]
        if len(mine):
            unmet = int((~mine["target_met"].astype(bool)).sum())
            out["sttm1"] = Fraction(unmet, len(mine))
    acc = layers.get("sttm2")
    if acc is not None and p.category in cfg["sttm2_categories"] and "score_15" in acc.columns:
        row = acc[acc["istat_code"].astype(str) == p.istat_code]
        if len(row) and row["score_15"].notna().any():
            s15 = Fraction(str(round(float(row["score_15"].dropna().iloc[0]), 6)))
            out["sttm2"] = min(max(1 - s15, Fraction(0)), Fraction(1))
    sites = layers.get("sttm3")
    if sites is not None and p.geometry and p.category in cfg["sttm3_categories"] and len(sites):
        g = shapely.from_wkt(p.geometry)
        hit = sites[sites.intersects(g)]
        if len(hit):
            vals = [0.0 if v != v else float(v) for v in hit["suitability"]]     # NaN = excluded site → 0
            out["sttm3"] = Fraction(str(round(max(vals), 6))) / 100
    return out


def indicators(proposals: list[Proposal], layers: dict) -> tuple[list[Proposal], list[str]]:
    """Pure: sets ``indicator_score`` (‰) from the STTM 1–3 layers given (``sttm1`` nbs_sheets table,
    ``sttm2`` access_by_municipality table, ``sttm3`` production_sites GeoDataFrame, or None when
    absent) for the proposals that have at least one sub-indicator; the others keep the comune's
    declaration. ``location_source`` gains ``|ind:<wings>`` (e.g. ``kb|ind:13``) when computed."""
    import dataclasses
    out, notes = [], []
    for p in proposals:
        subs = _sub_indicators(p, layers)
        if not subs:
            out.append(p)
            notes.append(f"{p.proposal_id}: indicatori STTM non disponibili, vale la dichiarazione del Comune "
                         f"({'—' if p.indicator_score is None else p.indicator_score} ‰)")
            continue
        value = sum(subs.values(), Fraction(0)) / len(subs) * 1000
        score_ = int(value.numerator * 2 + value.denominator) // (2 * value.denominator)     # half-up to ‰
        wings = "".join(k[-1] for k in sorted(subs))
        out.append(dataclasses.replace(p, indicator_score=score_,
                                       location_source=f"{p.location_source}|ind:{wings}"[:20]))
        notes.append(f"{p.proposal_id}: indicatori da " + ", ".join(
            f"STTM {k[-1]} = {float(v):.3f}".replace(".", ",") for k, v in sorted(subs.items()))
            + f" → {score_} ‰ (dichiarato: {'—' if p.indicator_score is None else p.indicator_score})")
    return out, notes


def locate_from_kb(kb, proposals: list[Proposal]) -> tuple[list[Proposal], list[str]]:
    """``locate`` and ``indicators`` with the layers read from the knowledge base (those present)."""
    cfg = rules()["location"]
    layers = {}
    for key in ("lum", "green_network", "regeneration"):
        name = cfg[key + "_layer"]
        layers[key] = kb.read_layer(name) if kb.has_layer(name) else None
        if layers[key] is not None and getattr(layers[key], "geometry", None) is None:
            layers[key] = None
    located, notes = locate(proposals, layers)
    icfg = rules()["indicators"]
    ind_layers = {k: (kb.read_layer(icfg[f"{k}_layer"]) if kb.has_layer(icfg[f"{k}_layer"]) else None)
                  for k in ("sttm1", "sttm2", "sttm3")}
    if ind_layers["sttm3"] is not None and getattr(ind_layers["sttm3"], "geometry", None) is None:
        ind_layers["sttm3"] = None
    scored, ind_notes = indicators(located, ind_layers)
    return scored, notes + ind_notes


def read_proposals_csv(path: str | Path) -> list[Proposal]:
    """Proposals from a CSV with columns proposal_id, istat_code, title, category, cost_eur,
    requested_eur, cofunding_eur, strategies ("sttm1;sttm3"), lum_level, in_green_network (0/1),
    in_regeneration_area (0/1), indicator_score (‰, empty = n/a), kind, and optionally the location:
    wkt (EPSG:32632) or lon,lat (WGS 84), used by locate_from_kb. Errors name the row."""
    required = ["proposal_id", "istat_code", "title", "category", "cost_eur", "requested_eur"]
    out = []
    with open(path, newline="", encoding="utf-8") as fh:
        rd = csv.DictReader(fh)
        miss = [c for c in required if c not in (rd.fieldnames or [])]
        if miss:
            raise CallError("columns", f"{path}: missing column(s) {', '.join(miss)}")
        for n, r in enumerate(rd, 2):
            where = f"{path}, row {n}"
            try:
                p = Proposal(
                    proposal_id=r["proposal_id"].strip(), istat_code=r["istat_code"].strip().zfill(6),
                    title=r["title"].strip(), category=r["category"].strip(),
                    cost=_euro_to_cents(r["cost_eur"], f"{where}, cost_eur"),
                    requested=_euro_to_cents(r["requested_eur"], f"{where}, requested_eur"),
                    cofunding=_euro_to_cents(r.get("cofunding_eur") or "0", f"{where}, cofunding_eur"),
                    strategies=tuple(s.strip() for s in (r.get("strategies") or "").replace(",", ";").split(";") if s.strip()),
                    lum_level=int(r.get("lum_level") or 0),
                    in_green_network=(r.get("in_green_network") or "0").strip() in ("1", "true", "si", "sì", "yes"),
                    in_regeneration_area=(r.get("in_regeneration_area") or "0").strip() in ("1", "true", "si", "sì", "yes"),
                    indicator_score=int(r["indicator_score"]) if (r.get("indicator_score") or "").strip() else None,
                    kind=(r.get("kind") or "intervention").strip(),
                    geometry=_geometry(r, where))
            except ValueError as exc:
                if isinstance(exc, CallError):
                    raise
                raise CallError("value", f"{where}: {exc}") from None
            _validate(p, where)
            out.append(p)
    return out


def proposals_of(engine: Engine, call_id: str) -> list[Proposal]:
    ensure_schema(engine)
    P = schema.proposals
    with engine.connect() as conn:
        _call(conn, call_id)
        rows = conn.execute(select(P).where(P.c.call_id == call_id).order_by(P.c.submitted_at, P.c.proposal_id)).all()
    return [Proposal(r.proposal_id, r.istat_code, r.title, r.category, r.cost, r.requested, r.cofunding,
                     tuple(s for s in r.strategies.split(",") if s), r.lum_level, bool(r.in_green_network),
                     bool(r.in_regeneration_area), r.indicator_score, r.kind, r.submitted_at, r.location_source,
                     r.geometry_wkt)
            for r in rows]


def preview(engine: Engine, call_id: str, ledger: Ledger | None = None) -> tuple[list[RankedProposal], int]:
    """The ranking and allocation the decision would make now; returns (ranking, budget used)."""
    ledger = ledger or Ledger(engine)
    with engine.connect() as conn:
        c = _call(conn, call_id)
    weights = json.loads(c.weights)
    available = ledger.balance("financial", "fund")
    budget = min(c.budget, available)

    def eligible(p: Proposal):
        if not adhesion.is_adherent(engine, p.istat_code):
            return False, "atto deliberativo di adesione non ancora registrato"
        if not adhesion.has_right(engine, p.istat_code, "fund_financing"):
            return False, ("il caso di adesione del Comune non attiva il finanziamento della sezione finanziaria "
                           "del Fondo (Relazione §4.5, tabelle: solo casi a e b)")
        return True, ""
    return rank_and_allocate(proposals_of(engine, call_id), budget, eligible=eligible, weights=weights), budget


def decide(engine: Engine, call_id: str, *, author: str, author_role: str = CMM,
           ledger: Ledger | None = None) -> list[RankedProposal]:
    """Decides the call: ranks, allocates and posts one disbursement per funded proposal, all in
    one transaction with the decision records (CMM only; a call is decided once)."""
    if author_role != CMM:
        raise CallError("only_cmm", "only CMM decides the annual call and disburses from the fund")
    ledger = ledger or Ledger(engine)
    ensure_schema(engine)
    with engine.connect() as conn:
        if conn.execute(select(schema.decisions.c.call_id).where(schema.decisions.c.call_id == call_id)).first():
            raise CallError("closed", f"call '{call_id}' is already decided")
    ranking, _ = preview(engine, call_id, ledger)
    funded = [r for r in ranking if r.outcome == "funded"]
    postings = [disbursement(r.granted, category=r.proposal.category, beneficiary=r.proposal.istat_code,
                             cause_type="call_decision", cause_ref=f"{call_id}/{r.proposal.proposal_id}",
                             author=author, author_role=author_role, memo=r.proposal.title[:300])
                for r in funded]
    ts = _now()

    def record(conn, posted):
        seq_of = {r.proposal.proposal_id: ps.seq for r, ps in zip(funded, posted)}
        conn.execute(insert(schema.decisions), [dict(
            call_id=call_id, proposal_id=r.proposal.proposal_id, rank=r.rank, score_milli=round(r.score * 1000),
            granted=r.granted, outcome=r.outcome, reason=r.reason, posting_seq=seq_of.get(r.proposal.proposal_id),
            decided_at=ts, decided_by=author) for r in ranking])
    if postings:
        ledger.post_many(postings, extra=record)
    else:
        with engine.begin() as conn:
            record(conn, [])
    return ranking


def decisions_of(engine: Engine, call_id: str) -> list[dict]:
    ensure_schema(engine)
    D = schema.decisions
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(D).where(D.c.call_id == call_id)
                                                        .order_by(D.c.rank.is_(None), D.c.rank, D.c.proposal_id))]


OUTCOME_IT = {"funded": "finanziata", "not_funded": "non finanziata", "excluded": "esclusa"}


def ranking_html(engine: Engine, call_id: str, ranking: list[RankedProposal] | None = None,
                 usable: int | None = None) -> str:
    """The ranking as an Italian document: the decided one, or (with ``ranking``) a simulation."""
    from sttm.equalization.fund.money import fmt_cents
    from sttm.reports import render_html
    with engine.connect() as conn:
        c = _call(conn, call_id)
    decided = ranking is None
    if decided:
        rows = decisions_of(engine, call_id)
        if not rows:
            raise CallError("not_decided", f"call '{call_id}' is not decided yet")
        props = {p.proposal_id: p for p in proposals_of(engine, call_id)}
        items = [dict(rank=r["rank"], proposal_id=r["proposal_id"], istat_code=props[r["proposal_id"]].istat_code,
                      title=props[r["proposal_id"]].title, score=f"{r['score_milli'] / 1000:.3f}".replace(".", ","),
                      requested=fmt_cents(props[r["proposal_id"]].requested), granted=fmt_cents(r["granted"]),
                      granted_c=r["granted"], outcome_it=OUTCOME_IT[r["outcome"]], reason=r["reason"]) for r in rows]
    else:
        items = [dict(rank=r.rank, proposal_id=r.proposal.proposal_id, istat_code=r.proposal.istat_code,
                      title=r.proposal.title, score=f"{float(r.score):.3f}".replace(".", ","),
                      requested=fmt_cents(r.proposal.requested), granted=fmt_cents(r.granted), granted_c=r.granted,
                      outcome_it=OUTCOME_IT[r.outcome], reason=r.reason)
                 for r in sorted(ranking, key=lambda r: (r.rank is None, r.rank or 0))]
    granted = sum(i["granted_c"] for i in items)
    return render_html("sttm.procedures", "call_ranking.html.j2", dict(
        title=f"Avviso {call_id} — graduatoria", call=c, decided=decided, rows=items, criteria=list(criteria().values()),
        rules=rules(), budget_s=fmt_cents(c.budget), usable_s=fmt_cents(usable) if usable is not None else "—",
        granted_s=fmt_cents(granted)))
