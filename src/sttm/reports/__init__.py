"""Documents: Italian HTML reports and their PDF (WeasyPrint), with maps drawn by sttm as inline
SVG (no tiles, no network). Every wing renders its sheets through these three functions."""
from .render import it_number, render_html, write_pdf
from .svgmap import MapLayer, svg_map

__all__ = ["MapLayer", "it_number", "render_html", "svg_map", "write_pdf"]
