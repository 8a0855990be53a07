"""Bilancio delle diffusività territoriali (PTM art. 10 c.5): externalities of a planning
proposal by comune, supra-municipal/metropolitan relevance, resources and their equalized
allocation, and the conference → agreement workflow.

>>> from sttm.equalization.balance import load_params, parse_proposal, Territory, compute_balance
"""
from .allocation import largest_remainder, to_cents
from .engine import BalanceResult, compute_balance
from .model import Proposal, ProposalError, parse_proposal
from .params import BalanceParams, ParamsError, load_params
from .territory import Territory, TerritoryError

__all__ = ["BalanceParams", "BalanceResult", "ParamsError", "Proposal", "ProposalError", "Territory",
           "TerritoryError", "compute_balance", "largest_remainder", "load_params", "parse_proposal", "to_cents"]
