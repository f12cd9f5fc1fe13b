(function () {
  "use strict";
  var root = document.documentElement;
  var failures = [];
  window.addEventListener("error", function (event) {
    failures.push(String(event.message));
    root.setAttribute("data-script-errors", failures.join(" | "));
  });
  root.classList.remove("no-js");
  root.classList.add("js");
  function each(list, fn) { Array.prototype.forEach.call(list, fn); }
  function key(row, i) {
    var cell = row.cells[i];
    var v = cell.getAttribute("data-sort");
    return v !== null ? v : cell.textContent.trim();
  }
  each(document.querySelectorAll("table.sortable"), function (table) {
    var heads = table.tHead.rows[0].cells;
    each(heads, function (th, i) {
      th.tabIndex = 0;
      th.setAttribute("aria-sort", "none");
      function sort() {
        var asc = th.getAttribute("aria-sort") !== "ascending";
        each(heads, function (h) { h.setAttribute("aria-sort", "none"); });
        th.setAttribute("aria-sort", asc ? "ascending" : "descending");
        var numeric = th.classList.contains("num");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = key(a, i), y = key(b, i), r;
          if (numeric) {
            var fx = parseFloat(x), fy = parseFloat(y);
            r = (isNaN(fx) ? -Infinity : fx) - (isNaN(fy) ? -Infinity : fy);
            if (isNaN(r)) { r = 0; }
          } else {
            r = x.localeCompare(y);
          }
          return asc ? r : -r;
        });
        each(rows, function (r) { body.appendChild(r); });
      }
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (e) { if (e.key === "Enter") { sort(); } });
    });
  });
  each(document.querySelectorAll("input.filter"), function (input) {
    var table = document.getElementById(input.getAttribute("data-table"));
    var count = document.getElementById(input.getAttribute("data-count"));
    input.hidden = false;
    function apply() {
      var q = input.value.toLowerCase();
      var shown = 0;
      each(table.tBodies[0].rows, function (row) {
        var match = !q || row.textContent.toLowerCase().indexOf(q) >= 0;
        row.hidden = !match;
        if (match) { shown += 1; }
      });
      if (count) { count.textContent = String(shown); }
    }
    input.addEventListener("input", apply);
    input.addEventListener("change", apply);
  });
  root.setAttribute("data-ready", "true");
})();
