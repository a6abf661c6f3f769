// dcbench leaderboard site: sorting and filtering of a table page. Plain JavaScript with no dependencies, so
// the page works from a file:// URL and offline. Cells carry what to sort by in data-sort (the number, not its
// text: "12.91 ± 3.49" sorts by its mean); rows carry what the filters compare in data-ratio, data-method,
// data-labels.
(function () {
  "use strict";

  function sortKey(row, index, numeric) {
    var cell = row.cells[index];
    var raw = cell ? cell.getAttribute("data-sort") : null;
    if (raw === null || raw === "") {
      return null; // undefined or not run: always last, whichever the direction
    }
    return numeric ? parseFloat(raw) : raw.toLowerCase();
  }

  function sortBy(table, th) {
    var tbody = table.tBodies[0];
    var numeric = th.getAttribute("data-type") === "num";
    // the first click on a number sorts best (highest) first; a second click reverses
    var descending = th.getAttribute("aria-sort") ? th.getAttribute("aria-sort") === "ascending" : numeric;
    var index = th.cellIndex;
    var rows = Array.prototype.slice.call(tbody.rows);
    rows.sort(function (a, b) {
      var ka = sortKey(a, index, numeric);
      var kb = sortKey(b, index, numeric);
      if (ka === null || kb === null) {
        return ka === kb ? rowIndex(a) - rowIndex(b) : ka === null ? 1 : -1;
      }
      if (ka === kb) {
        return rowIndex(a) - rowIndex(b); // stable: ties keep the table's own order
      }
      return (ka < kb ? -1 : 1) * (descending ? -1 : 1);
    });
    rows.forEach(function (row) {
      tbody.appendChild(row);
    });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (other) {
      other.removeAttribute("aria-sort");
    });
    th.setAttribute("aria-sort", descending ? "descending" : "ascending");
  }

  function rowIndex(row) {
    return parseInt(row.getAttribute("data-row"), 10);
  }

  function applyFilters(form, table) {
    var wanted = {};
    Array.prototype.forEach.call(form.querySelectorAll("select[data-filter]"), function (select) {
      wanted[select.getAttribute("data-filter")] = select.value;
    });
    var shown = 0;
    Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
      var keep = Object.keys(wanted).every(function (name) {
        if (!wanted[name]) {
          return true;
        }
        var values = (row.getAttribute("data-" + name) || "").split(" ");
        return values.indexOf(wanted[name]) !== -1;
      });
      row.hidden = !keep;
      shown += keep ? 1 : 0;
    });
    var output = form.querySelector("output");
    if (output) {
      output.textContent = shown + " of " + table.tBodies[0].rows.length + " rows shown";
    }
  }

  function init() {
    Array.prototype.forEach.call(document.querySelectorAll("table.leaderboard"), function (table) {
      Array.prototype.forEach.call(table.querySelectorAll("thead th[data-type]"), function (th) {
        var button = th.querySelector("button");
        if (th.getAttribute("data-type") && button) {
          button.addEventListener("click", function () {
            sortBy(table, th);
          });
        }
      });
      var form = document.querySelector("form.filters");
      if (form) {
        form.addEventListener("change", function () {
          applyFilters(form, table);
        });
        applyFilters(form, table);
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
