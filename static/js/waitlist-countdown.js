// Ticks the "min left" of waiting-list offers on "My bookings"; the page
// already says the deadline in plain text.
(function () {
  "use strict";
  var offers = document.querySelectorAll("[data-countdown-seconds]");
  if (!offers.length) { return; }
  var started = Date.now();
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function tick() {
    var elapsed = Math.floor((Date.now() - started) / 1000);
    for (var i = 0; i < offers.length; i++) {
      var left = Math.max(0, parseInt(offers[i].getAttribute("data-countdown-seconds"), 10) - elapsed);
      var text = offers[i].querySelector("[data-countdown-text]");
      text.textContent = left > 0 ? Math.floor(left / 60) + ":" + pad(left % 60) + " left" : "time is up";
    }
  }
  tick();
  window.setInterval(tick, 1000);
})();
