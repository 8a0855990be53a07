/* Remix metropolitan map: every layer from the local OGC API, filters, popups, a synced table. */
(function () {
  "use strict";
  const V = window.STTM_VOCAB, LAYERS = window.STTM_LAYERS;
  const PALETTE = { municipalities: "#5c6f82", zones: "#8e44ad", stations: "#d1344c", services: "#008055",
    interventions: "#0066cc", opportunity_areas: "#cc7a00" };
  const EXTRA = ["#17324d", "#a66300", "#2e7d32", "#6a1b9a", "#00838f", "#795548"];
  const ON_BY_DEFAULT = ["municipalities", "interventions", "opportunity_areas", "stations", "services"];
  const el = (id) => document.getElementById(id);
  const status = el("map-status");
  const esc = (s) => String(s == null ? "" : s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  const eur = (v) => v == null ? "—" : Number(v).toLocaleString("it-IT", { maximumFractionDigits: 0 }) + " €";
  const split = (s) => String(s || "").split(";").filter(Boolean);
  const label = (vocab, code) => (V[vocab] && V[vocab][code]) || code;

  const style = { version: 8, sources: {}, layers: [{ id: "background", type: "background", paint: { "background-color": "#eef1f4" } }] };
  const basemap = el("map").dataset.basemap;
  if (basemap) {
    style.sources.basemap = { type: "raster", tiles: [basemap], tileSize: 256 };
    style.layers.push({ id: "basemap", type: "raster", source: "basemap" });
  }
  const map = new maplibregl.Map({ container: "map", style: style, center: [9.1, 45.46], zoom: 9, attributionControl: { compact: true } });
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-right");
  map.addControl(new maplibregl.ScaleControl({ unit: "metric" }));
  window.sttmMap = map;
  window.sttmFiltered = () => filtered;  // for tests and debugging

  let allInterventions = [];
  let filtered = [];
  const popup = new maplibregl.Popup({ maxWidth: "320px" });

  async function fetchAll(name) {
    let url = "/ogcapi/collections/" + encodeURIComponent(name) + "/items?limit=10000";
    const feats = [];
    while (url) {
      const r = await fetch(url, { headers: { Accept: "application/geo+json" } });
      if (!r.ok) throw new Error(name + ": HTTP " + r.status);
      const fc = await r.json();
      feats.push(...fc.features);
      const next = (fc.links || []).find((l) => l.rel === "next");
      url = next ? next.href : null;
    }
    return { type: "FeatureCollection", features: feats };
  }

  function addStyleLayers(name, color) {
    const vis = ON_BY_DEFAULT.includes(name) ? "visible" : "none";
    const isPoly = ["match", ["geometry-type"], ["Polygon", "MultiPolygon"], true, false];
    const isLine = ["match", ["geometry-type"], ["LineString", "MultiLineString"], true, false];
    const isPoint = ["match", ["geometry-type"], ["Point", "MultiPoint"], true, false];
    const bg = name === "municipalities" || name === "zones";
    map.addLayer({ id: name + "-fill", type: "fill", source: name, filter: isPoly, layout: { visibility: vis },
      paint: { "fill-color": color, "fill-opacity": bg ? 0.06 : 0.35 } });
    map.addLayer({ id: name + "-line", type: "line", source: name, filter: ["any", isPoly, isLine], layout: { visibility: vis },
      paint: { "line-color": color, "line-width": bg ? 0.8 : 1.5 } });
    map.addLayer({ id: name + "-circle", type: "circle", source: name, filter: isPoint, layout: { visibility: vis },
      paint: { "circle-radius": name === "interventions" ? 5 : 4, "circle-color": color, "circle-stroke-color": "#ffffff",
               "circle-stroke-width": 1, "circle-opacity": 0.85 } });
    for (const suffix of ["-fill", "-circle"]) {
      map.on("click", name + suffix, (e) => {
        if (name === "interventions" && e.features.length > 1) showStack(e.features, e.lngLat);
        else showPopup(name, e.features[0], e.lngLat);
      });
      map.on("mouseenter", name + suffix, () => { map.getCanvas().style.cursor = "pointer"; });
      map.on("mouseleave", name + suffix, () => { map.getCanvas().style.cursor = ""; });
    }
  }

  function popupHtml(name, p) {
    if (name === "interventions") {
      const loc = p.location_precision === "exact" ? "" :
        '<p class="small text-muted mb-1">' + esc(label("location_precision", p.location_precision)) + "</p>";
      return "<h3 class='h6'>" + esc(p.title) + "</h3>" +
        "<p class='small mb-1'><strong>Comuni:</strong> " + esc(p.comuni) + "<br><strong>Stato:</strong> " + esc(label("status", p.status)) +
        "<br><strong>Ambiti:</strong> " + esc(split(p.domains).map((d) => label("domain", d)).join(", ")) +
        "<br><strong>Fonti:</strong> " + esc(split(p.funding_sources).join(", ")) +
        "<br><strong>Costo totale:</strong> " + eur(p.total_cost) + "</p>" + loc +
        "<a href='/remix/interventi/" + encodeURIComponent(p.intervention_id) + "'>Scheda dell'intervento</a>";
    }
    if (name === "opportunity_areas") {
      return "<h3 class='h6'>" + esc(p.name) + "</h3><p class='small mb-1'>" + esc(label("opportunity_kind", p.kind)) +
        "<br>" + esc(p.comune || "") + (p.current_use ? "<br>Uso: " + esc(p.current_use) : "") +
        (p.condition ? "<br>Condizione: " + esc(p.condition) : "") + "</p><p class='small text-muted mb-1'>Licenza: " + esc(p.licence || "") + "</p>" +
        "<a href='/remix/aree/" + encodeURIComponent(p.area_id) + "'>Scheda dell'area</a>";
    }
    const title = p.name || p.title || p.zone || p.istat_code || "";
    const rows = Object.entries(p).filter(([k, v]) => v !== null && v !== "" && typeof v !== "object").slice(0, 8)
      .map(([k, v]) => "<tr><th scope='row'>" + esc(k) + "</th><td>" + esc(v) + "</td></tr>").join("");
    return "<h3 class='h6'>" + esc(title) + "</h3><table class='table table-sm small mb-0'>" + rows + "</table>";
  }

  function showPopup(name, feature, lngLat) {
    popup.setLngLat(lngLat).setHTML(popupHtml(name, feature.properties)).addTo(map);
    if (name === "interventions") highlightRow(feature.properties.intervention_id, true);
  }

  function showStack(features, lngLat) {
    // PNRR projects without coordinates share their comune's point: list them instead of hiding all but one
    const seen = new Set(), items = [];
    for (const ft of features) {
      const p = ft.properties;
      if (seen.has(p.intervention_id)) continue;
      seen.add(p.intervention_id);
      items.push(p);
    }
    const list = items.slice(0, 12).map((p) => "<li><a href='/remix/interventi/" + encodeURIComponent(p.intervention_id) + "'>" +
      esc(p.title) + "</a> — " + eur(p.total_cost) + "</li>").join("");
    const comune = items[0].istat_code;
    popup.setLngLat(lngLat).setHTML("<h3 class='h6'>" + items.length + " realizzazioni in questo punto</h3>" +
      "<p class='small text-muted mb-1'>" + esc(label("location_precision", items[0].location_precision)) + "</p>" +
      "<ul class='small ps-3 mb-1'>" + list + "</ul>" + (items.length > 12 ? "<p class='small mb-1'>… e altre " + (items.length - 12) + " nella tabella sotto la mappa.</p>" : "") +
      (comune ? "<a href='/comuni/" + encodeURIComponent(comune) + "'>Pagina del comune</a>" : "")).addTo(map);
  }

  function currentFilters() {
    const f = {};
    for (const s of el("filters").querySelectorAll("select")) if (s.value) f[s.name] = s.value;
    return f;
  }

  function applyFilters() {
    const f = currentFilters();
    filtered = allInterventions.filter((ft) => Object.entries(f).every(([k, v]) =>
      k === "status" ? ft.properties.status === v : split(ft.properties[k]).includes(v)));
    const src = map.getSource("interventions");
    if (src) src.setData({ type: "FeatureCollection", features: filtered });
    updateTable();
  }

  function coordsOf(c, out) {
    if (typeof c[0] === "number") out.push(c); else for (const x of c) coordsOf(x, out);
    return out;
  }

  function inView(ft, b) {
    return ft.geometry ? coordsOf(ft.geometry.coordinates, []).some((c) => b.contains(c)) : false;
  }

  function updateTable() {
    const b = map.getBounds();
    const rows = filtered.filter((ft) => inView(ft, b));
    const tbody = el("interventions-table").querySelector("tbody");
    const shown = rows.slice(0, 500);
    tbody.innerHTML = shown.map((ft) => {
      const p = ft.properties;
      return "<tr tabindex='0' data-id='" + esc(p.intervention_id) + "'><td>" + esc(p.title) + "</td><td>" + esc(p.comuni) +
        "</td><td>" + esc(label("status", p.status)) + "</td><td>" + esc(split(p.funding_sources).join(", ")) +
        "</td><td class='text-end'>" + eur(p.total_cost) + "</td><td>" + (p.location_precision === "exact" ? "puntuale" :
        p.location_precision === "metropolitan" ? "area metropolitana" : "al comune") + "</td></tr>";
    }).join("");
    el("table-note").textContent = rows.length > shown.length ? "Mostrate le prime " + shown.length + " righe su " + rows.length + ": ingrandire la mappa per restringere." : "";
    const total = filtered.reduce((a, ft) => a + (Number(ft.properties.total_cost) || 0), 0);
    const vc = el("visible-count");
    vc.dataset.matched = filtered.length;
    vc.dataset.inview = rows.length;
    vc.textContent = filtered.length + " realizzazioni corrispondenti ai filtri (" + rows.length +
      " nell'area visualizzata); costo totale " + eur(total) + ", ogni progetto contato una volta";
  }

  function highlightRow(id, scroll) {
    for (const tr of el("interventions-table").querySelectorAll("tr.table-active")) tr.classList.remove("table-active");
    const tr = el("interventions-table").querySelector("tr[data-id='" + CSS.escape(id) + "']");
    if (tr) { tr.classList.add("table-active"); if (scroll) tr.scrollIntoView({ block: "nearest" }); }
  }

  function rowActivate(tr) {
    const ft = filtered.find((f) => f.properties.intervention_id === tr.dataset.id);
    if (!ft) return;
    const g = ft.geometry;
    const c = g.type === "Point" ? g.coordinates : g.type === "MultiPoint" ? g.coordinates[0] : null;
    if (c) { map.flyTo({ center: c, zoom: Math.max(map.getZoom(), 12) }); showPopup("interventions", ft, c); }
    highlightRow(tr.dataset.id, false);
  }
  el("interventions-table").addEventListener("click", (e) => { const tr = e.target.closest("tr[data-id]"); if (tr) rowActivate(tr); });
  el("interventions-table").addEventListener("keydown", (e) => { if (e.key === "Enter") { const tr = e.target.closest("tr[data-id]"); if (tr) rowActivate(tr); } });
  el("filters").addEventListener("change", applyFilters);
  el("filters").addEventListener("reset", () => setTimeout(applyFilters, 0));
  for (const cb of document.querySelectorAll("#layer-switcher input[data-layer]")) {
    cb.addEventListener("change", () => {
      for (const s of ["-fill", "-line", "-circle"]) {
        if (map.getLayer(cb.dataset.layer + s)) map.setLayoutProperty(cb.dataset.layer + s, "visibility", cb.checked ? "visible" : "none");
      }
    });
  }

  map.on("load", async () => {
    const order = ["municipalities", "zones"].concat(LAYERS.map((l) => l.name).filter((n) => !["municipalities", "zones", "interventions", "opportunity_areas", "stations"].includes(n)),
      ["opportunity_areas", "stations", "interventions"]);
    let extra = 0, loaded = 0;
    for (const name of order) {
      if (!LAYERS.find((l) => l.name === name)) continue;
      try {
        const fc = await fetchAll(name);
        if (name === "interventions") { allInterventions = fc.features; filtered = fc.features; }
        map.addSource(name, { type: "geojson", data: fc });
        addStyleLayers(name, PALETTE[name] || EXTRA[extra++ % EXTRA.length]);
        loaded += 1;
        if (name === "municipalities" && fc.features.length) {
          const b = new maplibregl.LngLatBounds();
          for (const ft of fc.features) for (const ring of (ft.geometry.type === "Polygon" ? ft.geometry.coordinates : ft.geometry.coordinates.flat())) for (const c of ring) b.extend(c);
          map.fitBounds(b, { padding: 20, duration: 0 });
        }
      } catch (err) {
        status.textContent = "Errore nel caricamento dello strato " + name + ": " + err.message;
      }
    }
    applyFilters();
    map.on("moveend", updateTable);
    status.textContent = loaded + " strati caricati dal servizio OGC API del portale. Nessuna mappa di base esterna.";
    map.once("idle", () => { document.body.dataset.mapReady = "1"; });
  });
})();
