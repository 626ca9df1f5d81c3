// @ts-check
// The site plan of the map view: GeoJSON drawn as SVG, the projection of its bounds, marker states.

export const SVG_NS = "http://www.w3.org/2000/svg";
export const VIEW_W = 1000; // SVG user units across a GeoJSON plan

export function statusClass(status) {
  if (status === "recording" || status === "online") return "ok";
  if (status === "starting" || status === "paused") return "warn";
  if (status === "disabled") return "off";
  return "bad";
}

// Equirectangular projection of a GeoJSON plan's bounds (west, south, east, north) onto 0..1 fractions;
// good enough at city scale, where a site plan lives.
export function projection(bounds) {
  let [w, s, e, n] = bounds;
  const padX = Math.max((e - w) * 0.05, 1e-5);
  const padY = Math.max((n - s) * 0.05, 1e-5);
  w -= padX; e += padX; s -= padY; n += padY;
  const k = Math.cos((((s + n) / 2) * Math.PI) / 180);
  const width = (e - w) * k;
  const height = n - s;
  return {
    aspect: width / height,
    toFrac: (lon, lat) => [((lon - w) * k) / width, (n - lat) / height],
    fromFrac: (fx, fy) => [w + (fx * width) / k, n - fy * height],
  };
}

export function svg(tag, attrs = {}) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

// GeoJSON → SVG elements (text only through textContent; the server stores a validated clean copy).
export function drawGeoJson(doc, proj) {
  const height = VIEW_W / proj.aspect;
  const root = svg("svg", { viewBox: `0 0 ${VIEW_W} ${height}`, preserveAspectRatio: "none", class: "map-geo", role: "img" });
  const pt = ([lon, lat]) => {
    const [fx, fy] = proj.toFrac(lon, lat);
    return `${(fx * VIEW_W).toFixed(2)},${(fy * height).toFixed(2)}`;
  };
  const ring = (r, close) => `M${r.map(pt).join("L")}${close ? "Z" : ""}`;
  const shapes = (g) => {
    switch (g && g.type) {
      case "Point": return [["point", g.coordinates]];
      case "MultiPoint": return g.coordinates.map((c) => ["point", c]);
      case "LineString": return [["line", ring(g.coordinates, false)]];
      case "MultiLineString": return g.coordinates.map((l) => ["line", ring(l, false)]);
      case "Polygon": return [["area", g.coordinates.map((r) => ring(r, true)).join("")]];
      case "MultiPolygon": return g.coordinates.map((p) => ["area", p.map((r) => ring(r, true)).join("")]);
      case "GeometryCollection": return g.geometries.flatMap(shapes);
      default: return [];
    }
  };
  for (const f of doc.features) {
    const name = f.properties && typeof f.properties.name === "string" ? f.properties.name : null;
    for (const [kind, d] of shapes(f.geometry)) {
      let el;
      if (kind === "point") {
        const [x, y] = pt(d).split(",");
        el = svg("circle", { cx: x, cy: y, r: 4, class: "geo-point" });
      } else {
        el = svg("path", { d, class: kind === "area" ? "geo-area" : "geo-line", "fill-rule": "evenodd" });
      }
      if (name) {
        const title = svg("title");
        title.textContent = name;
        el.append(title);
      }
      root.append(el);
    }
  }
  return root;
}
