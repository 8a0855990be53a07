"""Property-based tests (Hypothesis): for any sequence of operations, valid ones are applied and
invalid ones refused with no change; debits = credits per section, quota totals are preserved,
no constrained balance is negative and the hash chain verifies."""
from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from sqlalchemy import create_engine
from sqlalchemy.pool import StaticPool

from sttm.equalization.fund import (Ledger, LedgerRefused, Line, Posting, contribution, disbursement,
                                    public_utility_categories, quota_allocation, quota_transfer, verify)

ADHERENT = ["015146", "015010", "015027"]
OTHER = "015999"
COMUNI = ADHERENT + [OTHER]
CATS = sorted(public_utility_categories())
ROLES = ["cmm"] + [f"comune:{c}" for c in COMUNI]
amounts = st.integers(min_value=1, max_value=5_000)


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        eng = create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})
        self.led = Ledger(eng, rights=lambda istat, adv: istat in ADHERENT)
        self.fund = 0                               # model: financial fund balance
        self.quota = {c: 0 for c in COMUNI}         # model: soil quota held
        self.allocated = 0
        self.n = 0
        self.effects: list = []                     # per accepted posting: (fund Δ, {comune: quota Δ}, reversible)

    def _apply(self, posting, expect_ok: bool):
        before = (self.led.head(), self.led.balances())
        try:
            self.led.post(posting)
        except LedgerRefused as exc:
            assert not expect_ok, f"valid posting refused: {exc}"
            assert exc.message                       # a clear reason
            assert (self.led.head(), self.led.balances()) == before
            return False
        assert expect_ok, f"invalid posting accepted: {posting}"
        self.n += 1
        return True

    def _record(self, fund=0, quota=None, reversible=True):
        self.effects.append([fund, quota or {}, reversible])

    @rule(amount=amounts, role=st.sampled_from(ROLES), comune=st.sampled_from(COMUNI))
    def contribute(self, amount, role, comune):
        ok = role == "cmm" or role == f"comune:{comune}"
        if self._apply(contribution(amount, source="contributi_aggiuntivi", comune=comune, cause_type="agreement",
                                    cause_ref="AT", author="t", author_role=role), ok):
            self.fund += amount
            self._record(fund=amount)

    @rule(amount=amounts, cat=st.sampled_from(CATS + ["private_yacht"]), role=st.sampled_from(ROLES),
          comune=st.sampled_from(COMUNI))
    def disburse(self, amount, cat, role, comune):
        ok = role == "cmm" and cat in CATS and amount <= self.fund
        if self._apply(disbursement(amount, category=cat, beneficiary=comune, cause_type="call_decision",
                                    cause_ref="AVV", author="t", author_role=role), ok):
            self.fund -= amount
            self._record(fund=-amount)

    @rule(m2=amounts, comune=st.sampled_from(COMUNI), role=st.sampled_from(ROLES))
    def allocate(self, m2, comune, role):
        if self._apply(quota_allocation(m2, comune=comune, cause_ref="LR31", author="t", author_role=role),
                       role == "cmm"):
            self.quota[comune] += m2
            self.allocated += m2
            self._record(quota={comune: m2})

    @rule(m2=amounts, a=st.sampled_from(COMUNI), b=st.sampled_from(COMUNI), role=st.sampled_from(ROLES))
    def transfer(self, m2, a, b, role):
        ok = (a != b and a in ADHERENT and b in ADHERENT and (role == "cmm" or role == f"comune:{a}")
              and m2 <= self.quota[a])
        if self._apply(quota_transfer(m2, from_comune=a, to_comune=b, cause_ref="SC", author="t", author_role=role), ok):
            self.quota[a] -= m2
            self.quota[b] += m2
            self._record(quota={a: -m2, b: m2})

    @rule(i=st.integers(0, 200), role=st.sampled_from(["cmm", "comune:015146"]))
    def reverse(self, i, role):
        if not self.effects:
            return
        i %= len(self.effects)
        fund, quota, reversible = self.effects[i]
        ok = (role == "cmm" and reversible and self.fund - fund >= 0
              and all(self.quota[c] - d >= 0 for c, d in quota.items()))
        before = (self.led.head(), self.led.balances())
        try:
            self.led.reverse(i + 1, reason="rettifica", author="t", author_role=role)
        except LedgerRefused:
            assert not ok
            assert (self.led.head(), self.led.balances()) == before
            return
        assert ok
        self.n += 1
        self.fund -= fund
        for c, d in quota.items():
            self.quota[c] -= d
        self.allocated -= sum(d for c, d in quota.items()) if len(quota) == 1 else 0
        self.effects[i][2] = False
        self.effects.append([-fund, {c: -d for c, d in quota.items()}, False])

    @rule(x=st.integers(-3, 3).filter(lambda v: v != 0), amount=amounts)
    def unbalanced(self, x, amount):
        self._apply(Posting("contribution", "agreement", "X", "t", "cmm",
                            (Line("financial", "fund", amount + x), Line("financial", "source:x", -amount))), False)

    @invariant()
    def books_balance(self):
        rows = self.led.balances()
        per_section: dict[str, int] = {}
        for r in rows:
            per_section[r["section"]] = per_section.get(r["section"], 0) + r["balance"]
            if not (r["account"].startswith("source:") or r["account"].startswith("quota:")):
                assert r["balance"] >= 0
        assert all(v == 0 for v in per_section.values())
        held = sum(r["balance"] for r in rows if r["section"] == "soil_quota" and r["account"].startswith("comune:"))
        assert held == self.allocated
        assert self.led.balance("financial", "fund") == self.fund
        for c in COMUNI:
            assert self.led.balance("soil_quota", f"comune:{c}") == self.quota[c]

    def teardown(self):
        rep = verify(self.led.engine)
        assert rep.ok and rep.n_postings == self.n, rep.errors
        self.led.engine.dispose()


LedgerMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=25, deadline=None,
                                           suppress_health_check=[HealthCheck.too_slow])
TestLedgerProperties = LedgerMachine.TestCase
