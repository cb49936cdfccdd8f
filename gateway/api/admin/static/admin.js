// The admin page's live refresh (gateway.api.admin): every element with an id and
// data-refresh="N" is replaced every N seconds by the same element of the page fetched
// again from this host. It stops when that element is gone (a final status, or a login
// page after the session ended). No other script, no asset from another host.
(function () {
  "use strict";
  function refresh(element) {
    var seconds = Math.max(1, parseInt(element.getAttribute("data-refresh"), 10) || 5);
    var timer = setTimeout(function tick() {
      if (document.hidden) { timer = setTimeout(tick, seconds * 1000); return; }
      fetch(window.location.href, {credentials: "same-origin", cache: "no-store",
                                   headers: {"X-Admin-Refresh": "1"}})
        .then(function (response) { return response.ok ? response.text() : null; })
        .then(function (text) {
          if (text === null) { timer = setTimeout(tick, seconds * 1000); return; }
          var fresh = new DOMParser().parseFromString(text, "text/html")
            .getElementById(element.id);
          if (!fresh) { return; }
          if (element.innerHTML !== fresh.innerHTML) {  // no news, nothing announced
            element.innerHTML = fresh.innerHTML;
          }
          if (fresh.hasAttribute("data-refresh")) {
            timer = setTimeout(tick, seconds * 1000);
          } else {
            element.removeAttribute("data-refresh");
          }
        })
        .catch(function () { timer = setTimeout(tick, seconds * 1000); });
    }, seconds * 1000);
  }
  var live = document.querySelectorAll("[data-refresh][id]");
  for (var i = 0; i < live.length; i++) { refresh(live[i]); }
})();
