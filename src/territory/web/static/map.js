var TT = (function () {
  "use strict";
  // Money scales come from Python (territory.web.html.MONEY_SCALES): one rule for both.
  var SCALES = [[1e9, "B", 2], [1e6, "M", 2], [1e3, "K", 0], [0, "", 0]];
  function money(x) {
    if (x === null || x === undefined || !isFinite(x)) return "\u2014";
    var a = Math.abs(x);
    for (var i = 0; i < SCALES.length; i++) {
      var s = SCALES[i];
      if (a >= s[0]) {
        // toFixed rounds half away from zero on the magnitude, as Python's ROUND_HALF_UP
        var t = (a / (s[0] || 1)).toFixed(s[2]);
        return (x < 0 && parseFloat(t) !== 0 ? "-$" : "$") + t + s[1];
      }
    }
    return "$0";
  }
  // Account rows are arrays (compact for 100k accounts); D.accountColumns names them.
  var LAT = 0, LON = 1, TIER = 2, NAME = 3, REV = 4, REP = 5, MOVED = 6, FROM = 7;
  function hours(x) { return (x === null || x === undefined || !isFinite(x)) ? "\u2014" : x.toFixed(1); }
  function pane(map, name, z) {
    if (!map.getPane(name)) { var p = map.createPane(name); p.style.zIndex = z; }
    return name;
  }
  function rep(D, i) { return (i === null || i < 0 || i >= D.reps.length) ? null : D.reps[i]; }

  function background(map, D, group) {
    if (!D.background) return;
    pane(map, "ttbg", 150);
    var r = L.svg({pane: "ttbg", padding: 0.5});
    if (D.background.states) L.geoJSON(D.background.states, {pane: "ttbg", renderer: r, interactive: false,
      style: {color: "#8d8577", weight: 1.4, fillColor: "#f6f3ec", fillOpacity: 1}}).addTo(group);
    if (D.background.counties) L.geoJSON(D.background.counties, {pane: "ttbg", renderer: r, interactive: false,
      style: {color: "#b9b1a3", weight: 0.6, fill: false}}).addTo(group);
    if (D.background.states) L.geoJSON(D.background.states, {pane: "ttbg", renderer: r, interactive: false,
      style: {color: "#8d8577", weight: 1.4, fill: false}}).addTo(group);
  }

  function territories(map, D, group) {
    if (!D.territories) return null;
    return L.geoJSON(D.territories, {
      interactive: !D.units,  // without a unit layer the territories carry the tooltips
      onEachFeature: function (f, layer) {
        if (D.units) return;
        var r = rep(D, f.properties.rep);
        if (!r) return;
        layer.bindTooltip("<b>" + r.name + "</b>" + (r.flagged ? " \u2691 " + r.flags : "") +
          "<br>TAM: " + money(r.tam) + "<br>Account units: " + (r.accountUnits === null ? "\u2014" : r.accountUnits) +
          "<br>Drive: " + hours(r.hours) + " h/month", {sticky: true});
      },
      style: function (f) {
        var r = rep(D, f.properties.rep) || {colour: "#bbbbbb", flagged: false};
        return {fillColor: r.colour, fillOpacity: 0.42, color: r.flagged ? "#D1002C" : "#333",
                weight: r.flagged ? 3 : 1.6, dashArray: r.flagged ? "6 4" : null, opacity: 0.95};
      }
    }).addTo(group);
  }

  // A unit's style; the editor (D.view) may fill units with their edited rep's colour.
  function unitStyle(D, p, hover) {
    var s = {color: "#ffffff", weight: 0.6, opacity: 0.9, fillColor: "#000", fillOpacity: 0};
    if (D.view && D.view.style) s = L.extend(s, D.view.style(p));
    if (hover) s = L.extend({}, s, {weight: 2, color: "#000", fillOpacity: Math.max(s.fillOpacity, 0.25)});
    return s;
  }

  function units(map, D, group) {
    if (!D.units) return null;
    var opts = {style: function (f) { return unitStyle(D, f.properties, false); }};
    if (D.canvas) opts.renderer = L.canvas({padding: 0.3});
    var layer = L.geoJSON(D.units, opts);
    // one tooltip and one pair of hover handlers for the whole layer (events bubble up from
    // each unit): 20,000 units are drawn without 20,000 tooltips and closures
    layer.bindTooltip(function (unit) {
      var p = unit.feature.properties, r = rep(D, D.view && D.view.repOf ? D.view.repOf(p) : p.rep);
      var h = "<b>" + D.unitLabel + " " + p.unit + "</b>" +
        (p.more ? " and " + p.more + " " + D.unitLabel + (p.more === 1 ? "" : "s") + " without accounts" : "") +
        "<br>Rep: " + (r ? r.name : "unassigned") +
        "<br>TAM: " + money(p.tam) + "<br>Account units: " + p.accountUnits + " (" + p.accounts +
        " accounts: " + p.tierA + " A / " + p.tierB + " B / " + p.tierC + " C)" +
        "<br>Rep drive hours: " + (r ? hours(r.hours) + " h/month" : "\u2014");
      if (p.current) h += "<br>Current rep: " + p.current;
      return h;
    }, {sticky: true});
    function hover(on) {
      return function (e) {
        var unit = e.propagatedFrom || e.layer;
        if (unit && unit.feature) unit.setStyle(unitStyle(D, unit.feature.properties, on));
      };
    }
    layer.on("mouseover", hover(true)).on("mouseout", hover(false));
    return layer.addTo(group);
  }

  function current(map, D, group) {
    if (!D.current) return;
    pane(map, "ttcur", 380);
    // a white casing under a dark dashed line: visible on every territory colour
    L.geoJSON(D.current, {pane: "ttcur", interactive: false,
      style: {color: "#fff", weight: 6, opacity: 0.9, fill: false}}).addTo(group);
    L.geoJSON(D.current, {
      pane: "ttcur",
      style: {color: "#111", weight: 2.5, dashArray: "7 5", lineCap: "butt", fill: false, opacity: 1},
      onEachFeature: function (f, layer) { layer.bindTooltip("Current: " + f.properties.name, {sticky: true}); }
    }).addTo(group);
  }

  function isochrones(map, D, group) {
    if (!D.isochrones) return;
    L.geoJSON(D.isochrones, {
      // outlines only, one line style per drive time (the legend's key): overlapping fills of
      // every rep and every ring turned into one dark blob
      style: function (f) {
        var r = rep(D, f.properties.rep), m = f.properties.minutes;
        return {color: r ? r.colour : "#555", fill: m <= 30, fillOpacity: 0.06, opacity: 0.95,
                weight: m <= 30 ? 2.5 : m <= 60 ? 2 : 1.5,
                dashArray: m <= 30 ? null : m <= 60 ? "8 5" : "2 5"};
      },
      onEachFeature: function (f, layer) {
        var r = rep(D, f.properties.rep);
        layer.bindTooltip((r ? r.name : "") + ": " + f.properties.minutes + " min drive", {sticky: true});
      }
    }).addTo(group);
  }

  function labels(map, D, group) {
    pane(map, "ttlabels", 640);
    var placed = [];
    D.reps.forEach(function (r) {
      if (!r.label) return;
      var m = L.marker(r.label, {interactive: false, keyboard: false, pane: "ttlabels",
        icon: L.divIcon({className: "tt-label" + (r.flagged ? " flag" : ""), html: "<span>" + r.name + "</span>",
                         iconSize: [0, 0]})}).addTo(group);
      placed.push({m: m, area: r.area || 0});
    });
    placed.sort(function (a, b) { return b.area - a.area; });
    // greedy declutter: the larger territory keeps its label when two labels collide
    function declutter() {
      var rects = [];
      placed.forEach(function (p) {
        var el = p.m.getElement(), span = el && el.firstChild;
        if (!span) return;
        span.style.visibility = "visible";
        var b = span.getBoundingClientRect();
        var hit = rects.some(function (o) {
          return !(b.right + 2 < o.left || b.left - 2 > o.right || b.bottom + 1 < o.top || b.top - 1 > o.bottom);
        });
        if (hit) span.style.visibility = "hidden"; else rects.push(b);
      });
    }
    map.on("zoomend", function () { setTimeout(declutter, 0); });
    group.on("add", function () { setTimeout(declutter, 0); });
    setTimeout(declutter, 0);
  }

  function bases(map, D, group) {
    D.reps.forEach(function (r) {
      if (!r.base) return;
      var m = L.marker(r.base, {keyboard: false, zIndexOffset: 1000,
        icon: L.divIcon({className: "tt-base " + (r.kind === "home" ? "home" : "centre"),
                         html: '<div style="background:' + r.colour + '"></div>', iconSize: [16, 16]})});
      m.bindTooltip("<b>" + r.name + "</b><br>" + (r.kind === "home" ? "Home base" : "Territory centre") +
                    "<br>Drive: " + hours(r.hours) + " h/month");
      m.addTo(group);
    });
  }

  // Accounts: one zoom-aware grid clustering over the visible tiers (no plugin needed).
  // Single accounts go to their tier's group; a cluster goes to the group of its best tier.
  function accounts(map, D, groups, cellPx) {
    var pts = D.accounts || [];
    if (!pts.length) return;
    var T = "ABC", size = [14, 13, 10], queued = false;
    function redraw() {
      queued = false;
      groups.forEach(function (g) { if (g) g.clearLayers(); });
      var on = groups.map(function (g) { return g && map.hasLayer(g); });
      var z = map.getZoom(), b = map.getBounds().pad(0.25), cells = {}, keys = [];
      var single = z >= (D.clusterOffZoom || 13);
      for (var i = 0; i < pts.length; i++) {
        var p = pts[i];
        if (!on[p[TIER]] || !b.contains([p[LAT], p[LON]])) continue;
        var key = i;
        if (!single) {
          var q = map.project([p[LAT], p[LON]], z);
          key = Math.floor(q.x / cellPx) + ":" + Math.floor(q.y / cellPx);
        }
        if (!cells[key]) { cells[key] = []; keys.push(key); }
        cells[key].push(p);
      }
      keys.forEach(function (k) {
        var c = cells[k];
        if (c.length === 1) {
          var p = c[0], r = rep(D, p[REP]), t = T.charAt(p[TIER]);
          var m = L.marker([p[LAT], p[LON]], {keyboard: false,
            icon: L.divIcon({className: "tt-acc tt-acc-" + t + (p[MOVED] ? " moved" : ""), html: "<div></div>",
                             iconSize: [size[p[TIER]], size[p[TIER]]]})});
          m.bindTooltip("<b>" + p[NAME] + "</b><br>Tier " + t + " \u00b7 " + money(p[REV]) + "<br>Rep: " +
                        (r ? r.name : "\u2014") + (p[MOVED] ? "<br><b>moved</b> from " + p[FROM] : ""));
          m.addTo(groups[p[TIER]]);
        } else {
          var lat = 0, lon = 0, rev = 0, n = [0, 0, 0];
          c.forEach(function (p) { lat += p[LAT]; lon += p[LON]; rev += p[REV]; n[p[TIER]] += 1; });
          var best = n[0] ? 0 : (n[1] ? 1 : 2);
          var d = Math.round(14 + 3.5 * Math.log(c.length));  // small enough to leave the rep names readable
          var cm = L.marker([lat / c.length, lon / c.length], {keyboard: false,
            icon: L.divIcon({className: "tt-cl tt-cl-" + T.charAt(best), html: "<div>" + c.length + "</div>",
                             iconSize: [d, d]})});
          cm.bindTooltip(c.length + " accounts: " + n[0] + " A \u00b7 " + n[1] + " B \u00b7 " + n[2] +
                         " C<br>" + money(rev) + " revenue<br><i>click to zoom in</i>");
          cm.on("click", function () {
            map.fitBounds(L.latLngBounds(c.map(function (p) { return [p[LAT], p[LON]]; })).pad(0.2),
                          {maxZoom: Math.max(z + 2, D.clusterOffZoom || 13)});
          });
          cm.addTo(groups[best]);
        }
      });
    }
    function later() { if (!queued) { queued = true; setTimeout(redraw, 0); } }
    map.on("zoomend moveend overlayadd overlayremove", later);
    redraw();
  }

  function control(map, html, position, cls) {
    var c = L.control({position: position});
    c.onAdd = function () {
      var d = L.DomUtil.create("div", cls);
      d.innerHTML = html;
      var h = d.querySelector("h4");
      if (h) {  // click the title to fold the panel away
        h.title = "click to hide / show";
        h.addEventListener("click", function () { d.classList.toggle("collapsed"); });
        if (map.getSize().x < 700) d.classList.add("collapsed");
      }
      L.DomEvent.disableClickPropagation(d);
      L.DomEvent.disableScrollPropagation(d);
      return d;
    };
    c.addTo(map);
    return c;
  }

  // ---------------------------------------------------------------- the packed wire format
  // territory.web.packing writes the map's data compactly; unpack() rebuilds, in place, the very
  // objects territory.web.maps.scenario_data made (feature collections, account rows, the
  // editor's neighbour lists and points). Integers: zigzag, 5-bit chunks lowest first, one
  // character of ALPHA each, index & 32 = more chunks follow.
  var ALPHA = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", CODE = {};
  for (var a = 0; a < ALPHA.length; a++) CODE[ALPHA.charCodeAt(a)] = a;
  function ints(text) {
    var out = [], u = 0, mul = 1;
    for (var i = 0; i < (text || "").length; i++) {
      var c = CODE[text.charCodeAt(i)];
      u += (c & 31) * mul;
      if (c & 32) { mul *= 32; continue; }
      out.push(u % 2 === 0 ? u / 2 : -(u + 1) / 2);
      u = 0; mul = 1;
    }
    return out;
  }
  function column(col) {
    if (col.k !== undefined) { var same = []; for (var n = 0; n < col.n; n++) same.push(col.k); return same; }
    if (col.j) return col.j.slice();
    var k = col.i !== undefined ? ints(col.i) : ints(col.d), i;
    if (col.d !== undefined && col.i === undefined) for (i = 1; i < k.length; i++) k[i] += k[i - 1];
    if (col.c) return k.map(function (x) { return col.c[x]; });
    if (col.s && col.s !== 1) for (i = 0; i < k.length; i++) k[i] = k[i] / col.s;
    return k;
  }
  function records(cols, n) {
    var out = [], i;
    for (i = 0; i < n; i++) out.push({});
    Object.keys(cols).forEach(function (key) {
      var col = cols[key], absent = {}, x = ints(col.x || ""), at = 0, vals = column(col), v = 0;
      for (i = 0; i < x.length; i++) { at += x[i]; absent[at] = true; }
      for (i = 0; i < n; i++) if (!absent[i]) out[i][key] = vals[v++];
    });
    return out;
  }
  function features(P) {
    var t = ints(P.g), pos = 0, ox = P.o[0], oy = P.o[1], q = P.q, lx = 0, ly = 0, feats = [];
    function points(closed) {
      var n = t[pos++], out = [];
      for (var i = 0; i < n; i++) { lx += t[pos++]; ly += t[pos++]; out.push([ox + lx * q, oy + ly * q]); }
      if (closed && out.length) out.push(out[0]);
      return out;
    }
    function polygon() { var n = t[pos++], r = []; for (var i = 0; i < n; i++) r.push(points(true)); return r; }
    function many(f) { var n = t[pos++], r = []; for (var i = 0; i < n; i++) r.push(f()); return r; }
    var props = records(P.p, P.n);
    for (var i = 0; i < P.n; i++) {
      var kind = t[pos++], g = null;
      if (kind === 1) g = {type: "Polygon", coordinates: polygon()};
      else if (kind === 2) g = {type: "MultiPolygon", coordinates: many(polygon)};
      else if (kind === 3) g = {type: "LineString", coordinates: points(false)};
      else if (kind === 4) g = {type: "MultiLineString", coordinates: many(function () { return points(false); })};
      feats.push({type: "Feature", properties: props[i], geometry: g});
    }
    return {type: "FeatureCollection", features: feats};
  }
  function rows(P) {
    var n = P.n, w = P.w ? column(P.w) : null, out = [], i;
    for (i = 0; i < n; i++) out.push([]);
    P.c.forEach(function (col, c) {
      var vals = column(col), v = 0;
      for (i = 0; i < n; i++) if (!w || w[i] > c) out[i].push(vals[v++]);
    });
    return out;
  }
  function neighbours(P) {
    var t = ints(P.v), pos = 0, out = [], i;
    for (i = 0; i < P.n; i++) out.push([]);
    for (i = 0; i < P.n; i++) {
      var k = t[pos++], prev = i;
      for (var j = 0; j < k; j++) { prev += t[pos++]; out[i].push(prev); if (P.sym) out[prev].push(i); }
    }
    if (P.sym) out.forEach(function (r) { r.sort(function (x, y) { return x - y; }); });
    return out;
  }
  function escHtml(s) {
    return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;").replace(/'/g, "&#x27;");
  }
  function isPacked(x, kind) { return x && x.packed === kind; }
  function unpack(D) {
    if (!D.packed) return D;
    ["territories", "units", "current", "isochrones"].forEach(function (k) {
      if (isPacked(D[k], "features")) {
        var fromEditor = D[k].idsFromEditor;
        D[k] = features(D[k]);
        if (fromEditor && D.editor) D[k].features.forEach(function (f) {
          f.properties.unit = escHtml(D.editor.unitIds[f.properties.index]);
        });
      }
    });
    if (D.background) Object.keys(D.background).forEach(function (k) {
      if (isPacked(D.background[k], "features")) D.background[k] = features(D.background[k]);
    });
    if (isPacked(D.accounts, "rows")) D.accounts = rows(D.accounts);
    if (D.editor) {
      if (isPacked(D.editor.neighbours, "neighbours")) D.editor.neighbours = neighbours(D.editor.neighbours);
      if (isPacked(D.editor.points, "rows")) D.editor.points = rows(D.editor.points);
    }
    delete D.packed;
    return D;
  }

  // Draw one scenario into an L.map; G maps a layer name to a layer group.
  function scenario(map, D, G) {
    unpack(D);
    if (D.money) SCALES = D.money;
    // the final view first, without animation: every layer is projected once, at this zoom
    if (D.bounds) {
      var w = map.getSize().x, pr = (D.legend && w > 700) ? Math.min(380, w * 0.3) : 10;
      map.fitBounds(D.bounds, {paddingTopLeft: [10, 10], paddingBottomRight: [pr, 10], animate: false});
    }
    background(map, D, G.background || map);
    if (G.current) current(map, D, G.current);
    var drawn = {territories: territories(map, D, G.territories || map)};
    if (G.units) drawn.units = units(map, D, G.units);
    if (G.isochrones) isochrones(map, D, G.isochrones);
    if (G.labels) labels(map, D, G.labels);
    if (G.bases) bases(map, D, G.bases);
    if (G.accA || G.accB || G.accC) accounts(map, D, [G.accA, G.accB, G.accC], 64);
    if (D.legend) control(map, D.legend, "bottomright", "tt-panel tt-legend");
    if (D.unitsNote) control(map, D.unitsNote, "bottomleft", "tt-source est tt-units-note");
    if (D.source) control(map, D.source, "bottomleft", "tt-source" + (D.sourceKind === "osm" ? "" : " est"));
    if (D.attribution && map.attributionControl) map.attributionControl.addAttribution(D.attribution);
    // the plan editor (static/editor.js) when the page carries it and its data
    if (D.editor && drawn.units && TT.editor) window.TT_EDITOR = TT.editor(map, D, drawn, G);
    return drawn;
  }

  // Keep the centre and zoom of several maps equal (the ~30 lines of Leaflet.Sync we need).
  function sync(maps) {
    var busy = false;
    maps.forEach(function (m) {
      m.on("move zoom", function () {
        if (busy) return;
        busy = true;
        var c = m.getCenter(), z = m.getZoom();
        maps.forEach(function (o) { if (o !== m) o.setView(c, z, {animate: false, reset: false}); });
        busy = false;
      });
    });
  }

  return {scenario: scenario, sync: sync, control: control, money: money, hours: hours,
          unitStyle: unitStyle, rep: rep, unpack: unpack};
})();
