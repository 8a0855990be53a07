"""Static maps as inline SVG, drawn from GeoDataFrames in EPSG:32632: no tiles, no network, crisp
in HTML and in the PDF. Includes a scale bar, a north arrow and a legend."""
from __future__ import annotations

import html
import uuid
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely


@dataclass
class MapLayer:
    data: gpd.GeoDataFrame
    label: str = ""                 # legend entry ("" = not in the legend)
    fill: str = "none"
    stroke: str = "#17324d"
    stroke_width: float = 0.6
    opacity: float = 1.0
    radius: float = 2.5             # points, in px
    fill_column: str | None = None  # per-feature fill colour column (overrides fill)
    text_column: str | None = None  # per-feature label drawn at the representative point
    font_size: float = 8.0


def _fmt(v: float) -> str:
    return f"{v:.1f}"


def _ring_path(coords: np.ndarray, tx, ty) -> str:
    xs, ys = tx(coords[:, 0]), ty(coords[:, 1])
    pts = " ".join(f"{_fmt(x)} {_fmt(y)}" for x, y in zip(xs, ys))
    return f"M{pts}Z"


def _geom_path(g, tx, ty, closed: bool) -> str:
    parts = []
    if g.geom_type in ("Polygon", "MultiPolygon"):
        polys = [g] if g.geom_type == "Polygon" else list(g.geoms)
        for p in polys:
            for ring in [p.exterior, *p.interiors]:
                parts.append(_ring_path(np.asarray(ring.coords), tx, ty))
    elif g.geom_type in ("LineString", "MultiLineString"):
        lines = [g] if g.geom_type == "LineString" else list(g.geoms)
        for ln in lines:
            c = np.asarray(ln.coords)
            parts.append("M" + " ".join(f"{_fmt(x)} {_fmt(y)}" for x, y in zip(tx(c[:, 0]), ty(c[:, 1]))))
    elif g.geom_type == "GeometryCollection":
        parts.extend(_geom_path(s, tx, ty, closed) for s in g.geoms)
    return "".join(parts)


def _nice_length(max_m: float) -> float:
    for v in (50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000, 20000, 25000, 50000):
        if v >= max_m * 0.9:
            return v
    return 100000


