"""Territorial equalization (PTM art. 10-11): diffusion balance, conferences and agreements,
the metropolitan equalization fund (``sttm.equalization.fund``) and its registers."""
