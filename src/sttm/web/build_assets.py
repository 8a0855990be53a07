"""Vendor the portal's front-end assets from npm into ``static/vendor`` (no CDN at run time).

Run ``python -m sttm.web.build_assets`` (or ``python src/sttm/web/build_assets.py``): it runs
``npm ci`` in ``src/sttm/web/assets`` (package-lock.json pins every version) and copies only the
distribution files the portal serves. ``--skip-npm`` copies from an existing node_modules.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ASSETS = HERE / "assets"
VENDOR = HERE / "static" / "vendor"

# (source relative to node_modules, destination relative to static/vendor)
COPIES: list[tuple[str, str]] = [
    ("bootstrap-italia/dist/css/bootstrap-italia.min.css", "bootstrap-italia/css/bootstrap-italia.min.css"),
    ("bootstrap-italia/dist/js/bootstrap-italia.bundle.min.js", "bootstrap-italia/js/bootstrap-italia.bundle.min.js"),
    ("bootstrap-italia/dist/fonts", "bootstrap-italia/fonts"),
    ("bootstrap-italia/dist/svg/sprites.svg", "bootstrap-italia/svg/sprites.svg"),
    ("bootstrap-italia/LICENSE", "bootstrap-italia/LICENSE"),
    ("maplibre-gl/dist/maplibre-gl.js", "maplibre-gl/maplibre-gl.js"),
    ("maplibre-gl/dist/maplibre-gl.css", "maplibre-gl/maplibre-gl.css"),
    ("maplibre-gl/LICENSE.txt", "maplibre-gl/LICENSE.txt"),
    ("axe-core/axe.min.js", "axe-core/axe.min.js"),
    ("axe-core/LICENSE", "axe-core/LICENSE"),
    ("chart.js/dist/chart.umd.min.js", "chart.js/chart.umd.min.js"),
    ("chart.js/LICENSE.md", "chart.js/LICENSE.md"),
]


def build(skip_npm: bool = False) -> list[Path]:
    """Install the pinned npm packages and copy their dist files; return the copied paths."""
    if not skip_npm:
        npm = shutil.which("npm")
        if npm is None:
            raise SystemExit("npm not found: install Node.js (Debian package 'npm') to build the portal assets")
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=ASSETS, check=True)
    modules = ASSETS / "node_modules"
    out: list[Path] = []
    for src_rel, dst_rel in COPIES:
        src = modules / src_rel
        dst = VENDOR / dst_rel
        if not src.exists():
            if src_rel.endswith(("LICENSE", "LICENSE.txt", "LICENSE.md")):
                continue  # licence file names vary between releases; the packages are still vendored
            raise SystemExit(f"missing {src}: run without --skip-npm")
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.rmtree(dst, ignore_errors=True)
            shutil.copytree(src, dst)
        else:
            shutil.copy2(src, dst)
        out.append(dst)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-npm", action="store_true", help="do not run npm ci; copy from node_modules")
    args = parser.parse_args(argv)
    paths = build(skip_npm=args.skip_npm)
    print(f"vendored {len(paths)} asset paths into {VENDOR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
