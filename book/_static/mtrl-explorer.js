// Static explorers of the book (made by mtrl_lib/book/widgets.py when a chapter executes for the book).
// Each div.mtrl-explorer holds native <input type="range"> / <select> controls whose values are indices into
// the precomputed values, and one <img data-mtrl-key="i,j,..."> per combination of them. When a control
// changes, show the image whose key is the controls' current indices and hide the others. No library, no
// network: the whole job is this function, and the figures are in the page.
(function () {
  "use strict";

  function setup(root) {
    var controls = Array.prototype.slice.call(root.querySelectorAll("[data-mtrl-control]"));
    var figures = Array.prototype.slice.call(root.querySelectorAll("img[data-mtrl-key]"));

    function update() {
      var key = controls.map(function (c) { return c.value; }).join(",");
      controls.forEach(function (c) {
        if (c.type !== "range") return;
        var text = JSON.parse(c.getAttribute("data-labels"))[Number(c.value)];
        var out = c.parentNode.querySelector("output");
        if (out) out.textContent = text;
        c.setAttribute("aria-valuetext", text);
      });
      figures.forEach(function (img) { img.hidden = img.getAttribute("data-mtrl-key") !== key; });
    }

    controls.forEach(function (c) {
      c.addEventListener("input", update);
      c.addEventListener("change", update);
    });
    update();   // a browser may restore form values on "back": show the figure that matches them
  }

  function init() {
    Array.prototype.forEach.call(document.querySelectorAll(".mtrl-explorer"), setup);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
