// What a reader meets on every page of the book (styles: book/_static/mtrl-book.css). No library, no network.
//  1. Figures open at full size: a click, or Enter / Space on a focused figure, shows it at the size it was
//     drawn at in a modal dialog (Escape, the Close button or a click outside it closes it).
//  2. Glued numbers say where they come from: hovering or focusing one (span.mtrl-glued, made by
//     book/_ext/glued_eval.py) shows its note beside it; the note is also its aria-describedby text, which a
//     screen reader reads. Escape hides it; it stays while the pointer is over it.
//  3. A display equation or a table too wide for the screen is marked (mtrl-scrolls): it shows a sideways-scroll
//     cue and can be scrolled from the keyboard. A table a cell printed as HTML is put in a box of its own that
//     scrolls (div.mtrl-table-box), and a table's caption wraps to the width of its box.
//  4. Printing is light, whatever the theme on screen.
(function () {
  "use strict";

  function article() {
    return document.querySelector("article.bd-article") || document.querySelector("main") || document.body;
  }

  // ---------------------------------------------------------------------------------------- 1. full size
  var dialog = null, opener = null;

  function lightbox() {
    if (dialog) return dialog;
    dialog = document.createElement("dialog");
    dialog.className = "mtrl-lightbox";
    dialog.setAttribute("aria-label", "Figure at full size");
    dialog.innerHTML = '<div class="mtrl-lightbox-bar"><p></p><button type="button">Close</button></div><img alt="">';
    dialog.querySelector("button").addEventListener("click", function () { dialog.close(); });
    dialog.addEventListener("click", function (e) {
      if (e.target === dialog || e.target.tagName === "IMG") dialog.close();   // outside the figure, or on it
    });
    dialog.addEventListener("close", function () {
      if (opener && document.contains(opener)) opener.focus();
      opener = null;
    });
    document.body.appendChild(dialog);
    return dialog;
  }

  function captionOf(img) {
    var fig = img.closest("figure");
    var cap = fig && fig.querySelector("figcaption");
    if (!cap) return img.getAttribute("alt") || "";
    cap = cap.cloneNode(true);                       // without the caption's anchor link (its text is "#")
    Array.prototype.forEach.call(cap.querySelectorAll(".headerlink"), function (a) { a.remove(); });
    return cap.textContent.replace(/\s+/g, " ").trim();
  }

  function openFigure(img) {
    var d = lightbox(), big = d.querySelector("img");
    big.src = img.currentSrc || img.src;
    big.alt = img.getAttribute("alt") || "";
    big.style.width = img.naturalWidth ? img.naturalWidth + "px" : "";
    d.querySelector("p").textContent = captionOf(img);
    opener = img;
    d.showModal();
    d.querySelector("button").focus();
  }

  function zoomable(img) {
    return !img.closest("a, button, .mtrl-lightbox") && !img.classList.contains("mtrl-zoomable");
  }

  function setupFigures() {
    Array.prototype.forEach.call(article().querySelectorAll("img"), function (img) {
      if (!zoomable(img)) return;
      img.classList.add("mtrl-zoomable");
      img.tabIndex = 0;
      img.setAttribute("role", "button");
      img.setAttribute("aria-haspopup", "dialog");
      img.setAttribute("aria-label", "Open at full size: " + (img.getAttribute("alt") || "figure"));
      img.addEventListener("click", function () { openFigure(img); });
      img.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); openFigure(img); }
      });
    });
  }

  // ------------------------------------------------------------------------------ 2. notes on glued numbers
  var tip = null, shownFor = null, hideTimer = null;

  function theTip() {
    if (tip) return tip;
    tip = document.createElement("div");
    tip.className = "mtrl-tip";
    tip.hidden = true;
    tip.setAttribute("aria-hidden", "true");     // screen readers read the note through aria-describedby
    tip.addEventListener("mouseenter", function () { clearTimeout(hideTimer); });
    tip.addEventListener("mouseleave", function () { hideSoon(); });
    document.body.appendChild(tip);
    return tip;
  }

  function showNote(el) {
    var note = document.getElementById(el.getAttribute("data-mtrl-note"));
    if (!note) return;
    clearTimeout(hideTimer);
    var t = theTip();
    if (shownFor !== el) t.innerHTML = note.innerHTML;
    t.hidden = false;
    shownFor = el;
    var r = el.getBoundingClientRect(), w = t.offsetWidth, h = t.offsetHeight;
    var vw = document.documentElement.clientWidth, vh = window.innerHeight;
    var left = Math.max(8, Math.min(r.left, vw - w - 8));
    var top = r.bottom + 6;
    if (top + h > vh - 8 && r.top - h - 6 > 8) top = r.top - h - 6;      // no room below: above the number
    t.style.left = (left + window.scrollX) + "px";
    t.style.top = (top + window.scrollY) + "px";
  }

  function hideNote() {
    clearTimeout(hideTimer);
    if (tip) tip.hidden = true;
    shownFor = null;
  }

  function hideSoon() {
    clearTimeout(hideTimer);
    hideTimer = setTimeout(hideNote, 250);
  }

  function glued(target) {
    return target && target.closest ? target.closest(".mtrl-glued[data-mtrl-note]") : null;
  }

  function setupNotes() {
    document.addEventListener("mouseover", function (e) {
      var g = glued(e.target);
      if (g) showNote(g);
    });
    document.addEventListener("mouseout", function (e) {
      if (glued(e.target) && !glued(e.relatedTarget)) hideSoon();
    });
    document.addEventListener("focusin", function (e) {
      var g = glued(e.target);
      if (g) showNote(g); else if (shownFor) hideNote();
    });
    document.addEventListener("focusout", function (e) {
      if (glued(e.target)) hideSoon();
    });
    document.addEventListener("keydown", function (e) {
      if (e.key === "Escape" && tip && !tip.hidden) hideNote();
    });
    window.addEventListener("resize", function () { if (shownFor) showNote(shownFor); });
  }

  // ------------------------------------------------------------------- 3. equations and tables that scroll
  var TABLE_BOXES = ".table-wrapper, .pst-scrollable-table-container, .mtrl-table-box";

  function boxTables() {
    Array.prototype.forEach.call(article().querySelectorAll("table"), function (t) {
      if (!t.closest(TABLE_BOXES + ", .mtrl-explorer, .mtrl-tip")) {
        var box = document.createElement("div");
        box.className = "mtrl-table-box";
        t.parentNode.insertBefore(box, t);
        box.appendChild(t);
      }
      var cap = t.querySelector(":scope > caption");
      if (cap && !cap.querySelector(":scope > .mtrl-caption-text")) {
        var text = document.createElement("span");
        text.className = "mtrl-caption-text";
        while (cap.firstChild) text.appendChild(cap.firstChild);
        cap.appendChild(text);
      }
    });
  }

  function markEquations() {
    Array.prototype.forEach.call(article().querySelectorAll('mjx-container[display="true"]'), function (m) {
      var over = m.scrollWidth > m.clientWidth + 1;
      m.classList.toggle("mtrl-scrolls", over);
      if (over && !m.hasAttribute("tabindex")) m.tabIndex = 0;    // keyboard users can scroll it too
    });
    Array.prototype.forEach.call(article().querySelectorAll(TABLE_BOXES), function (box) {
      box.style.setProperty("--mtrl-box-width", box.clientWidth + "px");
      var over = box.scrollWidth > box.clientWidth + 1;
      box.classList.toggle("mtrl-scrolls", over);
      if (over) box.tabIndex = 0;
    });
  }

  function setupEquations() {
    var pending = null;
    function later() { clearTimeout(pending); pending = setTimeout(markEquations, 150); }
    window.addEventListener("resize", later);
    window.addEventListener("load", later);
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) MathJax.startup.promise.then(markEquations);
    later();
  }

  // ------------------------------------------------------------------------------------- 4. print light
  var themeBeforePrint = null;

  function setupPrint() {
    window.addEventListener("beforeprint", function () {
      var html = document.documentElement;
      themeBeforePrint = html.getAttribute("data-theme");
      if (themeBeforePrint === "dark") html.setAttribute("data-theme", "light");
    });
    window.addEventListener("afterprint", function () {
      if (themeBeforePrint === "dark") document.documentElement.setAttribute("data-theme", "dark");
      themeBeforePrint = null;
    });
  }

  function init() {
    boxTables();
    setupFigures();
    setupNotes();
    setupEquations();
    setupPrint();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
  window.mtrlBook = { markEquations: markEquations, openFigure: openFigure };
})();
