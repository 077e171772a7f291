/* Printing the book (the browser's print, and `make pdf`: mtrl_lib/book/pdf.py calls mtrlPreparePrint()).
   Light colours whatever the screen mode (restored after printing), and a caption under each explorer naming
   the setting of the figure it prints, the one it shows first. No network, no dependency. */
(function () {
  "use strict";

  function setting(root) {
    var parts = [];
    root.querySelectorAll(".mtrl-explorer-controls label").forEach(function (label) {
      var name = label.querySelector("span"), out = label.querySelector("output"), sel = label.querySelector("select");
      var value = out ? out.textContent : sel && sel.selectedIndex >= 0 ? sel.options[sel.selectedIndex].textContent : "";
      if (name) parts.push(name.textContent.trim() + " = " + value.trim());
    });
    root.querySelectorAll(".mtrl-explorer-fixed").forEach(function (fixed) {
      parts.push(fixed.textContent.trim().replace(/:\s*/, " = "));
    });
    return parts.join(", ");
  }

  function caption(root) {
    var cap = root.querySelector(".mtrl-explorer-print-caption");
    if (!cap) {
      cap = document.createElement("p");
      cap.className = "mtrl-explorer-print-caption";
      root.appendChild(cap);
    }
    var s = setting(root);
    cap.textContent = "Explorer, printed at the setting it shows" + (s ? " (" + s + ")" : "") +
      "; in the online book and in Jupyter its controls redraw this figure.";
  }

  var saved = null;
  window.mtrlPreparePrint = function () {
    document.querySelectorAll(".mtrl-explorer").forEach(caption);
  };
  window.addEventListener("beforeprint", function () {
    var html = document.documentElement;
    saved = [html.dataset.theme, html.dataset.mode];
    html.dataset.theme = "light";
    window.mtrlPreparePrint();
  });
  window.addEventListener("afterprint", function () {
    if (saved) {
      document.documentElement.dataset.theme = saved[0];
      saved = null;
    }
  });
})();
