// Link clicks on a public page, for the creator's Insights. Every link carries a `ping`
// attribute: Chromium and Safari post to it when the link is followed, with or without
// JavaScript, but Firefox sends no pings by default and a page cannot tell whether a browser
// will. So where this script runs it takes the reporting over: it moves each link's ping
// address aside and posts it with navigator.sendBeacon when the link is followed (a click,
// or a middle click that opens it in a new tab). One report per click either way; the link
// itself is untouched and goes straight to its address. Loaded with `defer`.
(function () {
  "use strict";

  if (typeof navigator.sendBeacon !== "function") return;
  var links = document.querySelectorAll("a[ping]");
  for (var i = 0; i < links.length; i++) {
    links[i].setAttribute("data-ping", links[i].getAttribute("ping"));
    links[i].removeAttribute("ping");
  }

  function report(event) {
    if (event.type === "auxclick" && event.button !== 1) return;
    var link = event.target.closest ? event.target.closest("a[data-ping]") : null;
    if (link) navigator.sendBeacon(link.getAttribute("data-ping"), "PING");
  }

  document.addEventListener("click", report, true);
  document.addEventListener("auxclick", report, true);
})();
