#!/usr/bin/env bash
# System packages sttm needs (Debian 12): PostgreSQL+PostGIS for the multi-user store and its tests,
# Chromium for the browser tests, poppler for looking at PDFs, Node.js/npm for the portal's assets.
set -euo pipefail
pkgs=(postgresql-15-postgis-3 chromium chromium-driver poppler-utils fonts-dejavu-core)
command -v npm >/dev/null 2>&1 || pkgs+=(nodejs npm)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi
