(function () {
  var maps = [];
  var bg = TT_BG;
  TT_DATA.forEach(function (D, i) {
    var el = document.getElementById("map_" + i);
    if (!el || !D) { maps.push(null); return; }
    var m = L.map(el, {zoomSnap: 0.25, attributionControl: true});
    D.background = bg;
    var G = {background: L.layerGroup().addTo(m), territories: L.layerGroup().addTo(m),
             labels: L.layerGroup().addTo(m), bases: L.layerGroup().addTo(m)};
    var overlays = {"Rep names": G.labels, "Rep bases": G.bases};
    if (D.current) { G.current = L.layerGroup(); overlays["Current alignment (dotted)"] = G.current; }
    L.control.layers(null, overlays, {collapsed: true}).addTo(m);
    L.control.scale({imperial: true}).addTo(m);
    TT.scenario(m, D, G);
    maps.push(m);
  });
  var live = maps.filter(function (m) { return m; });
  TT.sync(live);
  window.TT_MAPS = live;
  // sortable tables
  document.querySelectorAll("table.sortable").forEach(function (t) {
    t.querySelectorAll("th").forEach(function (th, col) {
      th.addEventListener("click", function () {
        var asc = !th.classList.contains("asc");
        t.querySelectorAll("th").forEach(function (h) { h.classList.remove("asc", "desc"); });
        th.classList.add(asc ? "asc" : "desc");
        var body = t.tBodies[0], rows = Array.prototype.slice.call(body.rows);
        var num = th.dataset.num === "1";
        rows.sort(function (a, b) {
          var x = a.cells[col].dataset.v !== undefined ? a.cells[col].dataset.v : a.cells[col].textContent;
          var y = b.cells[col].dataset.v !== undefined ? b.cells[col].dataset.v : b.cells[col].textContent;
          var r = num ? (parseFloat(x) - parseFloat(y)) : x.localeCompare(y);
          return asc ? r : -r;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
  var f = document.getElementById("moved-filter");
  if (f) f.addEventListener("input", function () {
    var q = f.value.toLowerCase();
    document.querySelectorAll("table.moved tbody tr").forEach(function (r) {
      r.style.display = r.textContent.toLowerCase().indexOf(q) >= 0 ? "" : "none";
    });
  });
})();
