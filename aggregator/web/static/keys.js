// Keyboard navigation, progressive enhancement only: every page works without it.
// j / k: next / previous item (stories on the front page, sources on a story page)
// o or Enter on a selected item: open its main link;  u: back to the story list
// /: focus the search box (when a page has one)
(function () {
  "use strict";
  var current = -1;

  function items() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-nav-item]"));
  }

  function select(index) {
    var list = items();
    if (!list.length) { return; }
    index = Math.max(0, Math.min(list.length - 1, index));
    list.forEach(function (el) { el.classList.remove("is-current"); });
    var el = list[index];
    el.classList.add("is-current");
    var link = el.querySelector("a[data-nav-link]") || el.querySelector("a");
    if (link) { link.focus({ preventScroll: true }); }
    el.scrollIntoView({ block: "nearest" });
    current = index;
  }

  function open() {
    var list = items();
    if (current < 0 || current >= list.length) { return; }
    var link = list[current].querySelector("a[data-nav-link]") || list[current].querySelector("a");
    if (link) { link.click(); }
  }

  document.addEventListener("focusin", function (event) {
    var list = items();
    for (var i = 0; i < list.length; i++) {
      if (list[i].contains(event.target)) {
        if (i !== current) {
          list.forEach(function (el) { el.classList.remove("is-current"); });
          list[i].classList.add("is-current");
          current = i;
        }
        return;
      }
    }
  });

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) { return; }
    var t = event.target;
    if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) { return; }
    switch (event.key) {
      case "j": select(current + 1); break;
      case "k": select(current < 0 ? 0 : current - 1); break;
      case "o": open(); break;
      case "u":
        var home = document.querySelector(".brand");
        if (home) { window.location.href = home.href; }
        break;
      case "/":
        var search = document.querySelector("input[type=search]");
        if (!search) { return; }
        search.focus();
        break;
      default: return;
    }
    event.preventDefault();
  });
})();
