/* Small map of one comune: its boundary, interventions and opportunity areas (local OGC API). */
(function () {
  "use strict";
  const div = document.getElementById("map");
  const b = JSON.parse(div.dataset.bounds), code = div.dataset.istat;
  const map = new maplibregl.Map({ container: "map", bounds: [[b[0], b[1]], [b[2], b[3]]], fitBoundsOptions: { padding: 20 },
    style: { version: 8, sources: {}, layers: [{ id: "bg", type: "background", paint: { "background-color": "#eef1f4" } }] } });
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }));
  const get = (name, q) => fetch("/ogcapi/collections/" + name + "/items?limit=10000" + (q || "")).then((r) => r.ok ? r.json() : { type: "FeatureCollection", features: [] });
  map.on("load", async () => {
    const mun = await get("municipalities", "&istat_code=" + code);
    map.addSource("mun", { type: "geojson", data: mun });
    map.addLayer({ id: "mun", type: "line", source: "mun", paint: { "line-color": "#17324d", "line-width": 2 } });
    const bbox = "&bbox=" + b.join(",");
    for (const [name, color] of [["opportunity_areas", "#cc7a00"], ["interventions", "#0066cc"]]) {
      const fc = await get(name, bbox);
      map.addSource(name, { type: "geojson", data: fc });
      map.addLayer({ id: name + "-fill", type: "fill", source: name, filter: ["match", ["geometry-type"], ["Polygon", "MultiPolygon"], true, false], paint: { "fill-color": color, "fill-opacity": 0.4 } });
      map.addLayer({ id: name + "-pt", type: "circle", source: name, filter: ["match", ["geometry-type"], ["Point", "MultiPoint"], true, false], paint: { "circle-radius": 5, "circle-color": color, "circle-stroke-color": "#fff", "circle-stroke-width": 1 } });
    }
  });
})();
