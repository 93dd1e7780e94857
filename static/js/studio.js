// Linkmint studio: the few things htmx attributes cannot express.
// - drag-and-drop reordering with SortableJS: after a drop, fire `links-reordered` on the
//   list's reorder form, which posts every row's id in the new order in ONE request;
// - the accent colour picker and its text twin kept in step;
// - the bio character counter;
// - a visible message when a request fails (htmx does not swap 4xx/5xx answers);
// - "Copy link" on the share card, and the creator's time zone taken from the browser while
//   it is still the default (a zone picked by hand in this browser is never overridden).
// Loaded with `defer` after htmx and SortableJS; no inline script anywhere (strict CSP).
(function () {
  "use strict";

  var ACCENT = /^#[0-9a-f]{6}$/i;

  function each(root, selector, fn) {
    if (root.matches && root.matches(selector)) fn(root);
    root.querySelectorAll(selector).forEach(fn);
  }

  function initSortable(list) {
    if (typeof Sortable === "undefined" || Sortable.get(list)) return;
    Sortable.create(list, {
      handle: ".drag-handle",
      draggable: ".link-row",
      animation: 150,
      ghostClass: "is-ghost",
      onEnd: function (event) {
        if (event.oldIndex === event.newIndex) return;
        var form = document.getElementById(list.dataset.reorderForm);
        if (form) htmx.trigger(form, "links-reordered");
      }
    });
  }

  function initMirror(input) {
    if (input.dataset.mirrorReady) return;
    input.dataset.mirrorReady = "1";
    input.addEventListener("input", function () {
      var twin = document.getElementById(input.dataset.mirror);
      if (!twin) return;
      if (input.type === "color") {
        twin.value = input.value;
      } else if (ACCENT.test(input.value.trim())) {
        twin.value = input.value.trim().toLowerCase();
      }
    });
  }

  function initCounter(area) {
    if (area.dataset.counterReady) return;
    area.dataset.counterReady = "1";
    area.addEventListener("input", function () {
      var counter = document.getElementById(area.dataset.counter);
      if (counter) counter.textContent = String(area.value.length);
    });
  }

  function say(message, isError) {
    var region = document.getElementById("studio-status");
    if (!region) return;
    var toast = document.createElement("p");
    toast.className = isError ? "toast is-error" : "toast";
    toast.textContent = message;
    region.replaceChildren(toast);
  }

  function initCopy(button) {
    if (!navigator.clipboard) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      var field = document.getElementById(button.dataset.copy);
      var status = document.getElementById(button.dataset.copied);
      navigator.clipboard.writeText(field.value).then(function () {
        if (status) status.textContent = "Link copied.";
      }, function () {
        field.select();
        if (status) status.textContent = "Copying failed: the address is selected, copy it by hand.";
      });
    });
  }

  var ZONE_PICKED = "linkmint-time-zone-picked";

  function initTimeZone(form) {
    var select = form.querySelector("select");
    select.addEventListener("change", function () {
      try { localStorage.setItem(ZONE_PICKED, "1"); } catch (e) { /* private mode */ }
    });
    if (!form.hasAttribute("data-detect-time-zone")) return;
    form.removeAttribute("data-detect-time-zone");
    var zone;
    try {
      zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
      if (localStorage.getItem(ZONE_PICKED)) return;
    } catch (e) { return; }
    if (!zone || zone === select.value) return;
    var known = Array.prototype.some.call(select.options, function (o) { return o.value === zone; });
    if (!known) return;
    select.value = zone;
    form.requestSubmit();
  }

  htmx.onLoad(function (root) {
    each(root, "[data-sortable]", initSortable);
    each(root, "[data-mirror]", initMirror);
    each(root, "[data-counter]", initCounter);
    each(root, "[data-copy]", initCopy);
    each(root, "#time-zone-form", initTimeZone);
  });

  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr.status;
    if (status === 404) {
      say("That item no longer exists. Reload the page to see the latest version.", true);
    } else if (status === 409) {
      say("Your links changed elsewhere. Reloading…", true);
    } else {
      say("That did not work (error " + status + "). Please try again.", true);
    }
  });

  document.addEventListener("htmx:sendError", function () {
    say("Cannot reach Linkmint. Check your connection and try again.", true);
  });

  // The phone's account menu (a <details>) closes on a click elsewhere or Escape, as menus
  // do; Escape also shuts the preview sheet (which is the URL's #studio-preview target).
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details.account-menu[open]").forEach(function (menu) {
      if (!menu.contains(event.target)) menu.open = false;
    });
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    document.querySelectorAll("details.account-menu[open]").forEach(function (menu) {
      menu.open = false;
      menu.querySelector("summary").focus();
    });
    if (location.hash === "#studio-preview") location.hash = "preview-open";
  });
})();
