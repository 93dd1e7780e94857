// The Share button of a public page: the system share sheet where the browser has one (Web
// Share API), else the page's address copied to the clipboard, said in the status line.
// Without JavaScript (or with neither API) the button stays hidden. Loaded with `defer`.
(function () {
  "use strict";

  var button = document.getElementById("share-page");
  var status = document.getElementById("share-status");
  if (!button || !status) return;
  var canShare = typeof navigator.share === "function";
  var canCopy = !!(navigator.clipboard && navigator.clipboard.writeText);
  if (!canShare && !canCopy) return;

  function say(text) {
    status.textContent = "";
    window.setTimeout(function () { status.textContent = text; }, 50);
  }

  function copy(url) {
    if (!canCopy) {
      say("Could not share. The address is " + url);
      return;
    }
    navigator.clipboard.writeText(url).then(function () {
      say("Link copied");
    }, function () {
      say("Could not copy. The address is " + url);
    });
  }

  button.hidden = false;
  button.addEventListener("click", function () {
    var url = button.dataset.url;
    if (!canShare) {
      copy(url);
      return;
    }
    navigator.share({ title: button.dataset.title, url: url }).catch(function (error) {
      if (!error || error.name !== "AbortError") copy(url);  // AbortError: the sheet was closed
    });
  });
})();
