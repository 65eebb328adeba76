// The case table: click a header to sort (again to reverse); type to filter; pick a verdict or an env.
(function () {
  "use strict";
  var table = document.getElementById("case-rows");
  if (!table) { return; }
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var text = rows.map(function (r) { return r.textContent.toLowerCase(); });
  var search = document.getElementById("case-filter");
  var verdict = document.getElementById("verdict-filter");
  var env = document.getElementById("env-filter");
  var count = document.getElementById("case-count");

  function sortBy(th) {
    var col = th.cellIndex;
    var numeric = th.hasAttribute("data-num");
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    // read every key once, sort the indices, then move the rows in one go
    var keys = rows.map(function (row) {
      var cell = row.cells[col];
      var v = cell.getAttribute("data-v");
      if (v === null) { v = cell.textContent; }
      if (numeric) { v = parseFloat(v); return isNaN(v) ? -Infinity : v; }
      return v;
    });
    var order = rows.map(function (r, i) { return i; });
    var collator = new Intl.Collator(undefined, { numeric: true });
    order.sort(function (a, b) {
      var x = keys[a], y = keys[b];
      var c = numeric ? (x < y ? -1 : (x > y ? 1 : 0)) : collator.compare(x, y);
      return (ascending ? c : -c) || a - b;
    });
    var sortedRows = [], sortedText = [];
    order.forEach(function (i) { sortedRows.push(rows[i]); sortedText.push(text[i]); });
    rows = sortedRows; text = sortedText;
    // a detached body is reordered without restyling the table at every move
    table.removeChild(body);
    var fragment = document.createDocumentFragment();
    rows.forEach(function (row) { fragment.appendChild(row); });
    body.appendChild(fragment);
    table.appendChild(body);
  }

  function filter() {
    var terms = search.value.toLowerCase().split(/\s+/).filter(Boolean);
    var wantVerdict = verdict.value, wantEnv = env ? env.value : "";
    var shown = 0;
    rows.forEach(function (row, i) {
      var ok = (!wantVerdict || row.getAttribute("data-verdict") === wantVerdict ||
                (wantVerdict === "failing" && row.getAttribute("data-failing") === "1")) &&
               (!wantEnv || row.getAttribute("data-env") === wantEnv) &&
               terms.every(function (t) { return text[i].indexOf(t) >= 0; });
      row.hidden = !ok;
      if (ok) { shown += 1; }
    });
    count.textContent = String(shown);
  }

  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
    th.addEventListener("click", function () { sortBy(th); });
    th.title = "sort";
  });
  search.addEventListener("input", filter);
  verdict.addEventListener("change", filter);
  if (env) { env.addEventListener("change", filter); }
  filter();
})();

// The failures: expand or collapse every card, reorder them (smallest case first, or most severe
// first), open the card a link points to; and the heatmaps' tooltip, one cell at a time.
(function () {
  "use strict";
  var cards = document.getElementById("failure-cards");
  function each(selector, f) { Array.prototype.forEach.call(document.querySelectorAll(selector), f); }
  function button(id, open) {
    var b = document.getElementById(id);
    if (b) { b.addEventListener("click", function () { each("details.failure", function (d) { d.open = open; }); }); }
  }
  button("expand-all", true);
  button("collapse-all", false);

  var order = document.getElementById("failure-order");
  if (order && cards) {
    var index = document.querySelector("#failure-index tbody");
    var words = document.getElementById("order-words");
    var said = words ? words.textContent : "";
    order.addEventListener("change", function () {
      var key = order.value === "severity" ? "data-severity" : "data-size";
      [index, cards].forEach(function (parent) {
        var items = Array.prototype.slice.call(parent.children);
        items.sort(function (a, b) { return Number(a.getAttribute(key)) - Number(b.getAttribute(key)); });
        items.forEach(function (item) { parent.appendChild(item); });
      });
      if (words) { words.textContent = order.value === "severity" ? "the largest margin first (a crash or a broken contract counts as infinite)" : said; }
    });
  }

  function openTarget() {
    var id = decodeURIComponent(location.hash.slice(1));
    var target = id && document.getElementById(id);
    if (!target) { return; }
    for (var e = target; e; e = e.parentElement) { if (e.tagName === "DETAILS") { e.open = true; } }
    target.scrollIntoView();
  }
  window.addEventListener("hashchange", openTarget);
  if (location.hash) { openTarget(); }

  var tip = document.getElementById("tip");
  if (!tip) { return; }
  var parsed = new WeakMap();
  function show(n) { return n === null || n === undefined ? "—" : (typeof n === "number" ? n.toPrecision(4) : String(n)); }
  document.addEventListener("mousemove", function (ev) {
    var svg = ev.target.closest ? ev.target.closest("svg.heatmap") : null;
    var box = svg && svg.closest(".hm");
    if (!box) { tip.hidden = true; return; }
    var rect = svg.getBoundingClientRect();
    var rows = Number(box.getAttribute("data-rows")), cols = Number(box.getAttribute("data-cols"));
    var i = Math.floor((ev.clientY - rect.top) / rect.height * rows);
    var j = Math.floor((ev.clientX - rect.left) / rect.width * cols);
    if (i < 0 || j < 0 || i >= rows || j >= cols) { tip.hidden = true; return; }
    if (!parsed.has(box)) {
      var raw = box.getAttribute("data-tip");
      parsed.set(box, raw ? JSON.parse(raw) : null);
    }
    var d = parsed.get(box), k = i * cols + j;
    var lines = ["(" + i + ", " + j + ") vs " + box.getAttribute("data-label")];
    if (d) {
      var e = d.e[k], a = d.a ? d.a[k] : null;
      if (d.s) { lines.push("SUT " + show(d.s[k]) + ", oracle " + show(d.o[k])); }
      lines.push("|error| " + show(e) + ", allowed " + show(a));
      if (typeof e === "number" && typeof a === "number" && a > 0) { lines.push("margin " + show(e / a)); }
      if (!d.s) { lines.push("(values kept for the first diverging tensor only)"); }
    } else {
      lines.push("(too many entries to keep every number: see the tables)");
    }
    tip.textContent = lines.join("\n");
    tip.hidden = false;
    tip.style.left = Math.min(ev.clientX + 14, document.documentElement.clientWidth - 320) + "px";
    tip.style.top = (ev.clientY + 14) + "px";
  });
})();