def svg_map(layers: list[MapLayer], width: int = 640, height: int = 480,
            bbox: tuple[float, float, float, float] | None = None, pad: float = 0.04, title: str = "") -> str:
    """Draw ``layers`` (bottom first) into an SVG string of ``width`` × ``height`` px."""
    if bbox is None:
        nonempty = [l.data for l in layers if len(l.data)]
        if not nonempty:
            raise ValueError("svg_map: nothing to draw")
        b = np.array([d.total_bounds for d in nonempty])
        bbox = (b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max())
    minx, miny, maxx, maxy = bbox
    dx, dy = max(maxx - minx, 1.0), max(maxy - miny, 1.0)
    minx, maxx, miny, maxy = minx - dx * pad, maxx + dx * pad, miny - dy * pad, maxy + dy * pad
    legend_h = 16 * sum(1 for l in layers if l.label) + (8 if any(l.label for l in layers) else 0)
    draw_h = height - legend_h
    scale = min(width / (maxx - minx), draw_h / (maxy - miny))
    ox = (width - (maxx - minx) * scale) / 2
    oy = (draw_h - (maxy - miny) * scale) / 2
    tx = lambda x: ox + (np.asarray(x) - minx) * scale  # noqa: E731
    ty = lambda y: oy + (maxy - np.asarray(y)) * scale  # noqa: E731
    tol = 0.5 / scale  # half a pixel: invisible simplification, much smaller files
    view = shapely.box(minx, miny, maxx, maxy)
    clip_id = "clip" + uuid.uuid4().hex[:8]  # unique: several maps can share one HTML page
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="{html.escape(title or "mappa")}" '
           f'font-family="DejaVu Sans, Arial, sans-serif">',
           f'<defs><clipPath id="{clip_id}"><rect width="{width}" height="{draw_h}"/></clipPath></defs>',
           f'<rect width="{width}" height="{draw_h}" fill="#f7f9fb"/>', f'<g clip-path="url(#{clip_id})">']
    for layer in layers:
        d = layer.data
        if not len(d):
            continue
        geoms = d.geometry.to_numpy()
        keep = shapely.intersects(geoms, view)
        geoms = geoms[keep]
        fills = d[layer.fill_column].to_numpy()[keep] if layer.fill_column else None
        texts = d[layer.text_column].to_numpy()[keep] if layer.text_column else None
        out.append(f'<g opacity="{layer.opacity}" stroke="{layer.stroke}" stroke-width="{layer.stroke_width}" '
                   f'fill="{layer.fill}" stroke-linejoin="round">')
        types = shapely.get_type_id(geoms)
        simplified = shapely.simplify(geoms, tol, preserve_topology=True)
        for i, g in enumerate(simplified):
            fill_attr = f' fill="{fills[i]}"' if fills is not None and fills[i] else ""
            if types[i] in (0, 4):
                for p in (shapely.get_parts(g) if types[i] == 4 else [g]):
                    out.append(f'<circle cx="{_fmt(float(tx(p.x)))}" cy="{_fmt(float(ty(p.y)))}" '
                               f'r="{layer.radius}"{fill_attr}/>')
            else:
                closed = types[i] in (3, 6)
                attr = fill_attr if closed else ' fill="none"'
                out.append(f'<path d="{_geom_path(g, tx, ty, closed)}" fill-rule="evenodd"{attr}/>')
        out.append("</g>")
        if texts is not None:
            pts = shapely.point_on_surface(geoms)
            out.append(f'<g font-size="{layer.font_size}" fill="#17324d" text-anchor="middle" stroke="none">')
            for p, t in zip(pts, texts):
                if t:
                    # halo first, then the text on top (WeasyPrint ignores paint-order)
                    xy = f'x="{_fmt(float(tx(p.x)))}" y="{_fmt(float(ty(p.y)))}"'
                    label = html.escape(str(t))
                    out.append(f'<text {xy} stroke="#fff" stroke-width="2.5" stroke-linejoin="round">{label}</text>'
                               f'<text {xy}>{label}</text>')
            out.append("</g>")
    out.append("</g>")  # end of the clipped map area: nothing spills into the legend
    # scale bar (bottom left) and north arrow (top right)
    bar_m = _nice_length((width * 0.25) / scale)
    bar_px = bar_m * scale
    y0 = draw_h - 12
    label = f"{bar_m / 1000:g} km" if bar_m >= 1000 else f"{bar_m:g} m"
    out.append(f'<g stroke="#17324d" fill="#17324d" font-size="9"><rect x="10" y="{y0 - 4}" width="{_fmt(bar_px)}" '
               f'height="4" fill="#fff"/><rect x="10" y="{y0 - 4}" width="{_fmt(bar_px / 2)}" height="4"/>'
               f'<text x="{_fmt(10 + bar_px + 4)}" y="{y0}" stroke="none">{label}</text></g>')
    out.append(f'<g transform="translate({width - 20},12)" fill="#17324d"><path d="M0 0 L6 16 L0 12 L-6 16 Z"/>'
               f'<text x="0" y="27" font-size="9" text-anchor="middle">N</text></g>')
    y = draw_h + 14
    for layer in layers:
        if not layer.label:
            continue
        sw = (f'<circle cx="16" cy="{y - 4}" r="4" fill="{layer.fill}" stroke="{layer.stroke}"/>'
              if len(layer.data) and layer.data.geom_type.isin(["Point", "MultiPoint"]).all() else
              f'<rect x="10" y="{y - 9}" width="12" height="10" fill="{layer.fill}" stroke="{layer.stroke}" '
              f'opacity="{layer.opacity}"/>')
        out.append(sw + f'<text x="28" y="{y}" font-size="10" fill="#17324d">{html.escape(layer.label)}</text>')
        y += 16
    out.append("</svg>")
    return "".join(out)
