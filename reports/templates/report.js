// The case table: click a header to sort (again to reverse); type to filter; pick a verdict or an env.
(function () {
  "use strict";
  var table = document.getElementById("cases");
  if (!table) { return; }
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var text = rows.map(function (r) { return r.textContent.toLowerCase(); });
  var search = document.getElementById("case-filter");
  var verdict = document.getElementById("verdict-filter");
  var env = document.getElementById("env-filter");
  var count = document.getElementById("case-count");

  function cellValue(row, col, numeric) {
    var cell = row.cells[col];
    var v = cell.getAttribute("data-v");
    if (numeric) { return parseFloat(v === null ? cell.textContent : v); }
    return v === null ? cell.textContent : v;
  }

  function sortBy(th) {
    var col = th.cellIndex;
    var numeric = th.hasAttribute("data-num");
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var order = rows.map(function (r, i) { return i; });
    order.sort(function (a, b) {
      var x = cellValue(rows[a], col, numeric), y = cellValue(rows[b], col, numeric);
      var c;
      if (numeric) {
        if (isNaN(x)) { x = -Infinity; }
        if (isNaN(y)) { y = -Infinity; }
        c = x < y ? -1 : (x > y ? 1 : 0);
      } else {
        c = x.localeCompare(y, undefined, { numeric: true });
      }
      return (ascending ? c : -c) || a - b;
    });
    var fragment = document.createDocumentFragment();
    var sortedRows = [], sortedText = [];
    order.forEach(function (i) { fragment.appendChild(rows[i]); sortedRows.push(rows[i]); sortedText.push(text[i]); });
    rows = sortedRows; text = sortedText;
    body.appendChild(fragment);
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
