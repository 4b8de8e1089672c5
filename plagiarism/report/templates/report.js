"use strict";
// The page reads fully without this script; it only adds conveniences.
(function () {
  // Printing (and saving as PDF) must include folded lines and the file lists.
  window.addEventListener("beforeprint", function () {
    document.querySelectorAll("details:not([open])").forEach(function (d) {
      d.setAttribute("data-print-opened", "");
      d.open = true;
    });
  });
  window.addEventListener("afterprint", function () {
    document.querySelectorAll("details[data-print-opened]").forEach(function (d) {
      d.removeAttribute("data-print-opened");
      d.open = false;
    });
  });
  // Pointing at a matched line outlines the same region on both sides of the pair.
  function mark(event, on) {
    var cell = event.target.closest && event.target.closest(".c[data-r]");
    if (!cell) { return; }
    var pair = cell.closest(".pair");
    if (!pair) { return; }
    pair.querySelectorAll('.c[data-r="' + cell.getAttribute("data-r") + '"]').forEach(function (c) {
      c.classList.toggle("hot", on);
    });
  }
  document.addEventListener("mouseover", function (e) { mark(e, true); });
  document.addEventListener("mouseout", function (e) { mark(e, false); });
  // A link to something inside a closed <details> opens it.
  function openTarget() {
    var id = decodeURIComponent(location.hash.slice(1));
    var el = id ? document.getElementById(id) : null;
    var d = el ? el.closest("details") : null;
    if (d && !d.open) { d.open = true; el.scrollIntoView(); }
  }
  window.addEventListener("hashchange", openTarget);
  openTarget();
})();
