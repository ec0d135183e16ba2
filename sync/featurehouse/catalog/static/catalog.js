/* Featurehouse catalog: lineage graph interaction (click a column: highlight what it is
   computed from and what it feeds; wheel: zoom; drag: pan). No dependencies. */
(function () {
  "use strict";
  function init(svg) {
    var wrap = svg.closest(".graph-wrap");
    var details = document.getElementById("details");
    var edges = Array.prototype.slice.call(svg.querySelectorAll(".edge"));
    var cols = Array.prototype.slice.call(svg.querySelectorAll(".col"));
    var up = {}, down = {};
    edges.forEach(function (e) {
      var f = e.getAttribute("data-from"), t = e.getAttribute("data-to");
      (up[t] = up[t] || []).push(e);
      (down[f] = down[f] || []).push(e);
    });
    function reach(start, map, key, seen, lit) {
      var todo = [start];
      while (todo.length) {
        var c = todo.pop();
        if (seen[c]) continue;
        seen[c] = true;
        (map[c] || []).forEach(function (e) { lit.push(e); todo.push(e.getAttribute(key)); });
      }
    }
    function select(col) {
      var key = col.getAttribute("data-col"), seen = {}, below = {}, lit = [];
      reach(key, up, "data-from", seen, lit);
      reach(key, down, "data-to", below, lit);
      Object.keys(below).forEach(function (k) { seen[k] = true; });
      svg.classList.add("focus");
      edges.forEach(function (e) { e.classList.toggle("hl", lit.indexOf(e) >= 0); });
      cols.forEach(function (c) {
        c.classList.toggle("hl", !!seen[c.getAttribute("data-col")]);
        c.classList.toggle("selected", c === col);
      });
      if (details) {
        var lines = (up[key] || []).map(function (e) {
          return e.getAttribute("data-from").split(":").pop() + " (" +
            e.querySelector("title").textContent.split(": ").slice(1).join(": ") + ")";
        });
        details.textContent = key.split(":").pop() + " ← " + (lines.join("; ") || "nothing upstream");
      }
    }
    cols.forEach(function (c) {
      c.addEventListener("click", function () { select(c); });
      c.addEventListener("keydown", function (ev) { if (ev.key === "Enter") select(c); });
    });
    var box = svg.viewBox.baseVal, start = null, base = [box.x, box.y, box.width, box.height];
    svg.addEventListener("wheel", function (ev) {
      ev.preventDefault();
      var k = ev.deltaY > 0 ? 1.15 : 1 / 1.15;
      var r = svg.getBoundingClientRect();
      var px = box.x + (ev.clientX - r.left) / r.width * box.width;
      var py = box.y + (ev.clientY - r.top) / r.height * box.height;
      box.x = px - (px - box.x) * k; box.y = py - (py - box.y) * k;
      box.width *= k; box.height *= k;
    }, { passive: false });
    svg.addEventListener("mousedown", function (ev) { start = [ev.clientX, ev.clientY, box.x, box.y]; });
    window.addEventListener("mouseup", function () { start = null; });
    window.addEventListener("mousemove", function (ev) {
      if (!start) return;
      var r = svg.getBoundingClientRect();
      box.x = start[2] - (ev.clientX - start[0]) * box.width / r.width;
      box.y = start[3] - (ev.clientY - start[1]) * box.height / r.height;
    });
    var reset = wrap && wrap.querySelector("button.reset");
    if (reset) reset.addEventListener("click", function () {
      box.x = base[0]; box.y = base[1]; box.width = base[2]; box.height = base[3];
      svg.classList.remove("focus");
      edges.concat(cols).forEach(function (c) { c.classList.remove("hl", "selected"); });
    });
    var drawn = edges.filter(function (e) { return e.getTotalLength() > 0; }).length;
    svg.setAttribute("data-edges-drawn", String(drawn));
    var root = svg.querySelector(".col.root");
    if (root) select(root);
  }
  document.addEventListener("DOMContentLoaded", function () {
    var graphs = document.querySelectorAll("svg.lineage");
    Array.prototype.forEach.call(graphs, init);
    document.body.setAttribute("data-graphs-ready", String(graphs.length));
  });
})();
