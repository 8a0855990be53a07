"""Portal pages of the equalization wing: the diffusion balances with their conferences and
agreements, and the metropolitan equalization fund."""
from __future__ import annotations

from fastapi import APIRouter

from .balance.web import router as balance_router
from .balance.web_forms import router as balance_forms_router
from .web_fund import router as fund_router

TITLE = "Perequazione"
HOME = "/bilanci"

router = APIRouter()
router.include_router(balance_forms_router)      # first: /bilanci/proponi before /bilanci/{balance_id}
router.include_router(balance_router)
router.include_router(fund_router)
