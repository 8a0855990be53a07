"""Coordinates of the production wing's hand-made scene (EPSG:32632, origin X0/Y0 near Milano).

A module of its own, with a unique name, so tests can import it: several wings have a conftest.py
and `from conftest import …` would pick whichever pytest imported first.
"""
from shapely.geometry import Point, box

X0, Y0 = 510000.0, 5030000.0
CRS = "EPSG:32632"


def B(x1, y1, x2, y2):
    return box(X0 + x1, Y0 + y1, X0 + x2, Y0 + y2)


def P(x, y):
    return Point(X0 + x, Y0 + y)
