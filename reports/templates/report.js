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
