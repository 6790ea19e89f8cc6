// The plan editor of map.html (issue 15): move units between reps by hand and watch the balance.
//
// Edit mode: click a unit (Ctrl/Cmd-click toggles, Shift-click adds), Shift-drag a box to add
// every unit whose inner point is inside; pick the receiving rep in the panel or press its
// number key (1-9, 0 for the tenth). Ctrl+Z / Ctrl+Y undo and redo; Esc clears the selection;
// E toggles Edit mode. On a national map an item is a group (an account-bearing unit and the empty
// units contracted into it, E.members; territory.web.maps.display_groups): it moves whole, and the
// contiguity check on groups is the check on units. Edits are replayed on the planned assignment and kept in localStorage
// under the plan's id. Every figure of the panel follows territory.metrics.rep_scorecard (TAM,
// TAM index, bands), metrics.disruption (accounts moved) and metrics.contiguity_report (pieces,
// a breadth-first search over the plan's adjacency). Names are data: the panel writes text
// nodes only (never innerHTML with a name).
(function () {
  "use strict";
  var STORE = "territory-plan-edits:";

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "class") e.className = attrs[k]; else e.setAttribute(k, attrs[k]);
    });
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function csvCell(v) {
    var s = String(v === null || v === undefined ? "" : v);
    return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  }
  function csv(rows) { return rows.map(function (r) { return r.map(csvCell).join(","); }).join("\n") + "\n"; }

  function storage() {
    try { var s = window.localStorage; s.getItem("x"); return s; } catch (e) { return null; }
  }

  function Editor(map, D, drawn, G) {
    var E = D.editor, self = this, n = E.unitIds.length, m = E.repIds.length;
    var features = drawn.units.getLayers();
    var layerOf = new Array(n), planned = new Array(n), index = {};
    features.forEach(function (layer) {
      var p = layer.feature.properties;
      layerOf[p.index] = layer;
    });
    D.units.features.forEach(function (f) { planned[f.properties.index] = f.properties.rep; });
    for (var i = 0; i < n; i++) { index[E.unitIds[i]] = i; if (planned[i] === undefined) planned[i] = -1; }
    // a group's other units (national maps): found by id, written to the downloaded plan
    var members = (E.members || []).map(function (s) { return s ? s.split(" ") : []; });
    var size = new Array(n);
    for (i = 0; i < n; i++) {
      size[i] = 1 + (members[i] ? members[i].length : 0);
      (members[i] || []).forEach(function (u) { if (index[u] === undefined) index[u] = i; });
    }
    function unitsOf(i) { return [E.unitIds[i]].concat(members[i] || []); }
    var repIndex = {};
    E.repIds.forEach(function (r, k) { repIndex[r] = k; });

    this.data = E; this.D = D; this.map = map; this.layers = features; this.reps = D.reps;
    this.edits = [];   // [{units: [unit ids], to: rep id}], replayed on the plan
    this.done = 0;     // edits[0 .. done) are applied (the rest can be redone)
    this.selected = {};
    this.editing = false;
    this.assignment = planned.slice();
    var store = storage(), key = STORE + E.planId;

    // ------------------------------------------------------------------ state
    function replay() {
      var a = planned.slice();
      for (var k = 0; k < self.done; k++) {
        var ed = self.edits[k], to = repIndex[ed.to];
        if (to === undefined) continue;
        ed.units.forEach(function (u) { if (index[u] !== undefined) a[index[u]] = to; });
      }
      self.assignment = a;
    }
    function save() {
      if (!store) return;
      try {
        if (self.edits.length) store.setItem(key, JSON.stringify({plan: E.planId, edits: self.edits, done: self.done}));
        else store.removeItem(key);
      } catch (e) { /* a full or blocked storage only loses persistence */ }
    }
    function load() {
      if (!store) return;
      try {
        var s = JSON.parse(store.getItem(key) || "null");
        if (s && s.plan === E.planId && Array.isArray(s.edits)) {
          self.edits = s.edits.filter(function (ed) {
            return ed && Array.isArray(ed.units) && typeof ed.to === "string";
          });
          self.done = Math.max(0, Math.min(self.edits.length, s.done | 0));
        }
      } catch (e) { self.edits = []; self.done = 0; }
    }

    // ------------------------------------------------------------------ figures
    // Per rep: TAM, TAM index, account units, units, accounts moved in, pieces; plan: TAM CV.
    this.figures = function () {
      var a = self.assignment, tam = [], au = [], units = [], moved = [], i, r;
      for (r = 0; r < m; r++) { tam.push(0); au.push(0); units.push(0); moved.push(0); }
      var props = new Array(n);
      D.units.features.forEach(function (f) { props[f.properties.index] = f.properties; });
      for (i = 0; i < n; i++) {
        r = a[i];
        if (r < 0 || !props[i]) continue;
        tam[r] += props[i].tam; au[r] += props[i].accountUnits; units[r] += size[i];
        (E.owners[i] || []).forEach(function (o) { if (o[0] !== r) moved[r] += o[1]; });
      }
      var changed = [];
      for (r = 0; r < m; r++) changed.push(false);
      for (i = 0; i < n; i++) if (a[i] !== planned[i]) {
        if (a[i] >= 0) changed[a[i]] = true;
        if (planned[i] >= 0) changed[planned[i]] = true;
      }
      var total = tam.reduce(function (s, x) { return s + x; }, 0), mean = m ? total / m : 0;
      var varsum = tam.reduce(function (s, x) { return s + (x - mean) * (x - mean); }, 0);
      var tol = E.tamTolerance === null ? Infinity : E.tamTolerance;
      var reps = [];
      for (r = 0; r < m; r++) {
        // The scorecard's rule: TAM against the capacity-scaled target, the band scaled by capacity.
        var t = E.tamTarget[r], dev = t > 0 ? tam[r] / t - 1 : 0, c = E.capacity ? E.capacity[r] : 1;
        var lo = E.unitsBand[0] === null ? null : E.unitsBand[0] * c, hi = E.unitsBand[1] === null ? null : E.unitsBand[1] * c;
        reps.push({
          id: E.repIds[r], tam: tam[r], tamIndex: t > 0 ? Math.round(tam[r] / t * 1e4) / 1e4 : 0,
          tamBand: !(t > 0 && Math.abs(dev) > tol + 1e-9) ? "in" : (dev > 0 ? "above" : "below"),
          accountUnits: au[r],
          unitsBand: lo === null ? "in" : (au[r] < lo - 1e-9 ? "below" : (au[r] > hi + 1e-9 ? "above" : "in")),
          units: units[r], moved: moved[r], pieces: pieces(a, r), changed: changed[r]
        });
      }
      return {reps: reps, tamCv: mean > 0 ? Math.sqrt(varsum / m) / mean : 0,
              moved: moved.reduce(function (s, x) { return s + x; }, 0),
              changed: a.reduce(function (s, x, k) { return s + (x !== planned[k] ? size[k] : 0); }, 0),
              edits: self.done};
    };
    // Connected pieces of rep r's units (breadth-first search over the plan's adjacency).
    function pieces(a, r) {
      var seen = {}, count = 0;
      for (var i = 0; i < n; i++) {
        if (a[i] !== r || seen[i]) continue;
        count += 1; seen[i] = true;
        var queue = [i];
        while (queue.length) {
          var u = queue.pop();
          (E.neighbours[u] || []).forEach(function (v) {
            if (a[v] === r && !seen[v]) { seen[v] = true; queue.push(v); }
          });
        }
      }
      return count;
    }

    // ------------------------------------------------------------------ actions
    this.select = function (ids, mode) {  // mode: "only" | "add" | "toggle"
      if (mode === "only") self.selected = {};
      ids.forEach(function (u) {
        if (index[u] === undefined) return;
        u = E.unitIds[index[u]];  // a group's unit selects its group
        if (mode === "toggle" && self.selected[u]) delete self.selected[u]; else self.selected[u] = true;
      });
      refresh();
    };
    this.selection = function () {
      return E.unitIds.filter(function (u) { return self.selected[u]; });
    };
    this.assign = function (repId) {
      var ids = self.selection().filter(function (u) { return self.assignment[index[u]] !== repIndex[repId]; });
      if (repIndex[repId] === undefined || !ids.length) return false;
      self.edits = self.edits.slice(0, self.done);
      self.edits.push({units: ids, to: repId});
      self.done = self.edits.length;
      replay(); save(); refresh();
      return true;
    };
    this.undo = function () { if (self.done > 0) { self.done -= 1; replay(); save(); refresh(); } };
    this.redo = function () { if (self.done < self.edits.length) { self.done += 1; replay(); save(); refresh(); } };
    this.reset = function () { self.edits = []; self.done = 0; self.selected = {}; replay(); save(); refresh(); };
    this.setEditing = function (on) {
      self.editing = !!on;
      if (self.editing) map.boxZoom.disable(); else map.boxZoom.enable();
      panel.classList.toggle("on", self.editing);
      // in Edit mode a click reaches the unit under the markers (accounts, bases)
      map.getContainer().classList.toggle("tt-editing", self.editing);
      // the legend's planned figures give way to the live panel; the map makes room for it
      var legend = map.getContainer().querySelector(".tt-legend");
      if (legend) legend.classList.toggle("collapsed", self.editing);
      refresh();
      if (self.editing && D.bounds) {
        map.fitBounds(D.bounds, {paddingTopLeft: [Math.min(panel.offsetWidth + 20, map.getSize().x / 2), 10],
                                 paddingBottomRight: [10, 10], animate: false});
      }
    };

    // The edited plan as territory score reads it: one row per unit of the region.
    this.planCsv = function () {
      var rows = [["unit_id", "rep_id", "edited", "plan", "scenario"]];
      for (var i = 0; i < n; i++) {
        var r = self.assignment[i], rep = r >= 0 ? E.repIds[r] : "", ed = r !== planned[i] ? "true" : "false";
        unitsOf(i).forEach(function (u) { rows.push([u, rep, ed, E.planId, E.scenario]); });
      }
      return csv(rows);
    };
    this.editsCsv = function () {
      var rows = [["edit", "unit_id", "from_rep", "to_rep", "plan", "scenario"]], a = planned.slice();
      for (var k = 0; k < self.done; k++) {
        var ed = self.edits[k];
        ed.units.forEach(function (u) {
          var i = index[u];
          if (i === undefined) return;
          unitsOf(i).forEach(function (v) {
            rows.push([k + 1, v, a[i] >= 0 ? E.repIds[a[i]] : "", ed.to, E.planId, E.scenario]);
          });
          a[i] = repIndex[ed.to];
        });
      }
      return csv(rows);
    };
    function download(name, text) {
      var url = URL.createObjectURL(new Blob([text], {type: "text/csv;charset=utf-8"}));
      var a = el("a", {href: url, download: name});
      document.body.appendChild(a); a.click(); a.remove();
      setTimeout(function () { URL.revokeObjectURL(url); }, 1000);
    }

    // ------------------------------------------------------------------ drawing
    var edited = function () { return self.done > 0; };
    D.view = {
      repOf: function (p) { return self.assignment[p.index]; },
      style: function (p) {
        var s = {};
        if (self.editing || edited()) {
          var r = D.reps[self.assignment[p.index]];
          s = {fillColor: r ? r.colour : "#bbbbbb", fillOpacity: 0.5, color: "#ffffff", weight: 0.8};
        }
        if (self.selected[E.unitIds[p.index]]) s = L.extend(s, {color: "#000000", weight: 3.5, opacity: 1, dashArray: null});
        return s;
      }
    };
    var styled = false;  // do the units wear the editor's styles (else the page's first ones)?
    function redraw() {
      var now = self.editing || edited() || Object.keys(self.selected).length > 0;
      // restyling 20,000 units costs a redraw: only when they change, or change back
      if (now || styled) {
        features.forEach(function (layer) { layer.setStyle(TT.unitStyle(D, layer.feature.properties, false)); });
      }
      styled = now;
      if (drawn.territories) {
        // the dissolved planned territories are stale once edited: the units carry the colours
        var hide = self.editing || edited();
        drawn.territories.setStyle(hide ? {fillOpacity: 0, opacity: 0} : function (f) {
          var r = D.reps[f.properties.rep] || {colour: "#bbbbbb", flagged: false};
          return {fillColor: r.colour, fillOpacity: 0.42, color: r.flagged ? "#D1002C" : "#333",
                  weight: r.flagged ? 3 : 1.6, dashArray: r.flagged ? "6 4" : null, opacity: 0.95};
        });
      }
    }

    // ------------------------------------------------------------------ panel
    var panel = el("div", {"class": "tt-panel tt-editor", role: "region", "aria-label": "Plan editor"});
    var head = el("h4", {}, "Plan editor");
    var toggle = el("button", {type: "button", "class": "tt-ed-toggle", "aria-pressed": "false",
                               title: "Edit mode (E)"}, "Edit plan");
    var badge = el("span", {"class": "tt-ed-badge", "aria-live": "polite"});
    var undoB = el("button", {type: "button", title: "Undo (Ctrl+Z)"}, "Undo");
    var redoB = el("button", {type: "button", title: "Redo (Ctrl+Y)"}, "Redo");
    var resetB = el("button", {type: "button", title: "Back to the plan"}, "Reset");
    var planB = el("button", {type: "button", "class": "tt-ed-dl"}, "Download edited plan");
    var editsB = el("button", {type: "button", "class": "tt-ed-dl"}, "Download list of edits");
    var find = el("input", {type: "text", "class": "tt-ed-find", list: "tt-ed-units-" + E.planId,
                            placeholder: D.unitLabel + " to select, Enter", "aria-label": "Select a unit by id"});
    var dl = el("datalist", {id: "tt-ed-units-" + E.planId});
    // the ids to pick from, filled when first needed (20,000 options slow the page's start)
    find.addEventListener("focus", function () {
      if (!dl.firstChild) E.unitIds.forEach(function (u) { dl.appendChild(el("option", {value: u})); });
    });
    var sel = el("div", {"class": "tt-ed-sel", "aria-live": "polite"});
    var table = el("table", {"class": "tt-ed-table"});
    var foot = el("div", {"class": "tt-ed-foot", "aria-live": "polite"});
    var bar1 = el("div", {"class": "tt-ed-bar"}), bar2 = el("div", {"class": "tt-ed-bar tt-ed-dls"});
    [toggle, badge].forEach(function (x) { bar1.appendChild(x); });
    [undoB, redoB, resetB].forEach(function (x) { bar1.appendChild(x); });
    [planB, editsB].forEach(function (x) { bar2.appendChild(x); });
    [head, bar1, el("div", {"class": "tt-ed-help"},
       "Edit mode: click a " + D.unitLabel + " (Ctrl-click toggles), Shift-drag a box to add; then a rep's " +
       "button or number key. Esc clears, Ctrl+Z / Ctrl+Y undo / redo."),
     find, dl, sel, table, foot, bar2].forEach(function (x) { panel.appendChild(x); });
    head.addEventListener("click", function () { panel.classList.toggle("collapsed"); });
    toggle.addEventListener("click", function () { self.setEditing(!self.editing); });
    undoB.addEventListener("click", self.undo);
    redoB.addEventListener("click", self.redo);
    resetB.addEventListener("click", self.reset);
    planB.addEventListener("click", function () { download("plan_edited.csv", self.planCsv()); });
    editsB.addEventListener("click", function () { download("plan_edits.csv", self.editsCsv()); });
    find.addEventListener("keydown", function (e) {
      if (e.key !== "Enter") return;
      var u = find.value.trim();
      if (index[u] !== undefined) { self.select([u], "add"); find.value = ""; }
      e.preventDefault();
    });
    var ctl = L.control({position: "topleft"});
    ctl.onAdd = function () {
      L.DomEvent.disableClickPropagation(panel);
      L.DomEvent.disableScrollPropagation(panel);
      return panel;
    };
    ctl.addTo(map);

    var BAND = {"in": "\u2713", above: "\u25b2", below: "\u25bc"};
    function cell(tr, text, cls, title) {
      var td = el("td", cls ? {"class": cls} : {}, text);
      if (title) td.title = title;
      tr.appendChild(td);
      return td;
    }
    function refresh() {
      var F = self.figures(), ids = self.selection();
      self.last = F;
      panel.classList.toggle("open", self.editing || edited());
      toggle.textContent = self.editing ? "Editing \u2014 done" : "Edit plan";
      toggle.setAttribute("aria-pressed", self.editing ? "true" : "false");
      badge.textContent = F.edits + (F.edits === 1 ? " edit" : " edits");
      badge.classList.toggle("some", F.edits > 0);
      undoB.disabled = self.done === 0;
      redoB.disabled = self.done >= self.edits.length;
      resetB.disabled = self.edits.length === 0;
      sel.textContent = ids.length ? ids.length + " selected: " + ids.slice(0, 8).join(", ") +
        (ids.length > 8 ? ", \u2026" : "") : (self.editing ? "Nothing selected." : "");
      while (table.firstChild) table.removeChild(table.firstChild);
      var hr = el("tr");
      [["", ""], ["Rep", ""], ["TAM", "TAM and its band (\u2713 in, \u25b2 above, \u25bc below)"],
       ["Index", "TAM / the rep\u2019s target (capacity-scaled)"], ["AU", "account units and their band"], [D.unitLabel + "s", "units"],
       ["Moved", "accounts moved in vs the current alignment"],
       ["Drive h", edited() ? "drive hours per month AS PLANNED (\u2020: not recomputed)" : "drive hours per month"]
      ].forEach(function (h) { hr.appendChild(el("th", h[1] ? {title: h[1]} : {}, h[0])); });
      table.appendChild(hr);
      F.reps.forEach(function (f, r) {
        var tr = el("tr", {"class": "tt-ed-rep"}), key = r < 9 ? String(r + 1) : (r === 9 ? "0" : "");
        var b = el("button", {type: "button", "class": "tt-ed-assign", "data-rep": f.id,
                              title: "Give the selected units to " + E.repNames[r] + (key ? " (key " + key + ")" : "")},
                   key || "\u2192");
        b.disabled = !(self.editing && ids.length);
        b.addEventListener("click", function () { self.assign(f.id); });
        var td = el("td"); td.appendChild(b); tr.appendChild(td);
        var name = el("td", {"class": "n"}), sw = el("span", {"class": "sw"});
        sw.style.background = D.reps[r].colour;
        name.appendChild(sw); name.appendChild(document.createTextNode(E.repNames[r]));
        if (f.pieces > 1) name.appendChild(el("span", {"class": "tt-ed-split", title: "territory split"}, " \u26a0 split"));
        tr.appendChild(name);
        cell(tr, TT.money(f.tam) + " " + BAND[f.tamBand], f.tamBand === "in" ? "" : "bad",
             "TAM " + f.tamBand + " the band");
        cell(tr, f.tamIndex.toFixed(2));
        cell(tr, f.accountUnits + " " + BAND[f.unitsBand], f.unitsBand === "in" ? "" : "bad",
             "account units " + f.unitsBand + " the band");
        cell(tr, f.units);
        cell(tr, f.moved);
        var h = D.reps[r].hours, changed = f.changed;
        cell(tr, TT.hours(h) + (changed ? " \u2020" : ""), changed ? "asplanned" : "",
             changed ? "as planned: run `territory score` for the edited plan" : "");
        table.appendChild(tr);
      });
      while (foot.firstChild) foot.removeChild(foot.firstChild);
      foot.appendChild(el("div", {}, "TAM CV " + (F.tamCv * 100).toFixed(1) + "% \u00b7 accounts moved vs current: " +
                                   F.moved + " \u00b7 " + F.changed + " " + D.unitLabel + "(s) changed"));
      var split = F.reps.filter(function (f) { return f.pieces > 1; });
      if (split.length) {
        foot.appendChild(el("div", {"class": "tt-ed-warn", role: "alert"}, "\u26a0 Split territory: " +
          split.map(function (f) { return E.repNames[repIndex[f.id]] + " (" + f.pieces + " pieces)"; }).join(", ")));
      }
      if (edited()) {
        foot.appendChild(el("div", {"class": "tt-ed-note"}, "\u2020 Drive hours are as planned, not recomputed: " +
          "download the edited plan and run `territory score --plan plan_edited.csv \u2026` for the real figures."));
      }
      planB.disabled = false;
      redraw();
    }

    // ------------------------------------------------------------------ input
    drawn.units.on("click", function (e) {  // one handler: clicks bubble up from each unit
      var layer = e.propagatedFrom || e.layer;
      if (!self.editing || !layer || !layer.feature) return;
      var ev = e.originalEvent || {}, u = E.unitIds[layer.feature.properties.index];
      self.select([u], (ev.ctrlKey || ev.metaKey) ? "toggle" : (ev.shiftKey ? "add" : "only"));
      L.DomEvent.stop(e);
    });
    var box = null, start = null, container = map.getContainer();
    container.addEventListener("mousedown", function (e) {
      if (!self.editing || !e.shiftKey || e.button !== 0 || panel.contains(e.target)) return;
      start = map.mouseEventToContainerPoint(e);
      box = el("div", {"class": "tt-ed-box"});
      container.appendChild(box);
      map.dragging.disable();
      e.preventDefault(); e.stopPropagation();
    }, true);
    document.addEventListener("mousemove", function (e) {
      if (!box) return;
      var p = map.mouseEventToContainerPoint(e);
      box.style.left = Math.min(p.x, start.x) + "px"; box.style.top = Math.min(p.y, start.y) + "px";
      box.style.width = Math.abs(p.x - start.x) + "px"; box.style.height = Math.abs(p.y - start.y) + "px";
    });
    document.addEventListener("mouseup", function (e) {
      if (!box) return;
      var p = map.mouseEventToContainerPoint(e);
      box.remove(); box = null; map.dragging.enable();
      if (Math.abs(p.x - start.x) < 3 && Math.abs(p.y - start.y) < 3) return;
      self.selectBox(map.containerPointToLatLng(start), map.containerPointToLatLng(p));
    });
    this.selectBox = function (a, b) {
      var bounds = L.latLngBounds(a, b);
      self.select(E.unitIds.filter(function (u, i) { return bounds.contains(E.points[i]); }), "add");
    };
    document.addEventListener("keydown", function (e) {
      var t = e.target, typing = t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.isContentEditable);
      if (typing) return;
      var k = e.key;
      if ((e.ctrlKey || e.metaKey) && (k === "z" || k === "Z")) { if (e.shiftKey) self.redo(); else self.undo(); e.preventDefault(); return; }
      if ((e.ctrlKey || e.metaKey) && (k === "y" || k === "Y")) { self.redo(); e.preventDefault(); return; }
      if (e.ctrlKey || e.metaKey || e.altKey) return;
      if (k === "e" || k === "E") { self.setEditing(!self.editing); return; }
      if (!self.editing) return;
      if (k === "Escape") { self.select([], "only"); return; }
      if (/^[0-9]$/.test(k)) {
        var r = k === "0" ? 9 : parseInt(k, 10) - 1;
        if (r < m) self.assign(E.repIds[r]);
      }
    });

    load(); replay(); refresh();
  }

  TT.editor = function (map, D, drawn, G) { return new Editor(map, D, drawn, G); };
})();
